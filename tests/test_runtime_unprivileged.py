"""The runtime stage run by an unprivileged user, in the same test run as the root runs (tests/test_runtime_sandbox.py).

airlock as a normal user must hold the same line: the sandbox maps to that user, nothing changes on the host, and the
attacks are reported with the same rule ids. The user is `nobody`, via setpriv; airlock runs with the system
Python of the same version over this venv's packages, because the venv's own Python lives under /root.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from airlock.pipeline.fsutil import rmtree
from tests.conftest import FIXTURES, ROOT

NOBODY = 65534
SYSTEM_PYTHON = Path(f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}")
CASES = {
    "27-sysctl-write-back": "runtime.fs.write-outside-workspace",
    "28-host-dir-read": "runtime.fs.hidden-read",
    "30-deep-tree": "runtime.probe.overflow",
    "32-keyring-add": "runtime.sandbox.syscall-refused",
    "33-io-uring-setup": "runtime.sandbox.syscall-refused",
    "34-daemon": "runtime.process.daemon",
}


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A scratch dir the unprivileged user can use (pytest's own tmp dirs are root-only)."""
    if os.geteuid() != 0:
        pytest.skip("LOUD: these tests switch to an unprivileged user and need root to do it; run them as root")
    if not SYSTEM_PYTHON.exists() or shutil.which("setpriv") is None:
        pytest.fail(f"{SYSTEM_PYTHON} and setpriv (util-linux) are needed to run airlock as nobody")
    d = Path(tempfile.mkdtemp(prefix="airlock-unpriv-test-", dir="/tmp"))
    d.chmod(0o777)
    try:
        yield d
    finally:
        rmtree(d)


def _scan_as_nobody(project: Path, work: Path) -> tuple[int, dict]:
    site = next(p for p in sys.path if p.endswith("site-packages") and str(Path(sys.prefix)) in p)
    out = work / "report.json"
    env = {"HOME": str(work), "TMPDIR": str(work), "PATH": "/usr/bin:/bin", "PYTHONPATH": f"{ROOT}:{site}"}
    done = subprocess.run(
        ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--", str(SYSTEM_PYTHON), "-m",
         "pipeline", "scan", str(project), "--stages", "runtime", "--json-output", str(out)],
        env=env, capture_output=True, text=True, timeout=600, cwd=work,
    )  # fmt: skip
    assert out.exists(), done.stderr
    return done.returncode, json.loads(out.read_text())


@pytest.mark.parametrize("case", sorted(CASES), ids=str)
def test_attack_reported_when_airlock_runs_unprivileged(case: str, shared_dir: Path) -> None:
    project = shared_dir / "project"
    shutil.copytree(FIXTURES / "runtime" / "redteam" / case, project)
    for p in [project, *project.rglob("*")]:
        p.chmod(0o777 if p.is_dir() else 0o666)
    code, report = _scan_as_nobody(project, shared_dir)
    stage = next(s for s in report["stages"] if s["name"] == "runtime")
    assert stage["status"] == "failed", stage
    assert CASES[case] in {f["rule_id"] for f in report["findings"]}
    assert code == 1
    assert f"ran as airlock's own uid {NOBODY}" in " ".join(report["notes"])
    assert not list(shared_dir.glob("airlock-*"))


def test_benign_run_is_clean_when_unprivileged(shared_dir: Path) -> None:
    project = shared_dir / "project"
    shutil.copytree(FIXTURES / "runtime" / "benign" / "02-writes", project)
    for p in [project, *project.rglob("*")]:
        p.chmod(0o777 if p.is_dir() else 0o666)
    code, report = _scan_as_nobody(project, shared_dir)
    assert [f for f in report["findings"] if f["stage"] == "runtime"] == []
    assert code == 0
