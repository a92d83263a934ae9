"""Fake credentials planted before the run, in each provider's real format and random per run, so any sighting is proof.

Nothing in a token marks it as airlock's: only the provider's own public prefix is fixed, and the random part that
follows it is what the detector (scanners/runtime/canary_detector.py) matches, however it is dressed.
"""

from __future__ import annotations

import base64
import re
import secrets
import string
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from airlock.scanners.runtime.canary_detector import Detector, Index, mask

ALNUM = string.ascii_letters + string.digits
BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
URLSAFE = ALNUM + "-_"
AWS_SECRET = ALNUM + "/+"
AWS_ID = string.ascii_uppercase + "234567"


@dataclass(frozen=True)
class Canary:
    name: str  # "file:~/.ssh/id_rsa" or "env:GITHUB_TOKEN"
    token: str  # the credential as planted (what mask() hides first)
    path: str = ""  # sandbox path of a canary file
    random_parts: tuple[str, ...] = ()  # the random, identifying parts; the token itself when empty

    @property
    def parts(self) -> tuple[str, ...]:
        return self.random_parts or (self.token,)


@dataclass(frozen=True)
class CanarySet:
    canaries: tuple[Canary, ...]
    env: tuple[tuple[str, str], ...]

    @property
    def files(self) -> dict[str, Canary]:
        return {c.path: c for c in self.canaries if c.path}

    @cached_property
    def index(self) -> Index:
        """Every dressed form of every canary, built once per run and shared (read-only) by all detectors."""
        return Index(self.canaries)

    def found_in(self, data: bytes | str) -> list[Canary]:
        """Canaries present in data, raw or transformed (see canary_detector); stateless."""
        blob = data.encode("utf-8", "surrogateescape") if isinstance(data, str) else data
        names = self.index.scan(blob)
        return [c for c in self.canaries if c.name in names]

    def detector(self) -> Detector:
        """A stateful detector: feed(stream_id, bytes) finds canaries split across writes, lines and requests."""
        return Detector(self.index)

    def scanner(self) -> Callable[[bytes], set[str]]:
        """One byte stream (e.g. a proxied body): call with each chunk, then with b"" at the end; returns every
        canary name found so far. Small chunks are batched, so the cost stays linear in the stream's size."""
        det = self.detector()

        def scan(chunk: bytes) -> set[str]:
            if chunk:
                det.feed("s", chunk)
            else:
                det.flush()
            return set(det.hits)

        return scan

    @cached_property
    def _masked(self) -> dict[str, str]:
        return {}

    def mask(self, text: str) -> str:
        """text with every canary, raw or dressed, replaced by <canary NAME>; repeated lines are cached (bounded)."""
        cache = self._masked
        out = cache.get(text)
        if out is None:
            if len(cache) >= 4096:
                cache.clear()
            out = cache[text] = mask(self, text)
        return out


def _pick(alphabet: str, n: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(n))


def _b62(n: int, width: int) -> str:
    out = ""
    for _ in range(width):
        n, r = divmod(n, 62)
        out = BASE62[r] + out
    return out


def _checksummed(prefix: str) -> tuple[str, str]:
    """GitHub- and npm-style: 30 random base62 characters and a 6-character base62 CRC32 of them."""
    body = _pick(ALNUM, 30)
    body += _b62(zlib.crc32(body.encode()), 6)
    return prefix + body, body


def aws_key_id() -> tuple[str, str]:
    r = _pick(AWS_ID, 16)
    return "AKIA" + r, r


def aws_secret() -> tuple[str, str]:
    r = _pick(AWS_SECRET, 40)
    return r, r


def github(kind: str = "ghp") -> tuple[str, str]:
    return _checksummed(kind + "_")


def npm() -> tuple[str, str]:
    return _checksummed("npm_")


def pypi() -> tuple[str, str]:
    # A macaroon: the public header (base64 of its location, pypi.org), then the random caveats and signature.
    r = base64.urlsafe_b64encode(secrets.token_bytes(135)).decode().rstrip("=")
    return "pypi-AgEIcHlwaS5vcmc" + r, r


def openai() -> tuple[str, str]:
    r = _pick(URLSAFE, 156)
    return "sk-proj-" + r, r


def anthropic() -> tuple[str, str]:
    r = _pick(URLSAFE, 93)
    return "sk-ant-api03-" + r + "AA", r


def password() -> tuple[str, str]:
    r = _pick(ALNUM, 24)
    return r, r


def pem_key() -> tuple[str, str]:
    """A PKCS#1 RSA-2048 key: its DER starts with a fixed 12-byte header (MIIEowIBAAKCAQEA), the rest is random."""
    body = "MIIEowIBAAKCAQEA" + base64.b64encode(secrets.token_bytes(1179)).decode()
    lines = "\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    return f"-----BEGIN RSA PRIVATE KEY-----\n{lines}\n-----END RSA PRIVATE KEY-----\n", body[16:]


