"""The pre-commit hook, run by the real pre-commit against a throwaway repository."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import GIT_ENV, ROOT, airlock_env, git, make_repo, write_files

# pre-commit lives in its own venv (made by `make test`): checkov pins packaging<24 and current
# pre-commit's virtualenv needs a newer one, so the two cannot share airlock's venv.
PRE_COMMIT = Path(os.environ.get("AIRLOCK_PRE_COMMIT", ROOT / ".venv-pre-commit" / "bin" / "pre-commit"))


def _run_hook(repo: Path) -> subprocess.CompletedProcess[str]:
    if not PRE_COMMIT.exists():
        pytest.fail(f"pre-commit not found at {PRE_COMMIT}: run `make test` (it installs it) or set AIRLOCK_PRE_COMMIT")
    env = airlock_env({**GIT_ENV, "PRE_COMMIT_HOME": str(repo.parent / "pre-commit-home")})
    # `airlock` on PATH for the system hook: this checkout's CLI, through a tiny shim.
    shim_dir = repo.parent / "bin"
    shim_dir.mkdir(exist_ok=True)
    shim = shim_dir / "airlock"
    shim.write_text(f'#!/bin/sh\nexec {sys.executable} -m pipeline "$@"\n')
    shim.chmod(0o755)
    env["PATH"] = f"{shim_dir}{os.pathsep}{env['PATH']}"
    return subprocess.run(
        [str(PRE_COMMIT), "try-repo", str(ROOT), "airlock-system"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_hook_blocks_a_staged_vulnerability_and_passes_a_clean_change(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"app.py": "x = 1\n"})
    source = (
        "import subprocess\n\nfrom flask import request\n\n\n"
        "def f():\n    subprocess.call(request.args['c'], shell=True)\n"
    )
    write_files(repo, {"app.py": source})
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
