"""The strace parser against real strace output: whatever a file is called, the parser recovers the path the code
spelled and the path the kernel resolved, and a name that imitates strace's own syntax changes nothing."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airlock.pipeline.fsutil import rmtree
from airlock.scanners.runtime import rules
from airlock.scanners.runtime import strace as tracer

STRACE = shutil.which("strace")
pytestmark = pytest.mark.skipif(STRACE is None, reason="LOUD: strace is missing; .ci/run installs it")

# File names a hostile change might choose: strace syntax, quotes, brackets, escapes, non-ASCII, controls.
NAMES = st.lists(
    st.sampled_from(list("ab) =(<>\"'\\,.-_ \t\n{}[]*#:é€\x01\x7f30") + ["-1", " ENOENT", ") = 3<x>"]),
    min_size=1,
    max_size=20,
).map("".join).filter(lambda n: "/" not in n and n not in (".", "..", "-"))  # cat reads stdin for "-"


def _trace_open(dirpath: Path, name: str) -> list[tracer.Event]:
    prefix = dirpath / "log" / "t"
    prefix.parent.mkdir(exist_ok=True)
    for old in prefix.parent.iterdir():
        old.unlink()
    subprocess.run(
        [*tracer.argv(STRACE or "strace", prefix), "--", "cat", "--", name],
        cwd=dirpath, capture_output=True, timeout=30, check=False,
    )  # fmt: skip
    trace = tracer.parse(prefix)
    return [e for p in trace.procs.values() for e in p.events if e.syscall == "openat"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=NAMES)
def test_spelled_and_resolved_paths_survive_any_file_name(name: str) -> None:
    d = Path(tempfile.mkdtemp(prefix="airlock-strace-test-"))
    try:
        (d / name).write_bytes(b"x")
        events = [e for e in _trace_open(d, name) if rules._path_arg(e) == name]
        assert len(events) == 1, [e.line for e in _trace_open(d, name)]
        ev = events[0]
        assert ev.result.isdigit() and ev.errno == ""
        assert ev.fdpath == str(d / name)
        assert rules.resolved_path(ev, "/ws") == str(d / name)
    finally:
        rmtree(d)


def test_a_missing_file_is_resolved_against_the_decoded_dirfd(tmp_path: Path) -> None:
    events = [e for e in _trace_open(tmp_path, "no ) = 3<such>") if rules._path_arg(e) == "no ) = 3<such>"]
    assert len(events) == 1
    ev = events[0]
    assert ev.result == "-1" and ev.errno == "ENOENT" and ev.fdpath == ""
    assert rules.resolved_path(ev, "/ws") == str(tmp_path / "no ) = 3<such>")


def test_lines_imitating_a_result_inside_arguments_keep_the_real_tail(tmp_path: Path) -> None:
    log = tmp_path / "t.7"
    log.write_text(
        'openat(AT_FDCWD</w>, "x) = 5</home/sandbox/.ssh/id_rsa>", O_RDONLY) = -1 ENOENT (No such file or directory)\n'
    )
    ev = tracer.parse(tmp_path / "t").procs[7].events[0]
    assert (ev.result, ev.errno, ev.fdpath) == ("-1", "ENOENT", "")
    assert rules.resolved_path(ev, "/ws") == "/w/x) = 5</home/sandbox/.ssh/id_rsa>"


def test_an_overlong_line_cuts_the_trace_loudly(tmp_path: Path) -> None:
    (tmp_path / "t.9").write_text('openat(AT_FDCWD, "' + "a" * (tracer.MAX_LINE + 10) + '", O_RDONLY) = 3</x>\n')
    assert tracer.parse(tmp_path / "t").truncated is True


def test_a_process_that_runs_the_helpers_path_is_never_taken_for_airlocks_init(tmp_path: Path) -> None:
    """As root, strace runs in its own pid namespace, so pids are small and file names sort as strings ("t.12" before
    "t.5"): a child of the code that execs init.py's path again must not become "init" and hide its siblings."""
    from airlock.scanners.runtime.sandbox import Layout

    lay = Layout.random("x")
    init = f'execve("/usr/bin/python3", ["python3", "-I", "-S", "{lay.init_script}", "{{}}"], 0x1 /* 1 var */) = 0\n'
    (tmp_path / "t.4").write_text(
        'clone(child_stack=NULL, flags=CLONE_NEWPID|SIGCHLD) = 5\n'
    )
    (tmp_path / "t.5").write_text(
        init + "clone(child_stack=NULL, flags=SIGCHLD, child_tidptr=0x1) = 2 /* 6 in strace's PID NS */\n"
    )
    (tmp_path / "t.6").write_text(
        "clone(child_stack=NULL, flags=SIGCHLD, child_tidptr=0x1) = 3 /* 12 in strace's PID NS */\n"
        "clone(child_stack=NULL, flags=SIGCHLD, child_tidptr=0x1) = 4 /* 13 in strace's PID NS */\n"
    )
    (tmp_path / "t.12").write_text(init)
    (tmp_path / "t.13").write_text('openat(AT_FDCWD</w>, "/etc/passwd", O_RDONLY) = 3</etc/passwd>\n')
    trace = tracer.parse(tmp_path / "t")
    assert list(trace.procs)[0] == 12  # the spoof sorts first
    subj, found = rules.subjects(trace, lay)
    assert found == 5
    assert subj == {6, 12, 13}
