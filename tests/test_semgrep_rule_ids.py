"""Rule ids come from the rules' own `id`, never from where the rule files or airlock's checkout live."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.conftest import FIXTURES, ROOT, airlock_env, rule_ids, scan_json, write_files

OWN_IDS = {
    "airlock.command-injection.subprocess-shell-true",
    "airlock.command-injection.os-system",
    "airlock.code-injection.eval-non-literal",
}
CUSTOM_RULE = """rules:
  - id: team.no-print
    languages: [python]
    severity: ERROR
    message: print is not logging
    pattern: print(...)
  - id: airlock.custom.no-input
    languages: [python]
    severity: ERROR
    message: no input
    pattern: input(...)
"""


def test_ids_survive_a_checkout_under_airlock_named_dirs(tmp_path: Path) -> None:
    # A venv named agent-airlock and a checkout at .../airlock/airlock/: semgrep writes both into check_id.
    home = tmp_path / "agent-airlock.venv" / "airlock" / "airlock"
    for pkg in ("pipeline", "scanners", "reports"):
        shutil.copytree(ROOT / pkg, home / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    rules = tmp_path / "x.airlock.rules" / "airlock" / "airlock"
    write_files(rules, {"team.yaml": CUSTOM_RULE})
    cfg = tmp_path / "airlock.toml"
    cfg.write_text(f'[tools.semgrep]\nrules = ["{rules}"]\n')
    target = tmp_path / "repo"
    write_files(target, FIXTURES / "sast" / "vulnerable")
    write_files(target, {"talk.py": "print(input())\n"})
    env = airlock_env({"PYTHONPATH": str(home)})
    code, report, done = scan_json(target, "--stages", "sast", "--config", cfg, tmp_path=tmp_path, env=env)
    assert code == 1, done.stderr
    ids = set(rule_ids(report))
    assert OWN_IDS <= ids, sorted(ids)
    assert {"team.no-print", "airlock.custom.no-input"} <= ids, sorted(ids)
    assert not [i for i in ids if "semgrep_rules" in i or "tmp" in i or "venv" in i], sorted(ids)


def test_rule_id_for_takes_the_longest_declared_suffix() -> None:
    from airlock.scanners.semgrep import rule_id_for

    declared = frozenset({"airlock.a.b", "b", "team.x"})
    assert rule_id_for("tmp.airlock.airlock.rules.airlock.a.b", declared) == "airlock.a.b"
    assert rule_id_for("home.u.rules.team.x", declared) == "team.x"
    assert rule_id_for("team.x", declared) == "team.x"
    assert rule_id_for("unknown.rule", declared) == "unknown.rule"
