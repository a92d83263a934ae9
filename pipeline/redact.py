"""Secrets are masked in every output: a finding about a credential never shows the credential."""

from __future__ import annotations

import re
from dataclasses import replace

from pipeline.models import Finding

SECRET_CWES = frozenset({"CWE-798", "CWE-259", "CWE-321", "CWE-522", "CWE-312", "CWE-540"})
_QUOTED = re.compile(r"""(?P<q>['"])(?P<body>[^'"\n]{4,})(?P=q)""")


def mask_value(value: str) -> str:
    """Keep a hint of the shape, never the value."""
    if len(value) <= 4:
        return "****"
    return value[:2] + "*" * min(len(value) - 2, 12)


def _mask_literals(text: str) -> str:
    return _QUOTED.sub(lambda m: m.group("q") + mask_value(m.group("body")) + m.group("q"), text)


def is_secret_finding(f: Finding) -> bool:
    rid = f.rule_id.lower()
    return bool(SECRET_CWES.intersection(f.cwe)) or any(w in rid for w in ("secret", "credential", "password"))


def redact(f: Finding) -> Finding:
    if not is_secret_finding(f):
        return f
    return replace(f, snippet=_mask_literals(f.snippet), message=_mask_literals(f.message))
