"""airlock's own trivy secret rules: hard-coded passwords and keys by keyword, and high-entropy strings.

trivy's built-in rules know token *formats* (AWS, GitHub, ...); `password = "changeme123"` has none. These
rules add keyword rules over every changed text file (quoted literals anywhere; unquoted values in .env,
YAML, properties and ini files) and an entropy rule for config and IaC files. trivy finds candidates
and masks them; rules with a `check` are then confirmed here on the file's own line (entropy, character
classes), because RE2 has no lookahead and trivy no entropy.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

_ASSIGN = r"""["']?\s*(?::=|=>|:|=)\s*"""
_PASSWORD_KEY = r"[a-z0-9_.-]*(?:passw(?:or)?d|passwd|pwd|passphrase)[a-z0-9_.-]*"  # noqa: S105 - a pattern
_KEY_KEY = (
    r"[a-z0-9_.-]*(?:secret|token|api[_-]?key|access[_-]?key|private[_-]?key|auth[_-]?key|credential"
    r"|signing[_-]?key|encryption[_-]?key|master[_-]?key)[a-z0-9_.-]*"
)
_QUOTED = r"""["'](?P<secret>[^"'\s$<>{}]{%d,})["']"""
_UNQUOTED = r"""[ \t]*(?P<secret>[^"'\s$<>{}!&*|#\[(][^\s#]{%d,})[ \t]*(?:#.*)?$"""
# Files where an unquoted value is a literal (in code it is a variable).
CONFIG_FILES = r"(?i)(?:^|/)(?:\.env[^/]*|[^/]*\.(?:ya?ml|properties|ini|cfg|conf|env))$"
ENTROPY_FILES = (
    r"(?i)(?:^|/)(?:\.env[^/]*|[^/]*\.(?:ya?ml|properties|ini|cfg|conf|env|tf|tfvars|hcl|json|toml|xml))$"
)


def shannon(value: str) -> float:
    counts = Counter(value)
    return -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())


def looks_like_key(value: str) -> bool:
    """A value under a key/token/secret name, not a name, URL or path: mixed classes and some entropy."""
    if "://" in value or value.startswith(("/", "./", "~")):
        return False
    classes = sum(bool(re.search(p, value)) for p in (r"[a-z]", r"[A-Z]", r"[0-9]", r"[^A-Za-z0-9]"))
    return classes >= 2 and not re.fullmatch(r"[a-z]+(?:[-_.][a-z]+)*", value) and shannon(value) >= 2.5


_LABELS = frozenset({"password", "passwd", "pwd", "passphrase", "newpassword", "oldpassword", "confirmpassword"})


def not_a_label(value: str) -> bool:
    """`PASSWORD_FIELD = "password"` names a field; `"password": "Password:"` is a UI label."""
    return re.sub(r"[^a-z]", "", value.lower()) not in _LABELS


def high_entropy(value: str) -> bool:
    """Base64-like, mixed case and digits, about as random as detect-secrets' default (4.5 bits, >= 20)."""
    has_all = all(re.search(p, value) for p in (r"[a-z]", r"[A-Z]", r"[0-9]"))
    return has_all and shannon(value) >= 4.0


@dataclass(frozen=True)
class SecretRule:
    trivy_id: str  # unique per trivy rule
    rule_id: str  # what airlock reports (documented in docs/rules/sast-secrets.md)
    title: str
    severity: str
    keywords: tuple[str, ...]
    regex: str
    path: str = ""
    check: Callable[[str], bool] | None = None


RULES = (
    SecretRule("airlock.secrets.hardcoded-password", "airlock.secrets.hardcoded-password",
               "Hard-coded password", "HIGH", ("pass", "pwd"),
               "(?i)" + _PASSWORD_KEY + _ASSIGN + _QUOTED % 6, check=not_a_label),
    SecretRule("airlock.secrets.hardcoded-password-unquoted", "airlock.secrets.hardcoded-password",
               "Hard-coded password", "HIGH", ("pass", "pwd"),
               r"(?im)^[ \t]*(?:export[ \t]+)?[-\"']?[ \t]*" + _PASSWORD_KEY + r"[ \t]*[:=]" + _UNQUOTED % 5,
               path=CONFIG_FILES, check=not_a_label),
    SecretRule("airlock.secrets.hardcoded-key", "airlock.secrets.hardcoded-key",
               "Hard-coded secret key or token", "HIGH", ("secret", "token", "key", "credential"),
               "(?i)" + _KEY_KEY + _ASSIGN + _QUOTED % 8, check=looks_like_key),
    SecretRule("airlock.secrets.hardcoded-key-unquoted", "airlock.secrets.hardcoded-key",
               "Hard-coded secret key or token", "HIGH", ("secret", "token", "key", "credential"),
               r"(?im)^[ \t]*(?:export[ \t]+)?[-\"']?[ \t]*" + _KEY_KEY + r"[ \t]*[:=]" + _UNQUOTED % 7,
               path=CONFIG_FILES, check=looks_like_key),
    SecretRule("airlock.secrets.high-entropy-string", "airlock.secrets.high-entropy-string",
               "High-entropy string (a likely credential)", "HIGH", (),
               r"""[:=]\s*["'](?P<secret>[A-Za-z0-9+/=]{20,})["']""", path=ENTROPY_FILES, check=high_entropy),
)  # fmt: skip
BY_TRIVY_ID = {r.trivy_id: r for r in RULES}


def trivy_rules_yaml() -> str:
    """The `rules:` part of a trivy secret config (JSON strings are valid YAML scalars)."""
    out = ["rules:"]
    for r in RULES:
        out += [
            f"  - id: {json.dumps(r.trivy_id)}",
            "    category: airlock",
            f"    title: {json.dumps(r.title)}",
            f"    severity: {r.severity}",
            f"    regex: {json.dumps(r.regex)}",
            "    secret-group-name: secret",
        ]
        if r.keywords:
            out.append(f"    keywords: {json.dumps(list(r.keywords))}")
        if r.path:
            out.append(f"    path: {json.dumps(r.path)}")
    return "\n".join(out) + "\n"


def confirmed(rule: SecretRule, line: str) -> bool:
    """Re-match a rule on the file's own line and apply its check; rules without a check always hold."""
    if rule.check is None:
        return True
    for m in re.finditer(rule.regex, line):
        if rule.check(m.group("secret")):
            return True
    return False
