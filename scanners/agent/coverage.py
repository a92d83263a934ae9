"""Coverage thresholds the change lowers: pytest's --cov-fail-under and coverage.py's fail_under.

Read with tomllib (pyproject.toml), configparser (.coveragerc, setup.cfg, tox.ini, pytest.ini) and, for
command lines in CI files and Makefiles, one small regex that the property tests hold against formatting.
"""

from __future__ import annotations

import configparser
import re
import sys
from typing import Any

from airlock.pipeline.models import FileStatus, Finding, Severity
from airlock.scanners.agent.view import ChangeView, Text, finding

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

LOWERED = "agent.coverage-lowered"

_OPTION = re.compile(r"--cov-fail-under(?:=|\s+)['\"]?(\d{1,3}(?:\.\d+)?)")
_INI_FILES = (".coveragerc", "setup.cfg", "tox.ini", "pytest.ini")
_INI_SECTIONS = ("report", "coverage:report", "tool:pytest", "pytest", "testenv")


def cov_options(text: str) -> list[float]:
    """Every --cov-fail-under value in a command line or an addopts string."""
    return [float(m.group(1)) for m in _OPTION.finditer(text)]


def _strings(obj: Any) -> list[str]:
    if isinstance(obj, str):
        return [obj]
    if isinstance(obj, dict):
        return [s for v in obj.values() for s in _strings(v)]
    if isinstance(obj, list):
        return [s for v in obj for s in _strings(v)]
    return []


def _number(v: Any) -> float | None:
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def thresholds(rel: str, text: Text) -> list[float]:
    """Every coverage threshold a file sets; a file this module does not know sets none by regex only."""
    name = rel.rsplit("/", 1)[-1]
    if name == "pyproject.toml":
        try:
            data = tomllib.loads(text.text)
        except tomllib.TOMLDecodeError:
            return cov_options(text.text)
        tool = data.get("tool", {}) if isinstance(data.get("tool"), dict) else {}
        cov = tool.get("coverage", {}) if isinstance(tool.get("coverage"), dict) else {}
        report = cov.get("report", {}) if isinstance(cov.get("report"), dict) else {}
        found = [n for n in [_number(report.get("fail_under"))] if n is not None]
        pytest_cfg = tool.get("pytest", {}) if isinstance(tool.get("pytest"), dict) else {}
        return found + [v for s in _strings(pytest_cfg) for v in cov_options(s)]
    if name in _INI_FILES:
        parser = configparser.ConfigParser(interpolation=None, strict=False)
        try:
            parser.read_string(text.text)
        except configparser.Error:
            return cov_options(text.text)
        found = []
        for section in parser.sections():
            if section not in _INI_SECTIONS and not section.startswith("testenv"):
                continue
            for key, value in parser.items(section):
                if key == "fail_under" and (n := _number(value)) is not None:
                    found.append(n)
                found += cov_options(value)
        return found
    return cov_options(text.text)


def _relevant(rel: str) -> bool:
    name = rel.rsplit("/", 1)[-1]
    return (
        name in _INI_FILES or name == "pyproject.toml" or name in ("Makefile", "noxfile.py", ".gitlab-ci.yml")
        or rel.startswith(".github/workflows/") or name.endswith((".mk", ".sh"))
    )  # fmt: skip


def check(view: ChangeView) -> list[Finding]:
    if not view.has_base:
        return []
    out = []
    for f in view.files:
        if not _relevant(f.path) or f.status is FileStatus.ADDED:
            continue
        base = view.base_text(f)
        if base is None:
            continue
        before = thresholds(f.old_path or f.path, base)
        if not before:
            continue
        head = view.head_text(f.path) if f.status is not FileStatus.DELETED else None
        after = thresholds(f.path, head) if head is not None else []
        if after and min(after) >= max(before):
            continue
        line = _line_of(head, ("fail_under", "fail-under")) if head else 0
        now = f"{min(after):g}" if after else "no threshold"
        out.append(
            finding(
                LOWERED, Severity.HIGH, f.path, line,
                f"the change lowers the coverage threshold in {f.path} from {max(before):g} to {now}",
                "coverage threshold lowered",
            )
        )  # fmt: skip
    return out


def _line_of(text: Text, needles: tuple[str, ...]) -> int:
    for i, line in enumerate(text.lines, 1):
        if any(n in line for n in needles):
            return i
    return 0
