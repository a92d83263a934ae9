"""Shared test helpers: run the real CLI, build throwaway git repositories from fixtures."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
SARIF_SCHEMA = ROOT / "tests" / "schemas" / "sarif-schema-2.1.0.json"

GIT_ENV = {
    "GIT_AUTHOR_NAME": "agent",
    "GIT_AUTHOR_EMAIL": "agent@example.invalid",
    "GIT_COMMITTER_NAME": "agent",
    "GIT_COMMITTER_EMAIL": "agent@example.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
}


def airlock_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    # This checkout's code, even when another checkout is installed in the venv.
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    bindir = str(Path(sys.executable).parent)
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
    env.pop("NO_COLOR", None)
    # The runtime fixtures' project toolchain (pytest, pip) is the test venv, as if it were activated.
    if sys.prefix != sys.base_prefix:
        env.setdefault("VIRTUAL_ENV", sys.prefix)
    if extra:
        env.update(extra)
    return env


def run_airlock(
    *args: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "airlock", *map(str, args)],
        cwd=cwd or ROOT,
        env=env or airlock_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def scan_json(
    *args: str | Path, tmp_path: Path, **kw: Any
) -> tuple[int, dict[str, Any], subprocess.CompletedProcess[str]]:
    """Run `airlock scan ... --json-output` and return (exit code, report, process)."""
    out = tmp_path / f"report-{len(list(tmp_path.glob('report-*.json')))}.json"
    done = run_airlock("scan", *args, "--json-output", out, **kw)
    report = json.loads(out.read_text()) if out.exists() else {}
    return done.returncode, report, done


def cache_notes(report: dict[str, Any]) -> dict[str, str]:
    """tool -> "N of M" from a report's cache notes; a tool that took nothing from the cache is absent."""
    out = {}
    for note in report["notes"]:
        if note.endswith(" file(s) from the cache"):
            tool, rest = note.split(": ", 1)
            out[tool] = rest.removesuffix(" file(s) from the cache")
    return out


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=repo, env={**os.environ, **GIT_ENV}, capture_output=True, text=True, timeout=60, check=True
    )
    return done.stdout.strip()


def make_repo(path: Path, files: dict[str, str] | Path, message: str = "base") -> Path:
    """A git repository at path with one commit holding files (a dict, or a fixture dir to copy)."""
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    write_files(path, files)
    commit(path, message)
    return path


def write_files(path: Path, files: dict[str, str] | Path) -> None:
    if isinstance(files, Path):
        shutil.copytree(files, path, dirs_exist_ok=True)
        return
    for rel, text in files.items():
        target = path / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)


def commit(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--allow-empty", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def rule_ids(report: dict[str, Any], *, new_only: bool = False) -> list[str]:
    """Every rule id that reported something; a finding merged across tools counts each source's rule."""
    ids: list[str] = []
    for f in report["findings"]:
        if f["new"] or not new_only:
            ids += sorted({f["rule_id"], *(s["rule_id"] for s in f.get("sources", []))})
    return sorted(ids)


@pytest.fixture
def sarif_validator() -> Any:
    import jsonschema

    schema = json.loads(SARIF_SCHEMA.read_text())
    cls = jsonschema.validators.validator_for(schema)  # the official schema is draft-04
    return cls(schema)


@pytest.fixture(autouse=True)
def private_cache_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test's scans get an empty XDG cache: airlock's content cache never carries one test's results into
    another (a cached result would skip the tool a test means to time out or break), nor into the user's."""
    home = tmp_path_factory.mktemp("xdg-cache")
    monkeypatch.setenv("XDG_CACHE_HOME", str(home))
    return home