def docker_auth() -> tuple[str, str, str]:
    """The auth field of ~/.docker/config.json: base64 of user:token. Returns (auth, token, random part)."""
    r = _pick(URLSAFE, 27)
    token = "dckr_pat_" + r
    return base64.b64encode(f"ci-bot:{token}".encode()).decode(), token, r


# The providers' real formats, as public secret scanners know them; every planted token matches one.
FORMATS = {
    "aws-key-id": re.compile(r"AKIA[A-Z2-7]{16}"),
    "aws-secret": re.compile(r"[A-Za-z0-9/+]{40}"),
    "github": re.compile(r"gh[pousr]_[A-Za-z0-9]{36}"),
    "npm": re.compile(r"npm_[A-Za-z0-9]{36}"),
    "pypi": re.compile(r"pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,}"),
    "openai": re.compile(r"sk-proj-[A-Za-z0-9_-]{100,}"),
    "anthropic": re.compile(r"sk-ant-api03-[A-Za-z0-9_-]{93}AA"),
    "docker-pat": re.compile(r"dckr_pat_[A-Za-z0-9_-]{27}"),
    "rsa-key": re.compile(
        r"-----BEGIN RSA PRIVATE KEY-----\n(?:[A-Za-z0-9+/=]{1,64}\n)+-----END RSA PRIVATE KEY-----\n"
    ),
}


def github_checksum_ok(token: str) -> bool:
    body = token.split("_", 1)[1]
    return _b62(zlib.crc32(body[:30].encode()), 6) == body[30:]


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
_ENV_MAKERS: dict[str, Callable[[], tuple[str, str]]] = {
    "AWS_ACCESS_KEY_ID": aws_key_id,
    "AWS_SECRET_ACCESS_KEY": aws_secret,
    "GITHUB_TOKEN": lambda: github("ghs"),  # what Actions hands a job
    "NPM_TOKEN": npm,
    "PYPI_TOKEN": pypi,
    "OPENAI_API_KEY": openai,
    "ANTHROPIC_API_KEY": anthropic,
}


def _home_files() -> list[tuple[str, str, Canary]]:
    """(relative path, file text, canary) for each planted credential file; the canary path is filled in later."""
    out = []
    pem, pem_r = pem_key()
    out.append((".ssh/id_rsa", pem, Canary("", pem_r, "", (pem_r,))))
    kid, kid_r = aws_key_id()
    sec, _ = aws_secret()
    aws = f"[default]\naws_access_key_id = {kid}\naws_secret_access_key = {sec}\nregion = us-east-1\n"
    out.append((".aws/credentials", aws, Canary("", sec, "", (sec, kid_r))))
    net, net_r = github("ghp")
    out.append((".netrc", f"machine github.com\n  login ci-bot\n  password {net}\n", Canary("", net, "", (net_r,))))
    auth, dtok, d_r = docker_auth()
    docker = f'{{\n\t"auths": {{\n\t\t"https://index.docker.io/v1/": {{\n\t\t\t"auth": "{auth}"\n\t\t}}\n\t}}\n}}\n'
    out.append((".docker/config.json", docker, Canary("", dtok, "", (d_r,))))
    gho, gho_r = github("gho")
    hosts = f"github.com:\n    user: ci-bot\n    oauth_token: {gho}\n    git_protocol: https\n"
    out.append((".config/gh/hosts.yml", hosts, Canary("", gho, "", (gho_r,))))
    return out


def plant(home: Path, workspace: Path, sandbox_home: str, sandbox_workspace: str) -> CanarySet:
    canaries: list[Canary] = []
    for rel, text, proto in _home_files():
        target = home / rel
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        target.write_text(text)
        target.chmod(0o600)
        canaries.append(Canary(f"file:~/{rel}", proto.token, f"{sandbox_home}/{rel}", proto.random_parts))
    env_file = workspace / WORKSPACE_FILE
    if not env_file.exists() and not env_file.is_symlink():
        t, r = password()
        env_file.write_text(f"DATABASE_URL=postgres://app@db:5432/app\nDATABASE_PASSWORD={t}\n")
        canaries.append(Canary(f"file:{WORKSPACE_FILE}", t, f"{sandbox_workspace}/{WORKSPACE_FILE}", (r,)))
    env = []
    for name in ENV_NAMES:
        t, r = _ENV_MAKERS[name]()
        canaries.append(Canary(f"env:{name}", t, "", (r,)))
        env.append((name, t))
    out = CanarySet(tuple(canaries), tuple(env))
    _ = out.index  # built now, before the reader and proxy threads share it
    return out
