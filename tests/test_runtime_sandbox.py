"""The runtime stage end to end: the real CLI, real bubblewrap, real strace, over the red-team and benign suites.

Every red-team behaviour must be contained (the host and the original fixture are unchanged, nothing left the
machine) and reported with its rule id; the benign suite must give zero runtime findings.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, airlock_env, scan_json

REDTEAM = FIXTURES / "runtime" / "redteam"
BENIGN = FIXTURES / "runtime" / "benign"
HOST_SENTINELS = [Path("/etc/x"), Path("/mnt/pwned"), Path("/var/spool/cron/crontabs/root")]


def _tree_hash(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        h.update(str(p.relative_to(root)).encode())
        if p.is_file() and not p.is_symlink():
            h.update(p.read_bytes())
            h.update(oct(p.stat().st_mode).encode())
    return h.hexdigest()


def _file_hash(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "absent"


def _scratch_dirs(tmpdir: Path) -> set[str]:
    return {p.name for p in tmpdir.glob("airlock-*")}


def _runtime_findings(report: dict) -> list[dict]:
    return [f for f in report["findings"] if f["stage"] == "runtime"]


@pytest.fixture(scope="module", autouse=True)
def _needs_sandbox() -> None:
    assert shutil.which("strace"), "strace is required (apt package strace; .ci/run installs it)"


@pytest.mark.parametrize("case", sorted(p.name for p in REDTEAM.iterdir()), ids=str)
def test_redteam_behaviour_is_contained_and_reported(case: str, tmp_path: Path) -> None:
    src = REDTEAM / case
    expected = set((src / "EXPECT").read_text().split())
    project = tmp_path / "project"
    shutil.copytree(src, project, symlinks=True)
    before_fixture = _tree_hash(project)
    home = Path(os.path.expanduser("~"))
    host_files = {p: _file_hash(p) for p in [home / ".bashrc", home / ".ssh" / "id_rsa", *HOST_SENTINELS]}

    # A temp dir of this scan's own, so other processes on the machine cannot blur what it left behind.
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    code, report, done = scan_json(
        project, "--stages", "runtime", tmp_path=tmp_path, env=airlock_env({"TMPDIR": str(tmpdir)})
    )

    assert report, done.stderr
    # Nothing left behind, whatever the code built in its sandbox.
    assert _scratch_dirs(tmpdir) == set()
    stage = next(s for s in report["stages"] if s["name"] == "runtime")
    assert stage["status"] in ("passed", "failed"), stage
    got = {f["rule_id"] for f in _runtime_findings(report)}
    assert expected <= got, f"missing {sorted(expected - got)}; got {sorted(got)}"
    # Contained: the original tree is never written to, and the host is unchanged.
    assert _tree_hash(project) == before_fixture
    assert {p: _file_hash(p) for p in host_files} == host_files
    # Every runtime finding carries evidence naming the command.
    for f in _runtime_findings(report):
        assert f["evidence"], f
    if any(f["severity"] in ("high", "critical") for f in _runtime_findings(report)):
        assert code == 1


def test_exfiltrated_canary_never_appears_in_the_report(tmp_path: Path) -> None:
    project = tmp_path / "p"
    shutil.copytree(REDTEAM / "22-env-token-stdout", project)
    out = tmp_path / "r.json"
    from tests.conftest import run_airlock

    done = run_airlock("scan", project, "--stages", "runtime", "--json-output", out)
    text = out.read_text() + done.stdout + done.stderr
    assert "runtime.secret.exfiltration" in text
    # The tokens are random per run, so look for any token in a planted provider format (GITHUB_TOKEN is ghs_...).
    from airlock.scanners.runtime.canaries import FORMATS

    for name, fmt in FORMATS.items():
        assert name == "aws-secret" or not fmt.search(text), name  # a bare 40-character run is no telltale


@pytest.mark.parametrize("case", sorted(p.name for p in BENIGN.iterdir()), ids=str)
def test_benign_runs_give_no_runtime_findings(case: str, tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(BENIGN / case, project)
    code, report, done = scan_json(project, "--stages", "runtime", tmp_path=tmp_path)
    assert report, done.stderr
    assert _runtime_findings(report) == []
    assert code == 0
    notes = " ".join(report.get("notes", []))
    assert "exit 0" in notes


def test_run_flag_overrides_policy_commands(tmp_path: Path) -> None:
    project = tmp_path / "p"
    shutil.copytree(BENIGN / "02-writes", project)
    (project / "airlock.toml").write_text('[runtime]\ncommands = ["true"]\ntimeout_s = 1\n')
    code, report, _ = scan_json(project, "--stages", "runtime", "--run", "sleep 30", tmp_path=tmp_path)
    assert [f["rule_id"] for f in _runtime_findings(report)] == ["runtime.timeout"]
    assert code == 1  # runtime.timeout is medium, and the runtime stage's default threshold is medium


def test_no_commands_skips_the_stage(tmp_path: Path) -> None:
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "README.md").write_text("docs only\n")
    code, report, _ = scan_json(tmp_path / "p", "--stages", "runtime", tmp_path=tmp_path)
    assert next(s for s in report["stages"] if s["name"] == "runtime")["status"] == "skipped"


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_interrupt_during_a_sandboxed_run_leaves_nothing_behind(sig: str, tmp_path: Path) -> None:
    """Ctrl-C or CI's SIGTERM while a command runs: the sandbox and its scratch dir are gone within seconds."""
    import signal
    import subprocess
    import sys
    import time

    project = tmp_path / "p"
    project.mkdir()
    marker = f"{os.getpid() % 1000}.{len(sig)}1377"  # a sleep length no other process uses
    (project / "airlock.toml").write_text(f'[runtime]\ncommands = ["sleep {marker}"]\n')
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    p = subprocess.Popen(
        [sys.executable, "-m", "airlock", "scan", str(project), "--stages", "runtime"],
        env=airlock_env({"TMPDIR": str(tmpdir)}), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not _running(f"sleep {marker}"):
        time.sleep(0.2)
    assert _running(f"sleep {marker}"), "the sandboxed command never started"
    p.send_signal(getattr(signal, sig))
    out, err = p.communicate(timeout=60)  # the command sleeps far longer: it must have been stopped
    assert p.returncode == 2, err
    assert "interrupted" in out + err
    assert not _running(f"sleep {marker}")
    assert _scratch_dirs(tmpdir) == set()


def _running(cmdline: str) -> bool:
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            text = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text.strip() == cmdline:
            return True
    return False


def test_read_only_binds_under_tmp_survive_the_sandboxs_own_tmp(tmp_path: Path) -> None:
    """A venv in a checkout below /tmp (a CI clone there) must stay visible although /tmp is the sandbox's own."""
    import tempfile

    from airlock.pipeline.fsutil import rmtree

    shared = Path(tempfile.mkdtemp(prefix="airlock-bind-test-", dir="/tmp"))
    try:
        shared.chmod(0o755)
        (shared / "marker").write_text("seen\n")
        (shared / "marker").chmod(0o644)
        project = tmp_path / "p"
        project.mkdir()
        config = tmp_path / "trusted.toml"
        config.write_text(f'[runtime]\ncommands = ["test -f {shared}/marker"]\nread_paths = ["{shared}"]\n')
        code, report, done = scan_json(project, "--stages", "runtime", "--config", config, tmp_path=tmp_path)
        assert report, done.stderr
        assert "(exit 0;" in " ".join(report["notes"]), report["notes"]
        assert code == 0
    finally:
        rmtree(shared)


# --- the project's toolchain, not airlock's own installation ------------------------------------------------------


def _env_without_venv() -> dict[str, str]:
    from tests.conftest import airlock_env

    env = airlock_env()
    env.pop("VIRTUAL_ENV", None)
    return env


def test_airlocks_own_venv_and_code_stay_out_of_the_sandbox(tmp_path: Path) -> None:
    """A payload that finds airlock's code can read its probes and dodge them: none of it is bound in."""
    import sys

    from tests.conftest import ROOT

    project = tmp_path / "p"
    project.mkdir()
    (project / "look.sh").write_text(
        f"test -e {sys.prefix} && exit 3\n"
        f"test -e {ROOT}/scanners && exit 4\n"
        "command -v airlock && exit 5\n"
        "python3 -c 'import airlock' 2>/dev/null && exit 6\n"
        "exit 0\n"
    )
    (project / "airlock.toml").write_text('[runtime]\ncommands = ["sh look.sh"]\n')
    code, report, done = scan_json(project, "--stages", "runtime", tmp_path=tmp_path, env=_env_without_venv())
    assert report, done.stderr
    assert "(exit 0;" in " ".join(report["notes"]), report["notes"]
    assert code == 0


def _make_venv(where: Path) -> Path:
    import subprocess
    import sys

    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True, timeout=120)
    site = next(where.glob("lib/python3*/site-packages"))
    (site / "projmarker.py").write_text("WHO = 'the project'\n")
    return where


