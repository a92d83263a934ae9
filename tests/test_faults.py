"""Faults and interrupts: airlock never waits on an orphan, never trusts a flooding tool, and leaves nothing behind.

The waits below (subprocess timeouts, bounded polls) only guard against a hang; no assertion is on timing.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from airlock.pipeline import proc, scratch
from airlock.pipeline.models import ScanResult, ToolStatus
from airlock.pipeline.runner import Job, run_jobs
from airlock.pipeline.workspace import temp_dir
from tests.conftest import FIXTURES, airlock_env

HANG_GUARD_S = 60


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _wait_for(cond, what: str, limit: float = HANG_GUARD_S) -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + limit
    while not cond():
        if time.monotonic() > end:
            pytest.fail(f"never happened: {what}")
        time.sleep(0.05)


def _run_isolated(code: str) -> subprocess.CompletedProcess[str]:
    """proc.run in a child Python, so a hang fails this test instead of freezing the suite."""
    return subprocess.run(
        [sys.executable, "-c", code], env=airlock_env(), capture_output=True, text=True, timeout=HANG_GUARD_S
    )


# --- a grandchild in another session ------------------------------------------------------------------


def test_timeout_does_not_wait_for_a_grandchild_in_another_session(tmp_path: Path) -> None:
    pidfile = tmp_path / "escapee.pid"
    script = f'setsid sh -c "echo \\$\\$ > {pidfile}; exec sleep 300" & sleep 300'
    done = _run_isolated(
        "from airlock.pipeline import proc\n"
        f"d = proc.run(['sh', '-c', {script!r}], timeout_s=2)\n"
        "print(d.timed_out, d.returncode)\n"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "-9"]
    _wait_for(pidfile.exists, "the escapee wrote its pid")
    pid = int(pidfile.read_text())
    _wait_for(lambda: not _alive(pid), "the escapee holding the pipes was killed")


def test_a_tool_that_exits_leaving_an_escapee_returns_its_own_result(tmp_path: Path) -> None:
    pidfile = tmp_path / "escapee.pid"
    script = f'setsid sh -c "echo \\$\\$ > {pidfile}; exec sleep 300" & echo done'
    done = _run_isolated(
        "from airlock.pipeline import proc\n"
        f"d = proc.run(['sh', '-c', {script!r}], timeout_s=250)\n"
        "print(d.timed_out, d.returncode, d.stdout.strip())\n"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "0", "done"]
    if pidfile.exists():
        pid = int(pidfile.read_text())
        _wait_for(lambda: not _alive(pid), "the escapee was killed")


def test_stdin_is_fed_and_output_read_without_deadlock() -> None:
    data = os.urandom(3 * 1024 * 1024)
    code, out, _err = proc.run_bytes(["cat"], timeout_s=HANG_GUARD_S, stdin=data)
    assert code == 0 and out == data


def test_run_bytes_timeout_is_a_failed_code_not_an_exception() -> None:
    code, out, err = proc.run_bytes(["sleep", "30"], timeout_s=0.5)
    assert code != 0 and out == b"" and "timed out" in err


# --- output cap -----------------------------------------------------------------------------------------


def test_output_past_the_cap_kills_the_tool_and_raises() -> None:
    with pytest.raises(proc.OutputTooLarge, match="more than 1 MiB"):
        proc.run(["yes"], timeout_s=HANG_GUARD_S, max_output=1024 * 1024)


class _Flooder:
    name = "semgrep"
    stage = "sast"

    def targets(self, ctx: object) -> tuple[str, ...]:
        return ("a.py",)

    def run(self, ctx: object, targets: tuple[str, ...]) -> ScanResult:
        done = proc.run(["yes", "{}"], timeout_s=HANG_GUARD_S, max_output=1024 * 1024)
        return ScanResult(self.name, self.stage, ToolStatus.OK, notes=(done.stdout[:10],))


def test_a_flooding_tool_is_a_stage_error_never_a_truncated_result() -> None:
    [result] = run_jobs([Job(_Flooder(), None)])  # type: ignore[arg-type]
    assert result.status is ToolStatus.ERROR
    assert "yes wrote more than 1 MiB of output and was stopped" in result.error


def test_a_cancelled_run_starts_nothing_and_jobs_become_errors() -> None:
    proc.cancel("SIGTERM")
    try:
        with pytest.raises(proc.Cancelled):
            proc.run(["true"], timeout_s=5)
        [result] = run_jobs([Job(_Flooder(), None)])  # type: ignore[arg-type]
    finally:
        proc.reset_cancel()
    assert result.status is ToolStatus.ERROR
    assert result.error == "interrupted (SIGTERM): semgrep did not finish"


# --- scratch dirs -------------------------------------------------------------------------------------


def test_temp_dir_removes_an_unwritable_deep_tree() -> None:
    with temp_dir("head") as d:
        deep = d.joinpath(*["d"] * 50)
        deep.mkdir(parents=True)
        (deep / "f").write_text("x")
        (d / "d").chmod(0o500)
        (d / "locked").mkdir()
        (d / "locked" / "f").write_text("x")
        (d / "locked").chmod(0)
    assert not d.exists()


def test_sweep_removes_dirs_of_dead_owners_only(tmp_path: Path) -> None:
    dead = subprocess.run(["true"], check=True)  # noqa: F841 - a pid that has exited
    child = subprocess.Popen(["true"])
    child.wait()
    ns = str(os.stat("/proc/self/ns/pid").st_ino)
    stale = tmp_path / f"airlock-head.{child.pid}.12345.{ns}.abcd"
    stale.mkdir()
    (stale / "copy.py").write_text("secret")
    mine = scratch.make_dir("head", tmp_path)
    other_ns = tmp_path / f"airlock-head.{child.pid}.12345.1.abcd"
    other_ns.mkdir()
    unrelated = tmp_path / "airlock-notes"
    unrelated.mkdir()
    assert scratch.sweep(tmp_path) == [stale]
    assert not stale.exists() and mine.exists() and other_ns.exists() and unrelated.exists()


def test_cache_dir_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert scratch.cache_dir() == tmp_path / "airlock"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/dir")  # not absolute: ignored, as the XDG spec says
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert scratch.cache_dir() == tmp_path / "home" / ".cache" / "airlock"


# --- signals, with the real CLI and real tools ----------------------------------------------------------

SLOW_TOOL = """#!/bin/sh
echo $$ > {pidfile}
exec sleep 300
"""


def _slow_scan(tmp_path: Path) -> tuple[subprocess.Popen[str], Path, Path, Path]:
    """airlock scanning with a semgrep that never finishes (a trusted --config names it)."""
    pidfile = tmp_path / "tool.pid"
    tool = tmp_path / "slow-semgrep"
    tool.write_text(SLOW_TOOL.format(pidfile=pidfile))
    tool.chmod(0o755)
    cfg = tmp_path / "airlock.toml"
    cfg.write_text(f'[tools.semgrep]\npath = "{tool}"\n')
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    out = tmp_path / "out.json"
    p = subprocess.Popen(
        [sys.executable, "-m", "airlock", "scan", str(FIXTURES / "sast" / "vulnerable"), "--stages", "sast",
         "--config", str(cfg), "--json-output", str(out), "--junit-output", str(tmp_path / "out.xml")],
        env=airlock_env({"TMPDIR": str(tmpdir), "PYTHONFAULTHANDLER": "1"}),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    _wait_for(lambda: pidfile.exists() and pidfile.read_text().strip() != "", "the slow tool started")
    return p, pidfile, tmpdir, out


def _finish(p: subprocess.Popen[str]) -> str:
    """airlock's stderr once it exits; on a hang, its threads' stacks (faulthandler) in the failure."""
    try:
        return p.communicate(timeout=HANG_GUARD_S)[1]
    except subprocess.TimeoutExpired:
        p.send_signal(signal.SIGABRT)
        pytest.fail(f"airlock did not exit:\n{p.communicate(timeout=HANG_GUARD_S)[1]}")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_signal_stops_the_tools_and_writes_an_incomplete_report(tmp_path: Path, sig: signal.Signals) -> None:
    p, pidfile, tmpdir, out = _slow_scan(tmp_path)
    tool_pid = int(pidfile.read_text())
    if sig == signal.SIGHUP:  # the terminal went away: stdout is gone, the report files must still be written
        assert p.stdout is not None
        p.stdout.close()
    p.send_signal(sig)
    stderr = _finish(p)
    assert p.returncode == 2, stderr
    assert not _alive(tool_pid)
    report = json.loads(out.read_text())
    assert report["gate"]["verdict"] == "error"
    why = f"airlock was interrupted ({sig.name}): this report is incomplete, no verdict"
    assert report["gate"]["reasons"][0] == why
    semgrep = next(t for t in report["stages"][0]["tools"] if t["name"] == "semgrep")
    assert semgrep["status"] == "error" and semgrep["error"] == f"interrupted ({sig.name}): semgrep did not finish"
    assert f"semgrep: interrupted ({sig.name})" in (tmp_path / "out.xml").read_text()
    assert os.listdir(tmpdir) == []


def test_sigkill_leaves_no_tool_and_no_copy_behind(tmp_path: Path) -> None:
    p, pidfile, tmpdir, _out = _slow_scan(tmp_path)
    tool_pid = int(pidfile.read_text())
    assert any(n.startswith("airlock-run.") for n in os.listdir(tmpdir))
    p.kill()
    p.communicate(timeout=HANG_GUARD_S)
    _wait_for(lambda: not _alive(tool_pid), "the watchdog killed the orphaned tool")
    _wait_for(lambda: os.listdir(tmpdir) == [], "the watchdog removed the scratch root")


def test_the_next_run_sweeps_scratch_dirs_of_a_dead_run(tmp_path: Path) -> None:
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    child = subprocess.Popen(["true"])
    child.wait()
    ns = str(os.stat("/proc/self/ns/pid").st_ino)
    stale = tmpdir / f"airlock-run.{child.pid}.1.{ns}.x1y2"
    (stale / "airlock-head.1.1.1.zz").mkdir(parents=True)
    (stale / "airlock-head.1.1.1.zz" / "app.py").write_text("copy of the repository")
    done = subprocess.run(
        [sys.executable, "-m", "airlock", "scan", "--help"],
        env=airlock_env({"TMPDIR": str(tmpdir)}), capture_output=True, text=True, timeout=HANG_GUARD_S,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert os.listdir(tmpdir) == []


# --- tool caches ------------------------------------------------------------------------------------------


def test_a_real_scan_leaves_nothing_in_tmpdir_or_home(tmp_path: Path) -> None:
    tmpdir, home, tree = tmp_path / "tmp", tmp_path / "home", tmp_path / "tree"
    for d in (tmpdir, home, tree):
        d.mkdir()
    (tree / "app.py").write_text("import os\nos.system(input())\n")
    (tree / "main.tf").write_text('resource "aws_s3_bucket" "b" {\n  acl = "public-read"\n}\n')
    env = airlock_env({"TMPDIR": str(tmpdir), "HOME": str(home)})
    for var in ("XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"):
        env.pop(var, None)
    out = tmp_path / "out.json"
    done = subprocess.run(
        [sys.executable, "-m", "airlock", "scan", str(tree), "--stages", "sast,iac", "--json-output", str(out)],
        env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    tools = {t["name"]: t["status"] for s in json.loads(out.read_text())["stages"] for t in s["tools"]}
    assert tools == {"semgrep": "ok", "bandit": "ok", "trivy-secret": "ok", "checkov": "ok"}
    # The tools leave nothing; what is left in HOME is airlock's own content cache, at its default place.
    left = sorted(str(p.relative_to(tmp_path)) for p in (*tmpdir.rglob("*"), *home.rglob("*")))
    assert [p for p in left if not p.startswith("home/.cache/airlock/")] == ["home/.cache", "home/.cache/airlock"]
    assert any(p.endswith(".json") for p in left)


def test_interrupted_before_the_scan_still_writes_an_incomplete_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airlock.pipeline import cli

    def interrupted(*_a: object, **_k: object) -> None:
        proc.cancel("SIGHUP")  # what the handler does; then the next git call refuses to start
        raise proc.Cancelled("airlock was interrupted (SIGHUP); git not started")

    monkeypatch.setattr(cli, "open_change", interrupted)
    out = tmp_path / "out.json"
    try:
        code = cli.main(["scan", str(tmp_path), "--json-output", str(out)])
    finally:
        proc.reset_cancel()
    assert code == 2
    report = json.loads(out.read_text())
    assert report["gate"]["verdict"] == "error"
    assert report["gate"]["reasons"] == ["airlock was interrupted (SIGHUP): this report is incomplete, no verdict"]


def test_a_usage_error_naming_a_hostile_file_stays_one_inert_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from airlock.pipeline import cli
    from airlock.pipeline.errors import UsageError

    def bad(*_a: object, **_k: object) -> None:
        raise UsageError("git apply failed:\n::warning file=x::pwned\x1b[2J")

    monkeypatch.setattr(cli, "open_change", bad)
    assert cli.main(["scan", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err == "airlock: error: git apply failed:\\n::warning file=x::pwned\\x1b[2J\n"
