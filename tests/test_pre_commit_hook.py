"""The pre-commit hooks, run by the real pre-commit against a throwaway repository."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import GIT_ENV, ROOT, airlock_env, git, make_repo, write_files

# pre-commit lives in its own venv (made by `make test`): checkov pins packaging<24 and current pre-commit's
# virtualenv needs packaging>=26, so the two cannot share one environment. The `language: python` hook does not
# need them to: pre-commit builds the hook its own venv holding airlock and its tools, and nothing else.
PRE_COMMIT = Path(os.environ.get("AIRLOCK_PRE_COMMIT", ROOT / ".venv-pre-commit" / "bin" / "pre-commit"))
# Request data to a shell: semgrep's taint rule confirms the source, so it gates at the default (high).
VULNERABLE = (
    "import subprocess\n\nfrom flask import request\n\n\n"
    "def f():\n    subprocess.call(request.args['c'], shell=True)\n"
)


def _run_hook(repo: Path, hook: str = "airlock-system", home: Path | None = None) -> subprocess.CompletedProcess[str]:
    if not PRE_COMMIT.exists():
        pytest.fail(f"pre-commit not found at {PRE_COMMIT}: run `make test` (it installs it) or set AIRLOCK_PRE_COMMIT")
    env = airlock_env({**GIT_ENV, "PRE_COMMIT_HOME": str(home or repo.parent / "pre-commit-home")})
    if hook == "airlock-system":
        # `airlock` on PATH for the system hook: this checkout's CLI, through a tiny shim.
        shim_dir = repo.parent / "bin"
        shim_dir.mkdir(exist_ok=True)
        shim = shim_dir / "airlock"
        shim.write_text(f'#!/bin/sh\nexec {sys.executable} -m airlock "$@"\n')
        shim.chmod(0o755)
        env["PATH"] = f"{shim_dir}{os.pathsep}{env['PATH']}"
    else:
        # The python hook must find everything in its own venv: not this checkout, not airlock's venv.
        env.pop("PYTHONPATH", None)
        env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if p != str(Path(sys.executable).parent))
    # The system hook is tried straight from this checkout; the python hook is pinned in the repo's own config.
    argv = ["try-repo", str(ROOT), hook] if hook == "airlock-system" else ["run", hook]
    return subprocess.run(
        [str(PRE_COMMIT), *argv, "--verbose"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )


def test_hook_blocks_a_staged_vulnerability_and_passes_a_clean_change(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"app.py": "x = 1\n"})
    write_files(repo, {"app.py": VULNERABLE})
    git(repo, "add", "app.py")
    done = _run_hook(repo)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "airlock security gate (airlock on PATH)" in done.stdout and "Failed" in done.stdout
    assert "airlock.command-injection.subprocess-shell-true" in done.stdout or "B602" in done.stdout
    assert "gate: FAILED" in done.stdout

    write_files(repo, {"app.py": "def f(a, b):\n    return a + b\n"})
    git(repo, "add", "app.py")
    done = _run_hook(repo)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Passed" in done.stdout


def _hook_repo(dest: Path) -> Path:
    """This checkout as it is now (uncommitted edits included), committed to a repository pre-commit can pin."""
    dest.mkdir()
    for name in ("pyproject.toml", "README.md", ".pre-commit-hooks.yaml"):
        shutil.copy2(ROOT / name, dest / name)
    for pkg in ("pipeline", "scanners", "reports"):
        shutil.copytree(ROOT / pkg, dest / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "airlock", dest / "airlock", symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
    git(dest, "init", "-q", "-b", "main")
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", "airlock under test")
    return dest


def test_the_python_hook_installs_airlock_in_its_own_venv_and_gates(tmp_path: Path) -> None:
    """`language: python`: pre-commit pip-installs this repository (and semgrep, bandit, checkov, trivy) into the
    hook's own venv from PyPI, so the first run takes minutes; the second reuses that venv."""
    source = _hook_repo(tmp_path / "airlock-src")
    repo = make_repo(tmp_path / "repo", {"app.py": "x = 1\n"})
    sha = git(source, "rev-parse", "HEAD")
    config = f"repos:\n-   repo: {source}\n    rev: {sha}\n    hooks:\n    -   id: airlock\n"
    write_files(repo, {".pre-commit-config.yaml": config})
    git(repo, "add", ".pre-commit-config.yaml")
    git(repo, "commit", "-q", "-m", "hook")
    write_files(repo, {"app.py": VULNERABLE})
    git(repo, "add", "app.py")
    home = tmp_path / "pre-commit-home"
    done = _run_hook(repo, "airlock", home)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "airlock security gate" in done.stdout and "Failed" in done.stdout
    assert "B602" in done.stdout and "gate: FAILED" in done.stdout
    assert "airlock.command-injection.subprocess-shell-true" in done.stdout  # semgrep ran, with airlock's own ids
    assert list(home.glob("repo*/py_env-*/bin/airlock")), "the hook did not install airlock into its own venv"

    write_files(repo, {"app.py": "def f(a, b):\n    return a + b\n"})
    git(repo, "add", "app.py")
    done = _run_hook(repo, "airlock", home)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Passed" in done.stdout