def test_project_venv_from_trusted_config_is_the_sandboxs_python(tmp_path: Path) -> None:
    import sys

    venv = _make_venv(tmp_path / "project-venv")
    project = tmp_path / "p"
    project.mkdir()
    (project / "check.py").write_text(
        "import os, sys, projmarker\n"
        f"assert sys.prefix == {str(venv)!r}, sys.prefix\n"
        f"assert os.environ['VIRTUAL_ENV'] == {str(venv)!r}\n"
        f"assert not os.path.exists({sys.prefix!r})\n"
    )
    config = tmp_path / "trusted.toml"
    config.write_text(f'[runtime]\ncommands = ["python check.py"]\nvenv = "{venv}"\n')
    code, report, done = scan_json(
        project, "--stages", "runtime", "--config", config, tmp_path=tmp_path, env=_env_without_venv()
    )
    assert report, done.stderr
    assert "(exit 0;" in " ".join(report["notes"]), report["notes"]
    assert [f["rule_id"] for f in _runtime_findings(report)] == []
    assert code == 0


def test_active_virtualenv_is_the_projects_toolchain(tmp_path: Path) -> None:
    """Without [runtime] venv, the venv active where airlock starts ($VIRTUAL_ENV) is the project's."""
    venv = _make_venv(tmp_path / "active-venv")
    project = tmp_path / "p"
    project.mkdir()
    (project / "airlock.toml").write_text('[runtime]\ncommands = ["python -c \\"import projmarker\\""]\n')
    env = {**_env_without_venv(), "VIRTUAL_ENV": str(venv)}
    code, report, done = scan_json(project, "--stages", "runtime", tmp_path=tmp_path, env=env)
    assert report, done.stderr
    assert "(exit 0;" in " ".join(report["notes"]), report["notes"]
    assert code == 0


