"""Nothing from the scanned tree decides what runs on the host: [tools.*] path only from trusted config."""

from __future__ import annotations

from pathlib import Path

import pytest

from airlock.pipeline.errors import UsageError
from airlock.pipeline.policy import env_var, load_repo_policy, user_config_path, with_trusted_tool_paths
from tests.conftest import FIXTURES, airlock_env, commit, make_repo, run_airlock, scan_json, write_files

FAKE_SEMGREP = """#!/bin/sh
touch "{marker}"
echo '{{"version": "1.0.0", "results": [], "errors": [], "paths": {{"scanned": []}}}}'
"""


def _hostile_repo(tmp_path: Path, config_file: str, config: str) -> tuple[Path, Path]:
    marker = tmp_path / "the-repo-script-ran"
    repo = tmp_path / "repo"
    write_files(repo, FIXTURES / "sast" / "vulnerable")
    (repo / config_file).write_text(config)
    scan = repo / "scan"
    scan.write_text(FAKE_SEMGREP.format(marker=marker))
    scan.chmod(0o755)
    return repo, marker


@pytest.mark.parametrize(
    ("config_file", "config"),
    [
        ("airlock.toml", '[tools.semgrep]\npath = "./scan"\n'),
        ("airlock.toml", '[tools.semgrep]\npath = "/bin/sh"\n'),
        ("pyproject.toml", '[tool.airlock.tools.bandit]\npath = "scan"\n'),
    ],
)
def test_repo_config_cannot_pick_the_program(tmp_path: Path, config_file: str, config: str) -> None:
    repo, marker = _hostile_repo(tmp_path, config_file, config)
    done = run_airlock("scan", repo, "--stages", "sast")
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "path names a program to run on the host" in lines[0], done.stderr
    assert "AIRLOCK_" in lines[0] and "--config" in lines[0]
    assert not marker.exists()


def test_base_config_in_diff_mode_cannot_pick_the_program(tmp_path: Path) -> None:
    repo, marker = _hostile_repo(tmp_path, "airlock.toml", '[tools.semgrep]\npath = "./scan"\n')
    make_repo(repo, {})
    write_files(repo, {"app.py": "import os\nos.system(input())\n"})
    commit(repo, "agent change")
    done = run_airlock("scan", repo, "--base", "HEAD~1", "--stages", "sast")
    assert done.returncode == 2 and "tools.semgrep.path" in done.stderr
    assert not marker.exists()


def test_env_variable_names_the_program(tmp_path: Path) -> None:
    env = airlock_env({env_var("semgrep"): "/nonexistent/bin/semgrep", "XDG_CONFIG_HOME": str(tmp_path)})
    code, report, done = scan_json(FIXTURES / "sast" / "clean", "--stages", "sast", tmp_path=tmp_path, env=env)
    assert code == 2, done.stderr
    assert "semgrep not found" in report["stages"][0]["error"]


def test_user_config_names_the_program(tmp_path: Path) -> None:
    cfg = tmp_path / "xdg" / "airlock" / "config.toml"
    cfg.parent.mkdir(parents=True)
    cfg.write_text('[tools.bandit]\npath = "/nonexistent/bin/bandit"\n')
    env = airlock_env({"XDG_CONFIG_HOME": str(tmp_path / "xdg")})
    code, report, done = scan_json(FIXTURES / "sast" / "clean", "--stages", "sast", tmp_path=tmp_path, env=env)
    assert code == 2, done.stderr
    assert "bandit not found" in report["stages"][0]["error"]


def test_precedence_env_over_config_over_user(tmp_path: Path) -> None:
    cfg = tmp_path / "airlock" / "config.toml"
    cfg.parent.mkdir(parents=True)
    cfg.write_text('[tools.semgrep]\npath = "/user/semgrep"\n[tools.bandit]\npath = "user-bandit"\n')
    env = {"XDG_CONFIG_HOME": str(tmp_path), env_var("trivy-secret"): "/env/trivy"}
    assert user_config_path(env) == cfg
    policy = with_trusted_tool_paths(load_repo_policy({}.get, tmp_path), env)
    assert policy.tool("semgrep").path == "/user/semgrep" and policy.tool("bandit").path == "user-bandit"
    assert policy.tool("trivy-secret").path == "/env/trivy" and policy.tool("checkov").path is None


def test_user_config_holds_only_tool_paths(tmp_path: Path) -> None:
    cfg = tmp_path / "airlock" / "config.toml"
    cfg.parent.mkdir(parents=True)
    cfg.write_text('[gate]\nfail_on = "critical"\n')
    with pytest.raises(UsageError, match="unknown key 'gate'"):
        with_trusted_tool_paths(load_repo_policy({}.get, tmp_path), {"XDG_CONFIG_HOME": str(tmp_path)})
