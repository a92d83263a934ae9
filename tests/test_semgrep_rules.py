"""Tests for airlock's own semgrep rule pack in ``scanners/semgrep_rules``.

Every ``X.yaml`` rule file has a test target ``X.py`` beside it, annotated with
``# ruleid: <id>`` (the next line must be reported) and ``# ok: <id>`` (documents a
true negative; any unannotated finding fails the test). The real semgrep runs them with

    SEMGREP_ENABLE_VERSION_CHECK=0 semgrep test --json scanners/semgrep_rules

``semgrep test`` is semgrep 1.185's native rule-test runner: it needs no network and
takes about a second, while the equivalent
``semgrep scan --test --metrics=off --disable-version-check scanners/semgrep_rules``
gives the same verdicts but takes ~30 s. ``semgrep test`` rejects
``--metrics``/``--disable-version-check``, so the environment turns those off instead.
Do not use ``semgrep validate`` / ``semgrep scan --validate`` here: both try to download
the ``p/semgrep-rule-lints`` ruleset and fail offline.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
RULES_DIR = REPO_ROOT / "scanners" / "semgrep_rules"
DOC_PATH = REPO_ROOT / "docs" / "rules" / "sast.md"

RULE_ID_RE = re.compile(r"^airlock\.[a-z0-9-]+\.[a-z0-9-]+$")
CWE_RE = re.compile(r"^CWE-\d+: \S.*$")
ANNOTATION_RE = re.compile(r"^\s*#\s*(ruleid|ok|todoruleid|todook)\s*:\s*(.+?)\s*$")
SEVERITIES = {"ERROR", "WARNING", "INFO"}
CONFIDENCES = {"HIGH", "MEDIUM", "LOW"}
AIRLOCK_SEVERITIES = {"critical", "high", "medium", "low", "info"}
MIN_RULES = 25
SEMGREP_TIMEOUT_S = 300


def _load_yaml(path: Path) -> Any:
    """Parse one of our own (trusted) rule files with a safe loader."""
    text = path.read_text(encoding="utf-8")
    try:
        import yaml  # PyYAML
    except ImportError:  # pragma: no cover - semgrep always ships ruamel.yaml
        from ruamel.yaml import YAML

        return YAML(typ="safe", pure=True).load(text)
    return yaml.safe_load(text)


def _rule_files() -> list[Path]:
    return sorted(RULES_DIR.glob("*.yaml")) + sorted(RULES_DIR.glob("*.yml"))


def _all_rules() -> list[tuple[Path, dict[str, Any]]]:
    rules: list[tuple[Path, dict[str, Any]]] = []
    for path in _rule_files():
        doc = _load_yaml(path)
        assert isinstance(doc, dict) and isinstance(doc.get("rules"), list), path
        for rule in doc["rules"]:
            assert isinstance(rule, dict), path
            rules.append((path, rule))
    return rules


def _annotations(target: Path) -> dict[str, set[str]]:
    """Map annotation kind ('ruleid'/'ok') to the rule ids annotated in a test target."""
    found: dict[str, set[str]] = {"ruleid": set(), "ok": set()}
    for line in target.read_text(encoding="utf-8").splitlines():
        match = ANNOTATION_RE.match(line)
        if not match:
            continue
        kind = match.group(1).removeprefix("todo")
        for rule_id in match.group(2).split(","):
            found[kind].add(rule_id.strip())
    return found


def _semgrep_binary() -> str | None:
    beside_python = Path(sys.executable).with_name("semgrep")
    if beside_python.exists():
        return str(beside_python)
    return shutil.which("semgrep")


def _semgrep_env() -> dict[str, str]:
    env = dict(os.environ)
    # Without these semgrep phones home and an offline run stalls for ~95 s.
    env["SEMGREP_ENABLE_VERSION_CHECK"] = "0"
    env["SEMGREP_SEND_METRICS"] = "off"
    return env


@pytest.fixture(scope="module")
def rules() -> list[tuple[Path, dict[str, Any]]]:
    return _all_rules()


@pytest.fixture(scope="module")
def rule_ids(rules: list[tuple[Path, dict[str, Any]]]) -> list[str]:
    return [rule["id"] for _, rule in rules]


@pytest.fixture(scope="module")
def semgrep_test_report() -> dict[str, Any]:
    semgrep = _semgrep_binary()
    if semgrep is None:
        pytest.fail("semgrep is not installed; install the project's dev dependencies")
    proc = subprocess.run(
        [semgrep, "test", "--json", str(RULES_DIR.relative_to(REPO_ROOT))],
        cwd=REPO_ROOT,
        env=_semgrep_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=SEMGREP_TIMEOUT_S,
        check=False,
    )
    try:
        report: dict[str, Any] = json.loads(proc.stdout)
    except json.JSONDecodeError:
        pytest.fail(
            f"semgrep test printed no JSON (exit {proc.returncode}).\n"
            f"stdout:\n{proc.stdout[-4000:]}\nstderr:\n{proc.stderr[-4000:]}"
        )
    report["_returncode"] = proc.returncode
    report["_stderr"] = proc.stderr
    return report


def test_semgrep_rule_tests_pass(semgrep_test_report: dict[str, Any]) -> None:
    report = semgrep_test_report
    assert report["config_with_errors"] == [], report["config_with_errors"]
    assert report["config_missing_tests"] == [], report["config_missing_tests"]
    failures = {
        rule_id: check
        for config in report["results"].values()
        for rule_id, check in config["checks"].items()
        if not check["passed"] or check["errors"]
    }
    assert not failures, (
        "semgrep rule tests failed (expected_lines come from '# ruleid:' annotations):\n"
        + json.dumps(failures, indent=2)
        + "\n"
        + report["_stderr"][-4000:]
    )
    assert report["_returncode"] == 0, report["_stderr"][-4000:]


def test_every_rule_is_exercised(semgrep_test_report: dict[str, Any], rule_ids: list[str]) -> None:
    checks = {
        rule_id: check
        for config in semgrep_test_report["results"].values()
        for rule_id, check in config["checks"].items()
    }
    # semgrep may prefix ids with the config path; airlock strips everything before "airlock."
    checks = {rule_id[rule_id.index("airlock.") :]: check for rule_id, check in checks.items()}
    missing = sorted(set(rule_ids) - set(checks))
    assert not missing, f"rules not run by semgrep test: {missing}"
    unexercised = sorted(
        rule_id
        for rule_id in rule_ids
        if not any(match["expected_lines"] for match in checks[rule_id]["matches"].values())
    )
    assert not unexercised, f"rules without a '# ruleid:' case: {unexercised}"


def test_every_rule_has_positive_and_negative_cases(
    rules: list[tuple[Path, dict[str, Any]]],
) -> None:
    problems = []
    known = {rule["id"] for _, rule in rules}
    for path in _rule_files():
        target = path.with_suffix(".py")
        assert target.is_file(), f"{path.name} has no test target {target.name}"
        notes = _annotations(target)
        ids_in_file = {rule["id"] for p, rule in rules if p == path}
        for rule_id in sorted(ids_in_file):
            if rule_id not in notes["ruleid"]:
                problems.append(f"{target.name}: no '# ruleid: {rule_id}'")
            if rule_id not in notes["ok"]:
                problems.append(f"{target.name}: no '# ok: {rule_id}'")
        unknown = (notes["ruleid"] | notes["ok"]) - known
        if unknown:
            problems.append(f"{target.name}: annotations for unknown rule ids {sorted(unknown)}")
        foreign = (notes["ruleid"] | notes["ok"]) - ids_in_file - unknown
        if foreign:
            problems.append(f"{target.name}: annotations for rules of another file {sorted(foreign)}")
    assert not problems, "\n".join(problems)


def test_rule_ids_and_metadata(rules: list[tuple[Path, dict[str, Any]]]) -> None:
    assert len(rules) >= MIN_RULES, f"only {len(rules)} rules"
    ids = [str(rule.get("id")) for _, rule in rules]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    assert not duplicates, f"duplicate rule ids: {duplicates}"
    problems = []
    for path, rule in rules:
        rule_id = rule.get("id", "<missing id>")
        where = f"{path.name}:{rule_id}"
        if not isinstance(rule_id, str) or not RULE_ID_RE.match(rule_id):
            problems.append(f"{where}: id must match {RULE_ID_RE.pattern}")
        elif rule_id.split(".")[1] != path.stem:
            problems.append(f"{where}: area must equal the file name '{path.stem}'")
        if rule.get("severity") not in SEVERITIES:
            problems.append(f"{where}: severity must be one of {sorted(SEVERITIES)}")
        if not isinstance(rule.get("message"), str) or len(rule["message"].strip()) < 20:
            problems.append(f"{where}: message missing or too short")
        if rule.get("languages") != ["python"]:
            problems.append(f"{where}: languages must be [python]")
        # a value rebound to a constant, also through another name, is no longer request data
        if rule.get("mode") == "taint" and (rule.get("options") or {}).get("symbolic_propagation") is not True:
            problems.append(f"{where}: a taint rule sets options.symbolic_propagation: true")
        meta = rule.get("metadata")
        if not isinstance(meta, dict):
            problems.append(f"{where}: metadata missing")
            continue
        cwe = meta.get("cwe")
        if not (isinstance(cwe, list) and cwe and all(isinstance(c, str) and CWE_RE.match(c) for c in cwe)):
            problems.append(f"{where}: metadata.cwe must be a non-empty list like 'CWE-78: ...'")
        if meta.get("category") != "security":
            problems.append(f"{where}: metadata.category must be 'security'")
        if meta.get("confidence") not in CONFIDENCES:
            problems.append(f"{where}: metadata.confidence must be one of {sorted(CONFIDENCES)}")
        if "airlock-severity" in meta and meta["airlock-severity"] not in AIRLOCK_SEVERITIES:
            problems.append(f"{where}: bad metadata.airlock-severity {meta['airlock-severity']!r}")
    assert not problems, "\n".join(problems)


def test_rules_dir_is_data_only() -> None:
    assert not (RULES_DIR / "__init__.py").exists(), "scanners/semgrep_rules is package data"
    stems = {p.stem for p in _rule_files()}
    targets = {p.stem for p in RULES_DIR.glob("*.py")}
    assert targets == stems, f"test targets without rule file: {sorted(targets - stems)}"


def test_docs_list_every_rule(rules: list[tuple[Path, dict[str, Any]]]) -> None:
    """docs/rules/sast.md has one table row per rule, with the right severity mapping."""
    default = {"ERROR": "high", "WARNING": "medium", "INFO": "low"}
    rows = {
        line.split("`")[1]: line
        for line in DOC_PATH.read_text(encoding="utf-8").splitlines()
        if line.startswith("| `airlock.")
    }
    problems = []
    for _, rule in rules:
        row = rows.get(rule["id"])
        if row is None:
            problems.append(f"missing row for {rule['id']}")
            continue
        meta = rule.get("metadata") or {}
        expected = f"{rule['severity']} → {meta.get('airlock-severity', default.get(rule['severity']))}"
        if expected not in row:
            problems.append(f"{rule['id']}: severity column should say '{expected}'")
    stale = sorted(set(rows) - {rule["id"] for _, rule in rules})
    if stale:
        problems.append(f"rows for rules that do not exist: {stale}")
    assert not problems, f"{DOC_PATH.relative_to(REPO_ROOT)}:\n" + "\n".join(problems)
