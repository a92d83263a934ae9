"""Secrets are masked in every output: a finding about a credential never shows the credential."""

from __future__ import annotations

import re
from dataclasses import replace

from airlock.pipeline.models import Finding

SECRET_CWES = frozenset({"CWE-798", "CWE-259", "CWE-321", "CWE-522", "CWE-312", "CWE-540"})
_QUOTED = re.compile(r"""(?P<q>['"])(?P<body>[^'"\n]{4,})(?P=q)""")


def mask_value(value: str) -> str:
    """Keep a hint of the shape, never the value."""
    if len(value) <= 4:
        return "****"
    return value[:2] + "*" * min(len(value) - 2, 12)


def _mask_literals(text: str) -> str:
    return _QUOTED.sub(lambda m: m.group("q") + mask_value(m.group("body")) + m.group("q"), text)


# Credential shapes masked in every finding's text, whatever the tool: a Dockerfile check's snippet may
# quote an ENV line that holds a key another tool reported.
_TOKENS = re.compile(
    r"(?P<v>AKIA[0-9A-Z]{16}|ASIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,}"
    r"|glpat-[A-Za-z0-9_-]{20,}|xox[abprs]-[A-Za-z0-9-]{10,}|sk-[A-Za-z0-9_-]{20,})"
)
_ASSIGN = re.compile(
    r"(?i)(?P<k>[A-Z0-9_.-]*(?:secret|token|passw(?:or)?d|passwd|pwd|api[_-]?key|access[_-]?key|private[_-]?key"
    r"|credential)[A-Z0-9_.-]*\s*[:=]\s*)(?P<v>[^\s'\"$({\[]{6,})(?![^\s'\"])"
)
# The same names with a quoted value (`password = "..."` in Terraform, JS, JSON): checkov's snippet of a
# resource quotes the line that airlock's own secret rules reported.
_ASSIGN_QUOTED = re.compile(
    r"(?i)(?P<k>[A-Z0-9_.-]*(?:secret|token|passw(?:or)?d|passwd|pwd|api[_-]?key|access[_-]?key|private[_-]?key"
    r"|credential)[A-Z0-9_.-]*[\"']?\s*(?::=|=>|:|=)\s*(?P<q>[\"']))(?P<v>[^'\"\n$<>{}]{4,})(?P=q)"
)
_PEM = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)")


def mask_credentials(text: str) -> str:
    if not text:
        return text
    text = _PEM.sub("-----BEGIN PRIVATE KEY----- ****", text)
    text = _TOKENS.sub(lambda m: mask_value(m.group("v")), text)
    text = _ASSIGN_QUOTED.sub(lambda m: m.group("k") + mask_value(m.group("v")) + m.group("q"), text)
    return _ASSIGN.sub(lambda m: m.group("k") + mask_value(m.group("v")), text)


def is_secret_finding(f: Finding) -> bool:
    rid = f.rule_id.lower()
    return bool(SECRET_CWES.intersection(f.cwe)) or any(w in rid for w in ("secret", "credential", "password"))


def redact(f: Finding) -> Finding:
    if not is_secret_finding(f):
        masked = replace(
            f,
            snippet=mask_credentials(f.snippet),
            message=mask_credentials(f.message),
            evidence=tuple(mask_credentials(e) for e in f.evidence),
        )
        return f if masked == f else masked
    # Runtime evidence is airlock's own record (the command, a traced call) with its canaries already masked:
    # hiding every quoted literal there would garble the command a reviewer must read, so only shapes go.
    literal = (lambda e: e) if f.stage == "runtime" else _mask_literals
    return replace(
        f,
        snippet=mask_credentials(_mask_literals(f.snippet)),
        message=mask_credentials(_mask_literals(f.message)),
        evidence=tuple(mask_credentials(literal(e)) for e in f.evidence),
    )
