"""Waivers (.airlock-waivers.toml): a human accepts a finding for a while, with a reason and an owner.

    [[waiver]]
    rule = "B602"                 # a rule id, and/or
    fingerprint = "3f2a..."       # one finding's fingerprint
    path = "tools/*.py"           # glob on the repository-relative path (default: every path)
    reason = "input is a constant list"   # required
    owner = "alice@example.com"           # required
    expires = 2025-12-31                  # required; the last day the waiver applies

A waived finding stays in every report, marked waived with the reason, and does not gate.
An expired waiver applies to nothing and is itself reported as an `agent.waiver-expired` finding
(low) and as a gate warning, so a human renews or removes it.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import sys
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from airlock.pipeline.errors import UsageError
from airlock.pipeline.fingerprint import assign
from airlock.pipeline.merge import sources_of
from airlock.pipeline.models import Finding, Severity, Suppression

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

FILENAME = ".airlock-waivers.toml"
EXPIRED_RULE = "agent.waiver-expired"
_KEYS = ("rule", "fingerprint", "path", "reason", "owner", "expires")


@dataclass(frozen=True)
class Waiver:
    index: int  # 1-based position in the file, for messages
    reason: str
    owner: str
    expires: dt.date
    rule: str | None = None
    fingerprint: str | None = None
    path: str = "*"

    def describe(self) -> str:
        what = " ".join(x for x in (self.rule and f"rule {self.rule}", self.fingerprint and
                                     f"fingerprint {self.fingerprint[:12]}") if x)
        return f"waiver #{self.index} ({what}, path {self.path}, owner {self.owner})"

    def matches(self, f: Finding) -> bool:
        sources = sources_of(f)
        if self.rule is not None and self.rule not in {f.rule_id, *(s.rule_id for s in sources)}:
            return False
        if self.fingerprint is not None and self.fingerprint not in {
            f.fingerprint,
            *(s.fingerprint for s in sources),
        }:
            return False
        return fnmatch.fnmatchcase(f.path, self.path)


def _date(where: str, v: Any) -> dt.date:
    if isinstance(v, dt.datetime):
        return v.date()
    if isinstance(v, dt.date):
        return v
    if isinstance(v, str):
        try:
            return dt.date.fromisoformat(v.strip())
        except ValueError:
            pass
    raise UsageError(f"{where}: expires must be a date like 2025-12-31 (got {v!r})")


def parse(raw: bytes, source: str = FILENAME) -> tuple[Waiver, ...]:
    """Strict: every entry needs a reason, an owner and an expiry date; a bad file is exit 2."""
    try:
        doc = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"{source} is not valid TOML: {exc}") from None
    unknown = [k for k in doc if k != "waiver"]
    if unknown:
        raise UsageError(f"{source}: unknown key '{unknown[0]}'; entries go in [[waiver]] tables")
    entries = doc.get("waiver", [])
    if not isinstance(entries, list):
        raise UsageError(f"{source}: 'waiver' must be an array of tables ([[waiver]])")
    out = []
    for i, e in enumerate(entries, start=1):
        where = f"{source}: waiver #{i}"
        if not isinstance(e, dict):
            raise UsageError(f"{where} must be a table")
        bad = [k for k in e if k not in _KEYS]
        if bad:
            raise UsageError(f"{where}: unknown key '{bad[0]}' (known: {', '.join(_KEYS)})")
        for key in ("reason", "owner"):
            if not isinstance(e.get(key), str) or not e[key].strip():
                raise UsageError(f"{where}: '{key}' is required and must be a non-empty string")
        if "expires" not in e:
            raise UsageError(f"{where}: 'expires' is required (a date like 2025-12-31)")
        for key in ("rule", "fingerprint", "path"):
            if key in e and (not isinstance(e[key], str) or not e[key].strip()):
                raise UsageError(f"{where}: '{key}' must be a non-empty string")
        if "rule" not in e and "fingerprint" not in e:
            raise UsageError(f"{where}: name a 'rule' and/or a 'fingerprint'")
        out.append(
            Waiver(
                index=i,
                reason=e["reason"].strip(),
                owner=e["owner"].strip(),
                expires=_date(where, e["expires"]),
                rule=e.get("rule"),
                fingerprint=e.get("fingerprint"),
                path=e.get("path", "*"),
            )
        )
    return tuple(out)


def apply(
    findings: Iterable[Finding], waivers: Iterable[Waiver], today: dt.date
) -> tuple[list[Finding], list[Finding]]:
    """(findings with live waivers applied, one agent.waiver-expired finding per expired waiver)."""
    waivers = list(waivers)
    live = [w for w in waivers if w.expires >= today]
    out = []
    for f in findings:
        w = next((w for w in live if w.matches(f)), None)
        if w is not None and f.suppression is None:
            f = replace(f, suppression=Suppression("waiver", f"{w.reason} (owner {w.owner}, until {w.expires})"))
        out.append(f)
    expired = [_expired(w) for w in waivers if w.expires < today]
    return out, assign(expired)


def _expired(w: Waiver) -> Finding:
    return Finding(
        stage="agent",
        tool="airlock",
        rule_id=EXPIRED_RULE,
        message=f"{w.describe()} expired on {w.expires}; it no longer applies. Renew it or remove it.",
        severity=Severity.LOW,
        path=FILENAME,
        title="expired waiver",
        snippet=f"waiver #{w.index}: {w.rule or ''} {w.fingerprint or ''} {w.path} expires {w.expires}",
    )
