"""cgroups: v2 against a fake kernel (the CgroupFS seam and an injectable root), v1 for real on this host."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from airlock.scanners.runtime import cgroups
from airlock.scanners.runtime.cgroups import EXTRA_PIDS, SELF_LEAF, CgroupFS, open_cgroup
from airlock.scanners.runtime.sandbox import Limits

LIMITS = Limits(wall_s=30, cpu_s=10, memory_mb=64, pids=8, file_size_mb=1)
ALL = "cpuset cpu io memory pids"


class FakeKernel(CgroupFS):
    """A cgroup v2 tree in tmp_path that keeps the kernel's rules airlock relies on: controllers come from the
    parent's subtree_control, a non-root cgroup with processes cannot enable controllers for its children (and
    vice versa), a pid lives in exactly one cgroup, cgroup.kill empties a cgroup, rmdir needs it empty."""

    def __init__(self, mount: Path, *, delegated: bool = False, readonly: bool = False, uid: int = 1000) -> None:
        self.mount = mount
        self.is_delegated = delegated
        self.readonly = readonly
        self.uid = uid
        self.writes: list[tuple[str, str]] = []

    def make(self, path: Path, controllers: str, procs: str = "") -> None:
        path.mkdir(parents=True, exist_ok=True)
        self._files(path, controllers)
        (path / "cgroup.procs").write_text(procs)

    @staticmethod
    def _files(d: Path, controllers: str) -> None:
        files = {
            "cgroup.controllers": controllers,
            "cgroup.subtree_control": "",
            "cgroup.procs": "",
            "cgroup.kill": "",
            "cpu.stat": "usage_usec 0\nuser_usec 0\nsystem_usec 0\n",
        }
        if "pids" in controllers.split():
            files |= {"pids.max": "max", "pids.peak": "0", "pids.events": "max 0\n"}
        if "memory" in controllers.split():
            files |= {
                "memory.max": "max",
                "memory.swap.max": "max",
                "memory.peak": "0",
                "memory.events": "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n",
            }
        for name, text in files.items():
            (d / name).write_text(text)

    def mkdir(self, path: Path) -> None:
        path.mkdir()
        self._files(path, (path.parent / "cgroup.subtree_control").read_text())

    def rmdir(self, path: Path) -> None:
        if (path / "cgroup.procs").read_text().split():
            raise OSError(errno.EBUSY, "Device or resource busy")
        for f in path.iterdir():
            f.unlink()
        path.rmdir()

    def write(self, path: Path, text: str) -> None:
        self.writes.append((str(path.relative_to(self.mount)), text))
        d = path.parent
        if path.name == "cgroup.subtree_control":
            ctl = text.lstrip("+")
            if ctl not in (d / "cgroup.controllers").read_text().split():
                raise OSError(errno.ENOENT, "No such file or directory")
            if (d / "cgroup.procs").read_text().split():  # the no internal process rule (d is not the root)
                raise OSError(errno.EBUSY, "Device or resource busy")
            now = (d / "cgroup.subtree_control").read_text().split()
            path.write_text(" ".join([*now, ctl]))
        elif path.name == "cgroup.procs":
            if (d / "cgroup.subtree_control").read_text().split():
                raise OSError(errno.EBUSY, "Device or resource busy")
            for other in self.mount.rglob("cgroup.procs"):
                other.write_text(" ".join(p for p in other.read_text().split() if p != text))
            path.write_text(" ".join([*path.read_text().split(), text]))
        elif path.name == "cgroup.kill":
            (d / "cgroup.procs").write_text("")
        else:
            path.write_text(text)

    def writable(self, path: Path) -> bool:
        return not self.readonly

    def delegated(self, path: Path) -> bool:
        return self.is_delegated

    def euid(self) -> int:
        return self.uid


def _host(tmp_path: Path, own: str, *, controllers: str = ALL, procs: str = "1 42", **kw: object) -> FakeKernel:
    """A pure v2 host: /sys/fs/cgroup is the unified mount, and we live in `own`."""
    root = tmp_path / "cgroup"
    fk = FakeKernel(root, **kw)  # type: ignore[arg-type]
    fk.make(root, ALL)
    (root / "cgroup.subtree_control").write_text(ALL)
    fk.make(root / own.lstrip("/"), controllers, procs)
    (tmp_path / "self_cgroup").write_text(f"0::{own}\n")
    return fk


def _open(tmp_path: Path, fk: FakeKernel, **kw: object) -> cgroups.CgroupHandle:
    return open_cgroup(
        "airlock-t1",
        LIMITS,
        root=fk.mount,
        proc_cgroup=tmp_path / "self_cgroup",
        fs=fk,
        which=lambda _n: None,
        env={},
        system_dir=tmp_path / "no-systemd",
        **kw,  # type: ignore[arg-type]
    )


def test_v2_container_cgroup_moves_its_processes_into_a_leaf_then_limits_a_child(tmp_path: Path) -> None:
    fk = _host(tmp_path, "/docker/abc", procs="1 42")
    cg = _open(tmp_path, fk)
    base = fk.mount / "docker" / "abc"
    assert cg.kind == "v2"
    assert (base / "cgroup.procs").read_text().split() == []
    assert (base / SELF_LEAF / "cgroup.procs").read_text().split() == ["1", "42"]
    assert (base / "cgroup.subtree_control").read_text().split() == ["pids", "memory", "cpu"]
    d = base / "airlock-t1"
    assert cg.procs_files() == [str(d / "cgroup.procs")]
    assert (d / "pids.max").read_text() == str(LIMITS.pids + EXTRA_PIDS)
    assert (d / "memory.max").read_text() == str(64 << 20)
    assert (d / "memory.swap.max").read_text() == "0"
    assert (cg.has_pids, cg.has_memory, cg.has_cpu) == (True, True, True)
    assert cg.unenforced() == []
    assert cg.why() == ""


def test_v2_subtree_already_divided_is_used_without_moving_anyone(tmp_path: Path) -> None:
    fk = _host(tmp_path, "/ci/job", procs="")
    (fk.mount / "ci" / "job" / "cgroup.subtree_control").write_text("pids memory cpu")
    cg = _open(tmp_path, fk)
    assert cg.kind == "v2"
    assert not (fk.mount / "ci" / "job" / SELF_LEAF).exists()
    assert [w for w in fk.writes if w[0].endswith("cgroup.procs")] == []
    assert cg.unenforced() == []


def test_v2_systemd_unit_not_delegated_is_left_alone_and_says_why(tmp_path: Path) -> None:
    fk = _host(tmp_path, "/system.slice/ci-runner.service", procs="1 42", delegated=False)
    cg = _open(tmp_path, fk)
    base = fk.mount / "system.slice" / "ci-runner.service"
    assert cg.kind == "none"
    assert (base / "cgroup.procs").read_text().split() == ["1", "42"]
    assert not (base / SELF_LEAF).exists()
    assert cg.unenforced() == ["pids", "memory", "cpu"]
    assert "not delegated" in cg.why() and "systemd-run --user --scope -p Delegate=yes" in cg.why()


def test_v2_delegated_systemd_scope_is_divided(tmp_path: Path) -> None:
    fk = _host(tmp_path, "/user.slice/user-1000.slice/user@1000.service/app.slice/run-x.scope", delegated=True)
    cg = _open(tmp_path, fk)
    assert cg.kind == "v2"
    assert cg.unenforced() == []


def test_v2_not_writable_names_the_uid(tmp_path: Path) -> None:
    fk = _host(tmp_path, "/ci/job", readonly=True, uid=1001)
    cg = _open(tmp_path, fk)
    assert cg.kind == "none"
    assert "/ci/job is not delegated to uid 1001" in cg.why()
    assert fk.writes == []


def test_v2_missing_memory_controller_is_named(tmp_path: Path) -> None:
    fk = _host(tmp_path, "/ci/job", controllers="cpu pids")
    cg = _open(tmp_path, fk)
    assert cg.kind == "v2"
    assert (cg.has_pids, cg.has_memory, cg.has_cpu) == (True, False, True)
    assert cg.unenforced() == ["memory"]
    assert "does not give its children memory" in cg.why()
    assert not (fk.mount / "ci" / "job" / "airlock-t1" / "memory.max").exists()


def test_v2_reads_usage_and_limit_events(tmp_path: Path) -> None:
    fk = _host(tmp_path, "/ci/job")
    cg = _open(tmp_path, fk)
    d = fk.mount / "ci" / "job" / "airlock-t1"
    assert (cg.pids_limit_hit(), cg.memory_limit_hit(), cg.cpu_s(), cg.peak_pids()) == (False, False, 0.0, 0)
    (d / "cpu.stat").write_text("usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n")
    (d / "memory.peak").write_text(str(48 << 20))
    (d / "pids.peak").write_text(str(9 + EXTRA_PIDS))
    (d / "pids.events").write_text("max 3\n")
    (d / "memory.events").write_text("low 0\nhigh 0\nmax 7\noom 1\noom_kill 1\noom_group_kill 0\n")
    assert cg.cpu_s() == 2.5
    assert cg.peak_memory_mb() == 48.0
    assert cg.peak_pids() == 11
    assert cg.pids_limit_hit() is True
    assert cg.memory_limit_hit() is True


def test_v2_kill_all_uses_cgroup_kill_and_remove_leaves_nothing(tmp_path: Path) -> None:
    fk = _host(tmp_path, "/ci/job")
    cg = _open(tmp_path, fk)
    d = fk.mount / "ci" / "job" / "airlock-t1"
    (d / "cgroup.procs").write_text("4242 4243")
    cg.remove()  # busy: a cgroup with processes cannot be removed
    assert d.is_dir()
    cg.kill_all()
    assert ("ci/job/airlock-t1/cgroup.kill", "1") in fk.writes
    assert cg.pids_in() == []
    cg.remove()
    assert not d.exists()


def test_hybrid_host_without_v2_controllers_falls_back_to_v1(tmp_path: Path) -> None:
    root = tmp_path / "cgroup"
    fk = FakeKernel(root / "unified")
    fk.make(root / "unified", "hugetlb")
    for ctl in ("pids", "memory", "cpuacct"):
        (root / ctl / "ci").mkdir(parents=True)
    (tmp_path / "self_cgroup").write_text("4:memory:/ci\n8:pids:/ci\n2:cpuacct:/ci\n0::/\n")
    cg = open_cgroup(
        "airlock-t1", LIMITS, root=root, proc_cgroup=tmp_path / "self_cgroup", fs=fk, env={}, system_dir=tmp_path
    )
    assert cg.kind == "v1"
    assert (root / "pids" / "ci" / "airlock-t1" / "pids.max").read_text() == str(LIMITS.pids + EXTRA_PIDS)
    assert (root / "memory" / "ci" / "airlock-t1" / "memory.limit_in_bytes").read_text() == str(64 << 20)
    assert cg.unenforced() == []
    assert fk.writes == []  # nothing was touched in the unified hierarchy


def test_no_cgroups_at_all_enforces_nothing_and_says_so(tmp_path: Path) -> None:
    (tmp_path / "self_cgroup").write_text("")
    cg = open_cgroup(
        "airlock-t1", LIMITS, root=tmp_path / "none", proc_cgroup=tmp_path / "self_cgroup", env={}, system_dir=tmp_path
    )
    assert cg.kind == "none"
    assert cg.unenforced() == ["pids", "memory", "cpu"]
    assert cg.why() != ""
    assert cg.procs_files() == []


def test_systemd_user_scope_when_our_cgroup_is_not_ours(tmp_path: Path) -> None:
    fk = _host(tmp_path, "/user.slice/user-1000.slice/session-3.scope", readonly=True, uid=1000)
    fk.make(fk.mount / "user.slice" / "user-1000.slice" / "user@1000.service", "cpu memory pids")
    run = tmp_path / "run"
    (run / "systemd").mkdir(parents=True)
    (run / "systemd" / "private").write_text("")
    cg = open_cgroup(
        "airlock-t1",
        LIMITS,
        root=fk.mount,
        proc_cgroup=tmp_path / "self_cgroup",
        fs=fk,
        which=lambda n: "/usr/bin/systemd-run" if n == "systemd-run" else None,
        env={"XDG_RUNTIME_DIR": str(run)},
        system_dir=tmp_path / "no-systemd",
    )
    assert isinstance(cg, cgroups.SystemdScope)
    assert cg.unenforced() == []
    assert cg.procs_files() == []
    assert cg.wrap(["strace", "-f"]) == [
        "/usr/bin/systemd-run",
        "--user",
        "--scope",
        "--quiet",
        "--collect",
        "--unit=airlock-t1.scope",
        "-p",
        f"TasksMax={LIMITS.pids + EXTRA_PIDS}",
        "-p",
        "MemoryMax=64M",
        "-p",
        "MemorySwapMax=0",
        "--",
        "strace",
        "-f",
    ]
    scope = "/user.slice/user-1000.slice/user@1000.service/app.slice/airlock-t1.scope"
    fk.make(fk.mount / scope.lstrip("/"), "cpu memory pids", "77")
    (tmp_path / "proc" / "77").mkdir(parents=True)
    (tmp_path / "proc" / "77" / "cgroup").write_text("0::/user.slice/user-1000.slice/session-3.scope\n")
    assert cg.attach(77, proc_root=tmp_path / "proc") is False  # systemd-run has not moved it yet
    assert cg.kill_argv() == ["/usr/bin/systemctl", "--user", "kill", "--signal=SIGKILL", "airlock-t1.scope"]
    (tmp_path / "proc" / "77" / "cgroup").write_text(f"0::{scope}\n")
    assert cg.attach(77, proc_root=tmp_path / "proc") is True
    assert cg.pids_in() == [77]


def test_root_gets_a_system_scope_when_its_unit_is_not_ours(tmp_path: Path) -> None:
    fk = _host(tmp_path, "/system.slice/ci-runner.service", uid=0)
    sysd = tmp_path / "run-systemd"
    sysd.mkdir()
    (sysd / "private").write_text("")
    kw = {"root": fk.mount, "proc_cgroup": tmp_path / "self_cgroup", "fs": fk, "env": {}}
    cg = open_cgroup("airlock-t1", LIMITS, which=lambda n: f"/usr/bin/{n}", system_dir=sysd, **kw)  # type: ignore[arg-type]
    assert isinstance(cg, cgroups.SystemdScope)
    assert cg.unenforced() == []
    assert cg.wrap(["x"])[:3] == ["/usr/bin/systemd-run", "--scope", "--quiet"]
    assert cg.kill_argv() == ["/usr/bin/systemctl", "kill", "--signal=SIGKILL", "airlock-t1.scope"]
    # no system manager reachable (a container): nothing, and why names the way out
    cg = open_cgroup("airlock-t1", LIMITS, which=lambda n: f"/usr/bin/{n}", system_dir=tmp_path / "none", **kw)  # type: ignore[arg-type]
    assert cg.kind == "none"
    assert "not delegated" in cg.why() and "no systemd manager" in cg.why()


# ------------------------------------------------------------------------------------------ real cgroup v1 here


def _real_v1_or_skip() -> None:
    if os.geteuid() != 0:
        pytest.skip("REAL cgroup v1 test needs root: /sys/fs/cgroup/{pids,memory,cpuacct} are root-writable")
    if cgroups.v2_mount() == cgroups.CGROUP_ROOT:
        pytest.skip("REAL cgroup v1 test: this host runs the pure v2 hierarchy; v2 is covered by the fake kernel")
    for ctl in ("pids", "memory", "cpuacct"):
        if not os.access(f"/sys/fs/cgroup/{ctl}", os.W_OK):
            pytest.skip(f"REAL cgroup v1 test: /sys/fs/cgroup/{ctl} is not writable on this host")


# Forks children that sleep until killed, until fork fails; prints how many it made and that fork failed.
FORK_BOMB = """
import os, sys, time
made = 0
failed = False
for _ in range(200):
    try:
        pid = os.fork()
    except OSError:
        failed = True
        break
    if pid == 0:
        time.sleep(120)
        os._exit(0)
    made += 1
