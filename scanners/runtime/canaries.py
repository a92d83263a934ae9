"""Fake credentials planted before the run; each value is unique per run, so any sighting is proof."""

from __future__ import annotations

import base64
import secrets
import urllib.parse
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Canary:
    name: str  # "file:.ssh/id_rsa" or "env:GITHUB_TOKEN"
    token: str  # the unique value; lower-case alphanumerics so it also fits in one DNS label
    path: str = ""  # sandbox path of a canary file


@dataclass(frozen=True)
class CanarySet:
    canaries: tuple[Canary, ...]
    env: tuple[tuple[str, str], ...]

    @property
    def files(self) -> dict[str, Canary]:
        return {c.path: c for c in self.canaries if c.path}

    def found_in(self, data: bytes | str) -> list[Canary]:
        """Canaries present in data raw, hex, base64 (any alignment) or URL-encoded."""
        blob = data.encode("latin-1", "replace") if isinstance(data, str) else data
        low = blob.lower()
        return [c for c in self.canaries if any(n in low for n in _needles(c.token))]

    def mask(self, text: str) -> str:
        for c in self.canaries:
            text = text.replace(c.token, f"<canary {c.name}>")
        return text


def _needles(token: str) -> list[bytes]:
    raw = token.encode()
    out = [raw, raw.hex().encode(), urllib.parse.quote(token).encode().lower()]
    for shift in range(3):
        enc = base64.b64encode(b"\0" * shift + raw)[4 if shift else 0 :]
        out.append(enc[:-4].lower())  # drop the padding-dependent tail, keep the stable middle
    return [n for n in out if len(n) >= 12]


HOME_FILES = {
    ".ssh/id_rsa": "-----BEGIN OPENSSH PRIVATE KEY-----\n{t}\n-----END OPENSSH PRIVATE KEY-----\n",
    ".aws/credentials": "[default]\naws_access_key_id = AKIA{T16}\naws_secret_access_key = {t}\n",
    ".netrc": "machine github.com login agent password {t}\n",
    ".docker/config.json": '{{"auths": {{"registry.example.invalid": {{"auth": "{t}"}}}}}}\n',
    ".config/gh/hosts.yml": "github.com:\n    oauth_token: {t}\n    user: agent\n",
}
WORKSPACE_FILE = ".env"
ENV_NAMES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "GITHUB_TOKEN",
    "NPM_TOKEN",
    "PYPI_TOKEN",
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
)


def _token() -> str:
    return "airlockcanary" + secrets.token_hex(10)


def plant(home: Path, workspace: Path, sandbox_home: str, sandbox_workspace: str) -> CanarySet:
    canaries: list[Canary] = []
    for rel, template in HOME_FILES.items():
        t = _token()
        target = home / rel
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        target.write_text(template.format(t=t, T16=t[-16:].upper()))
        target.chmod(0o600)
        canaries.append(Canary(f"file:~/{rel}", t, f"{sandbox_home}/{rel}"))
    env_file = workspace / WORKSPACE_FILE
    if not env_file.exists() and not env_file.is_symlink():
        t = _token()
        env_file.write_text(f"DATABASE_PASSWORD={t}\n")
        canaries.append(Canary(f"file:{WORKSPACE_FILE}", t, f"{sandbox_workspace}/{WORKSPACE_FILE}"))
    env = []
    for name in ENV_NAMES:
        t = _token()
        canaries.append(Canary(f"env:{name}", t))
        env.append((name, t))
    return CanarySet(tuple(canaries), tuple(env))
