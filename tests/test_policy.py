from pathlib import Path

import pytest

from airlock.pipeline.errors import UsageError
from airlock.pipeline.models import Severity
from airlock.pipeline.policy import Policy, load_repo_policy, parse_policy


def _parse(data: dict, tmp_path: Path) -> Policy:
    return parse_policy(data, source="airlock.toml", base_dir=tmp_path, confine=True)


def test_defaults(tmp_path: Path) -> None:
    p = _parse({}, tmp_path)
    assert p.stages == ("sast", "iac", "image", "runtime", "agent")
    assert p.gate.fail_on is Severity.HIGH and p.gate.on_error == "fail" and p.gate.max_new == 0
    assert p.tool("semgrep").timeout_s == 300


def test_full_policy(tmp_path: Path) -> None:
    p = _parse(
        {
            "stages": ["sast"],
            "gate": {"fail_on": "medium", "on_error": "warn", "max_new": 2, "runtime": {"fail_on": "low"}},
            "tools": {"semgrep": {"timeout_s": 60, "rules": ["rules"]}},
            "runtime": {"commands": ["pytest -q"], "mode": "audit", "memory_mb": 512},
        },
        tmp_path,
    )
    assert p.gate.threshold("runtime") is Severity.LOW and p.gate.threshold("sast") is Severity.MEDIUM
    assert p.tool("semgrep").rules == (str(tmp_path.resolve() / "rules"),)
    assert p.runtime.commands == ("pytest -q",) and p.runtime.mode == "audit"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"tools": {"semgrep": {"rules": ["../../etc"]}}}, "points outside the repository"),
        ({"gate": {"max_new": True}}, "gate.max_new must be a whole number"),
        ({"gate": {"sast": {"fail_at": "low"}}}, "unknown key 'gate.sast.fail_at'"),
        ({"runtime": {"mode": "yolo"}}, "runtime.mode must be one of enforce, audit"),
        ({"gate": "high"}, "gate must be a table"),
        ({"tools": {"semgrep": {"path": "/bin/sh"}}}, "tools.semgrep.path names a program to run on the host"),
        ({"stages": []}, "stages is empty, so nothing would be scanned"),
        ({"tools": {"semgrep": {"timeout_s": float("nan")}}}, "tools.semgrep.timeout_s must be a number from 1"),
        ({"tools": {"bandit": {"timeout_s": float("inf")}}}, "tools.bandit.timeout_s must be a number from 1"),
        ({"runtime": {"timeout_s": float("nan")}}, "runtime.timeout_s must be a number from 1"),
        ({"runtime": {"timeout_s": 1e300}}, "runtime.timeout_s must be a number from 1 to 86400"),
        ({"runtime": {"memory_mb": 10**30}}, "runtime.memory_mb must be a whole number from 16"),
        ({"gate": {"max_new": 10**20}}, "gate.max_new must be a whole number from 0"),
    ],
)
def test_bad_values_name_the_key(tmp_path: Path, data: dict, message: str) -> None:
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(".", r"\.")):
        _parse(data, tmp_path)


def test_airlock_toml_wins_over_pyproject(tmp_path: Path) -> None:
    files = {
        "airlock.toml": b'[gate]\nfail_on = "low"\n',
        "pyproject.toml": b'[tool.airlock.gate]\nfail_on = "critical"\n',
    }
    assert load_repo_policy(files.get, tmp_path).gate.fail_on is Severity.LOW
    files.pop("airlock.toml")
    assert load_repo_policy(files.get, tmp_path).gate.fail_on is Severity.CRITICAL
    assert load_repo_policy({}.get, tmp_path).source == "defaults"


def test_agent_table(tmp_path: Path) -> None:
    p = _parse({"agent": {"online": True, "min_package_age_days": 7}, "gate": {"agent": {"fail_on": "medium"}}},
               tmp_path)
    assert p.agent.online is True and p.agent.min_package_age_days == 7
    assert p.gate.threshold("agent") is Severity.MEDIUM


@pytest.mark.parametrize("key", ["pypi_url", "npm_url", "cache_dir"])
def test_agent_registry_and_cache_only_from_a_trusted_config(tmp_path: Path, key: str) -> None:
    with pytest.raises(UsageError, match=f"agent.{key} decides where the host connects or writes"):
        _parse({"agent": {key: "https://registry.example"}}, tmp_path)
    trusted = parse_policy({"agent": {key: "http://127.0.0.1:1/x"}}, source="c.toml", base_dir=tmp_path,
                           confine=False, trusted=True)
    assert getattr(trusted.agent, key)