print(made, failed, flush=True)
time.sleep(120)
"""


def test_real_v1_limits_a_fork_bomb_then_kills_and_removes_everything() -> None:
    _real_v1_or_skip()
    cg = open_cgroup(f"airlock-test-{uuid.uuid4().hex[:8]}", LIMITS)
    try:
        assert cg.kind == "v1"
        assert cg.unenforced() == []
        pids_dir, mem_dir = cg.dirs["pids"], cg.dirs["memory"]
        assert (pids_dir / "pids.max").read_text().strip() == str(LIMITS.pids + EXTRA_PIDS)
        assert (mem_dir / "memory.limit_in_bytes").read_text().strip() == str(64 << 20)
        files = cg.procs_files()
        assert files == [str(d / "cgroup.procs") for d in cg.dirs.values()] and len(files) == 3
        trampoline = 'while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@"'
        argv = ["/bin/sh", "-c", trampoline, "airlock-cgroup", *files, "--", sys.executable, "-c", FORK_BOMB]
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)  # noqa: S603 - fixed argv
        try:
            assert p.stdout is not None
            made, failed = p.stdout.readline().split()
            assert failed == "True"
            assert int(made) == LIMITS.pids + EXTRA_PIDS - 1  # the bomb itself holds one slot
            assert cg.pids_limit_hit() is True
            assert len(cg.pids_in()) == LIMITS.pids + EXTRA_PIDS
            assert p.pid in cg.pids_in()
            assert cg.cpu_s() > 0
            cg.kill_all()
            assert cg.pids_in() == []
            assert p.wait(timeout=30) == -9
        finally:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=30)
    finally:
        cg.kill_all()
        cg.remove()
    for d in cg.dirs.values():
        assert not d.exists()


def test_real_v1_memory_limit_kills_and_is_detected() -> None:
    _real_v1_or_skip()
    cg = open_cgroup(f"airlock-test-{uuid.uuid4().hex[:8]}", LIMITS)
    try:
        assert cg.has_memory and cg.memory_limit_hit() is False
        trampoline = 'while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@"'
        hog = "b = bytearray(256 << 20); b[::4096] = b'x' * len(b[::4096]); print('survived')"
        argv = ["/bin/sh", "-c", trampoline, "airlock-cgroup", *cg.procs_files(), "--", sys.executable, "-c", hog]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120)  # noqa: S603 - fixed argv
        assert done.returncode == -9, done
        assert "survived" not in done.stdout
        assert cg.memory_limit_hit() is True
        assert 0 < cg.peak_memory_mb() <= 64
    finally:
        cg.kill_all()
        cg.remove()
    for d in cg.dirs.values():
        assert not d.exists()