def test_project_interpreter_is_python_in_the_sandbox(tmp_path: Path) -> None:
    import sys

    system = Path(f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}")
    if not system.exists():
        pytest.fail(f"{system} is needed (Debian's python3; .ci/run installs it)")
    project = tmp_path / "p"
    project.mkdir()
    (project / "check.py").write_text("import sys\nassert sys.prefix == '/usr', sys.prefix\n")
    config = tmp_path / "trusted.toml"
    config.write_text(f'[runtime]\ncommands = ["python check.py", "python3 check.py"]\ninterpreter = "{system}"\n')
    code, report, done = scan_json(
        project, "--stages", "runtime", "--config", config, tmp_path=tmp_path, env=_env_without_venv()
    )
    assert report, done.stderr
    notes = " ".join(report["notes"])
    assert "command 1 (exit 0;" in notes and "command 2 (exit 0;" in notes, report["notes"]
    assert code == 0


def test_a_missing_project_venv_is_a_stage_error(tmp_path: Path) -> None:
    project = tmp_path / "p"
    project.mkdir()
    config = tmp_path / "trusted.toml"
    config.write_text(f'[runtime]\ncommands = ["true"]\nvenv = "{tmp_path / "nowhere"}"\n')
    code, report, done = scan_json(project, "--stages", "runtime", "--config", config, tmp_path=tmp_path)
    stage = next(s for s in report["stages"] if s["name"] == "runtime")
    assert stage["status"] == "error", stage
    assert "no virtualenv there" in json.dumps(report)
    assert code == 2
