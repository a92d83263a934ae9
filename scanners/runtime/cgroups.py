"""One throwaway cgroup per sandboxed command: cgroup v2 (a delegated subtree), v1, a systemd user scope, or none.

`open_cgroup` picks what this host allows and returns a handle with one API. A handle always says which limits
it cannot enforce (`unenforced()`) and what to change (`why()`), so the stage can name them and the policy decide.
v2 file names and rules follow the kernel's Documentation/admin-guide/cgroup-v2.rst.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from airlock.pipeline import proc

if TYPE_CHECKING:  # sandbox.py re-exports Cgroups from here: import Limits for types only, no cycle
    from airlock.scanners.runtime.sandbox import Limits

CGROUP_ROOT = Path("/sys/fs/cgroup")
CGROUP_V1 = CGROUP_ROOT
PROC_SELF_CGROUP = Path("/proc/self/cgroup")
EXTRA_PIDS = 6  # strace, the two bwrap processes and the init helper share the cgroup with the command
LIMIT_NAMES = ("pids", "memory", "cpu")
# The leaf airlock moves its own cgroup's processes into, so that cgroup may enable controllers for children
# (cgroup-v2.rst "No Internal Process Constraint").
SELF_LEAF = "airlock-self"
SYSTEMD_UNIT_SUFFIXES = (".service", ".scope", ".slice")
KILL_WAIT_S = 10.0
SYSTEMD_SYSTEM_DIR = Path("/run/systemd")
NO_SYSTEMD = (
    "no systemd manager for `systemd-run --scope` (root: /run/systemd/private; a user: XDG_RUNTIME_DIR and its "
    "systemd/private socket, `loginctl enable-linger <user>` for CI users)"
)


class CgroupHandle:
    """No controllers: nothing is enforced here, and why() says what to change."""

    kind = "none"

    def __init__(self, reason: str = "") -> None:
        self.dirs: dict[str, Path] = {}
        self._reason = reason

    @property
    def has_pids(self) -> bool:
        return False

    @property
    def has_memory(self) -> bool:
        return False

    @property
    def has_cpu(self) -> bool:
        return False

    def procs_files(self) -> list[str]:
        """The cgroup.procs files a trampoline writes its pid into before it execs the tracer."""
        return [str(d / "cgroup.procs") for d in self.dirs.values()]

    def wrap(self, argv: list[str]) -> list[str]:
        """The argv that runs `argv` inside this cgroup (only a systemd scope needs a prefix)."""
        return argv

    def unenforced(self) -> list[str]:
        have = {"pids": self.has_pids, "memory": self.has_memory, "cpu": self.has_cpu}
        return [n for n in LIMIT_NAMES if not have[n]]

    def why(self) -> str:
        return self._reason if self.unenforced() else ""

    def cpu_s(self) -> float:
        return 0.0

    def peak_memory_mb(self) -> float:
        return 0.0

    def peak_pids(self) -> int:
        return 0

    def pids_limit_hit(self) -> bool:
        return False

    def memory_limit_hit(self) -> bool:
        return False

    def pids_in(self) -> list[int]:
        return []

    def kill_all(self) -> None:
        """SIGKILL every process in the group until none is left (a fork bomb keeps forking while we kill)."""
        deadline = time.monotonic() + KILL_WAIT_S
        while time.monotonic() < deadline:
            pids = [p for p in self.pids_in() if p != os.getpid()]
            if not pids:
                return
            for p in pids:
                try:
                    os.kill(p, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            time.sleep(0.02)

    def remove(self) -> None:
        for d in self.dirs.values():
            self.remove_dir(d, Path.rmdir)

    @staticmethod
    def remove_dir(d: Path, rmdir: Callable[[Path], None]) -> None:
        """rmdir fails with EBUSY until the last process has left (and been reaped): retry briefly."""
        for _ in range(50):
            try:
                rmdir(d)
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.05)


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _flat_key(text: str, key: str) -> int:
    """A value from a flat-keyed cgroup file ("key value" lines); 0 when absent."""
    for line in text.splitlines():
        k, _, v = line.partition(" ")
        if k == key and v.strip().isdigit():
            return int(v)
    return 0


def _peak_pids(text: str) -> int:
    text = text.strip()
    return max(0, int(text) - EXTRA_PIDS + 2) if text.isdigit() else 0


# ---------------------------------------------------------------------------------------------------- cgroup v1


def _own_cgroup(controller: str, root: Path = CGROUP_V1, proc_cgroup: Path = PROC_SELF_CGROUP) -> Path | None:
    """Our own cgroup v1 directory for a controller (we nest under it so the host's limits still apply)."""
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) == 3 and controller in parts[1].split(","):
            base = root / parts[1]
            if not base.is_dir():
                base = root / controller
            return base / parts[2].lstrip("/")
    return None


class Cgroups(CgroupHandle):
    """One throwaway v1 cgroup per command in the pids, memory and cpuacct controllers."""

    kind = "v1"
    CONTROLLERS = ("pids", "memory", "cpuacct")

    def __init__(
        self, name: str, limits: Limits, *, root: Path = CGROUP_V1, proc_cgroup: Path = PROC_SELF_CGROUP
    ) -> None:
        super().__init__()
        for ctl in self.CONTROLLERS:
            parent = _own_cgroup(ctl, root, proc_cgroup)
            if parent is None or not parent.is_dir():
                continue
            d = parent / name
            try:
                d.mkdir()
            except OSError:
                continue
            self.dirs[ctl] = d
        try:
            if "pids" in self.dirs:
                (self.dirs["pids"] / "pids.max").write_text(str(limits.pids + EXTRA_PIDS))
            if "memory" in self.dirs:
                mem = self.dirs["memory"]
                (mem / "memory.limit_in_bytes").write_text(str(limits.memory_mb << 20))
                sw = mem / "memory.memsw.limit_in_bytes"
                if sw.exists():
                    sw.write_text(str(limits.memory_mb << 20))
        except OSError:
            self.remove()
            self.dirs = {}
        missing = [c for c in self.CONTROLLERS if c not in self.dirs]
        self._reason = (
            f"cgroup v1: no writable {', '.join(missing)} hierarchy for airlock's own cgroup under {root} "
            "(mount the controller read-write, or run on cgroup v2 with a delegated subtree)"
        )

    @property
    def has_pids(self) -> bool:
        return "pids" in self.dirs

    @property
    def has_memory(self) -> bool:
        return "memory" in self.dirs

    @property
    def has_cpu(self) -> bool:
        return "cpuacct" in self.dirs

    def join(self) -> None:
        """preexec_fn: move the calling (about to exec strace) process into every cgroup."""
        for d in self.dirs.values():
            (d / "cgroup.procs").write_text(str(os.getpid()))

    def _read(self, ctl: str, name: str) -> str:
        d = self.dirs.get(ctl)
        return _read(d / name) if d is not None else ""

    def cpu_s(self) -> float:
        text = self._read("cpuacct", "cpuacct.usage").strip()
        return int(text) / 1e9 if text.isdigit() else 0.0

    def peak_memory_mb(self) -> float:
        text = self._read("memory", "memory.max_usage_in_bytes").strip()
        return int(text) / (1 << 20) if text.isdigit() else 0.0

    def peak_pids(self) -> int:
        return _peak_pids(self._read("pids", "pids.peak"))

    def pids_limit_hit(self) -> bool:
        return _flat_key(self._read("pids", "pids.events"), "max") > 0

    def memory_limit_hit(self) -> bool:
        text = self._read("memory", "memory.oom_control")
        return _flat_key(text, "oom_kill") > 0 or _flat_key(text, "under_oom") > 0

    def pids_in(self) -> list[int]:
        for ctl in self.CONTROLLERS:
            text = self._read(ctl, "cgroup.procs")
            if text:
                return [int(x) for x in text.split() if x.isdigit()]
        return []


# ---------------------------------------------------------------------------------------------------- cgroup v2


class CgroupFS:
    """The cgroup v2 filesystem as airlock touches it: one seam, so unit tests can stand in a fake kernel."""

    def read(self, path: Path) -> str:
        return _read(path)

    def write(self, path: Path, text: str) -> None:
        path.write_text(text)

    def mkdir(self, path: Path) -> None:
        path.mkdir()

    def rmdir(self, path: Path) -> None:
        path.rmdir()

    def writable(self, path: Path) -> bool:
        return os.access(path, os.W_OK)

    def euid(self) -> int:
        return os.geteuid()

    def delegated(self, path: Path) -> bool:
        """systemd marks a cgroup it delegated with the trusted.delegate (root) or user.delegate xattr."""
        for attr in ("trusted.delegate", "user.delegate"):
            try:
                if os.getxattr(path, attr).strip() in (b"1", b"yes", b"true"):
                    return True
            except OSError:
                continue
        return False


def v2_mount(root: Path = CGROUP_ROOT) -> Path | None:
    """The unified hierarchy: `root` itself on a pure v2 host, root/unified on a hybrid one."""
    for cand in (root, root / "unified"):
        if (cand / "cgroup.controllers").is_file():
            return cand
    return None


def v2_own_path(proc_cgroup: Path = PROC_SELF_CGROUP) -> str | None:
    """Our cgroup in the unified hierarchy: the `0::/path` line of /proc/self/cgroup."""
    for line in _read(proc_cgroup).splitlines():
        if line.startswith("0::"):
            return line[3:].strip()
    return None


class CgroupV2(CgroupHandle):
    """One throwaway cgroup in a delegated v2 subtree; `enabled` are the controllers its parent gives it."""

    kind = "v2"

    def __init__(self, d: Path | None, enabled: set[str], limits: Limits, fs: CgroupFS, reason: str = "") -> None:
        super().__init__(reason)
        self.fs = fs
        self.enabled = enabled
        if d is not None:
            self.dirs["unified"] = d
            self._write_limits(d, limits)

    def _write_limits(self, d: Path, limits: Limits) -> None:
        if "pids" in self.enabled:
            self.fs.write(d / "pids.max", str(limits.pids + EXTRA_PIDS))
        if "memory" in self.enabled:
            self.fs.write(d / "memory.max", str(limits.memory_mb << 20))
            if (d / "memory.swap.max").exists():  # no swap: v1's memsw limit equal to the memory limit
                self.fs.write(d / "memory.swap.max", "0")

    @property
    def _dir(self) -> Path | None:
        return self.dirs.get("unified")

    def _file(self, name: str) -> str:
        d = self._dir
        return self.fs.read(d / name) if d is not None else ""

    @property
    def has_pids(self) -> bool:
        return self._dir is not None and "pids" in self.enabled

    @property
    def has_memory(self) -> bool:
        return self._dir is not None and "memory" in self.enabled

    @property
    def has_cpu(self) -> bool:
        # cpu.stat's usage_usec exists whether or not the cpu controller is enabled (cgroup-v2.rst, "CPU")
        return self._dir is not None

    def cpu_s(self) -> float:
        return _flat_key(self._file("cpu.stat"), "usage_usec") / 1e6

    def peak_memory_mb(self) -> float:
        text = self._file("memory.peak").strip()  # kernel 5.19+
        return int(text) / (1 << 20) if text.isdigit() else 0.0

    def peak_pids(self) -> int:
        return _peak_pids(self._file("pids.peak"))  # kernel 6.1+

    def pids_limit_hit(self) -> bool:
        return _flat_key(self._file("pids.events"), "max") > 0

    def memory_limit_hit(self) -> bool:
        text = self._file("memory.events")
        return _flat_key(text, "oom_kill") > 0 or _flat_key(text, "oom") > 0

    def pids_in(self) -> list[int]:
        return [int(x) for x in self._file("cgroup.procs").split() if x.isdigit()]

    def remove(self) -> None:
        for d in self.dirs.values():
            self.remove_dir(d, self.fs.rmdir)

    def kill_all(self) -> None:
        """cgroup.kill (5.14+) kills the whole subtree at once, forks included; else the SIGKILL loop."""
        d = self._dir
        if d is not None and (d / "cgroup.kill").exists():
            try:
                self.fs.write(d / "cgroup.kill", "1")
            except OSError:
                pass
            deadline = time.monotonic() + KILL_WAIT_S
            while self.pids_in() and time.monotonic() < deadline:
                time.sleep(0.02)
        super().kill_all()


def _enable(fs: CgroupFS, base: Path, wanted: list[str]) -> set[str]:
    """Enable each wanted controller for base's children, one at a time (one refusal must not cost the rest)."""
    for ctl in wanted:
        if ctl in fs.read(base / "cgroup.subtree_control").split():
            continue
        try:
            fs.write(base / "cgroup.subtree_control", f"+{ctl}")
        except OSError:
            continue
    return set(fs.read(base / "cgroup.subtree_control").split()) & set(wanted)


def _move_to_leaf(fs: CgroupFS, base: Path) -> str:
    """Move every process of base into base/SELF_LEAF, so base may enable controllers; "" or why not."""
    leaf = base / SELF_LEAF
    if not leaf.is_dir():
        try:
            fs.mkdir(leaf)
        except OSError as exc:
            return f"cannot create {leaf}: {exc.strerror}"
    for _ in range(20):  # processes may fork while we move them
        pids = [x for x in fs.read(base / "cgroup.procs").split() if x.isdigit()]
        if not pids:
            return ""
        for pid in pids:
            try:
                fs.write(leaf / "cgroup.procs", pid)
            except OSError as exc:
                if exc.errno != errno.ESRCH:
                    return f"cannot move pid {pid} into {leaf}: {exc.strerror}"
    return f"processes keep appearing in {base}"


def _open_v2(name: str, limits: Limits, mount: Path, own: str, fs: CgroupFS) -> tuple[CgroupV2 | None, str]:
    base = mount / own.lstrip("/")
    available = fs.read(base / "cgroup.controllers").split()
    wanted = [c for c in LIMIT_NAMES if c in available]
    if not wanted:
        return None, f"cgroup v2: {base} offers none of pids, memory, cpu in cgroup.controllers"
    if not (fs.writable(base) and fs.writable(base / "cgroup.subtree_control") and fs.writable(base / "cgroup.procs")):
        return None, f"cgroup v2: {base} is not delegated to uid {fs.euid()} (not writable)"
    enabled = _enable(fs, base, wanted)
    if enabled != set(wanted) and fs.read(base / "cgroup.procs").split():
        # No internal processes: base holds processes (airlock among them), so it cannot give its children
        # controllers until those processes live in a leaf of their own. Never rearrange a systemd unit that
        # was not delegated: systemd owns it.
        if base.name.endswith(SYSTEMD_UNIT_SUFFIXES) and not fs.delegated(base):
            return None, (
                f"cgroup v2: {base} is a systemd unit that was not delegated; run airlock under "
                "`systemd-run --scope -p Delegate=yes` (root) or `systemd-run --user --scope -p Delegate=yes`"
            )
        why = _move_to_leaf(fs, base)
        if why:
            return None, f"cgroup v2: {why}"
        enabled = _enable(fs, base, wanted)
    d = base / name
    try:
        fs.mkdir(d)
    except OSError as exc:
        return None, f"cgroup v2: cannot create {d}: {exc.strerror}"
    try:
        handle = CgroupV2(d, enabled, limits, fs)
    except OSError as exc:
        CgroupHandle.remove_dir(d, fs.rmdir)
        return None, f"cgroup v2: cannot write limits in {d}: {exc.strerror}"
    missing = [c for c in ("pids", "memory") if c not in enabled]
    handle._reason = f"cgroup v2: {base} does not give its children {', '.join(missing)} (cgroup.subtree_control)"
    return handle, ""


# ------------------------------------------------------------------------------------------ systemd user scope


class SystemdScope(CgroupV2):
    """Where our own v2 cgroup is not ours to divide: `systemd-run --scope` (`--user` unless root) makes a transient
    scope with TasksMax/MemoryMax, and the systemd manager, which owns the subtree, enforces them. The scope's
    directory is known once the command runs: call attach(pid) after spawning wrap(argv); until then kill_all
    asks systemd to kill the unit."""

    kind = "systemd-scope"

    def __init__(self, name: str, limits: Limits, manager: SystemdManager, mount: Path, fs: CgroupFS) -> None:
        super().__init__(None, manager.enabled, limits, fs, manager.reason)
        self.user = manager.user
        self.systemd_run = manager.systemd_run
        self.unit = f"{name}.scope"
        self.mount = mount
        self.limits = limits

    def wrap(self, argv: list[str]) -> list[str]:
        props = []
        if "pids" in self.enabled:
            props += ["-p", f"TasksMax={self.limits.pids + EXTRA_PIDS}"]
        if "memory" in self.enabled:
            props += ["-p", f"MemoryMax={self.limits.memory_mb}M", "-p", "MemorySwapMax=0"]
        return [
            self.systemd_run,
            *(["--user"] if self.user else []),
            "--scope",
            "--quiet",
            "--collect",
            f"--unit={self.unit}",
            *props,
            "--",
            *argv,
        ]

    def kill_argv(self) -> list[str]:
        """systemd kills the scope's processes: the fallback while its directory is not known."""
        systemctl = str(Path(self.systemd_run).with_name("systemctl"))
        return [systemctl, *(["--user"] if self.user else []), "kill", "--signal=SIGKILL", self.unit]

    def kill_all(self) -> None:
        if self._dir is None:
            try:
                proc.run(self.kill_argv(), timeout_s=10)
            except proc.ToolMissing:
                pass
            return
        super().kill_all()

    def attach(self, pid: int, proc_root: Path = Path("/proc")) -> bool:
        """Find the scope's directory from the command's own /proc/<pid>/cgroup (once systemd-run moved it)."""
        own = v2_own_path(proc_root / str(pid) / "cgroup")
        if own is None or not own.rstrip("/").endswith("/" + self.unit):
            return False
        self.dirs["unified"] = self.mount / own.lstrip("/")
        return True

    @property
    def has_pids(self) -> bool:
        return "pids" in self.enabled

    @property
    def has_memory(self) -> bool:
        return "memory" in self.enabled

    @property
    def has_cpu(self) -> bool:
        return True

    def remove(self) -> None:
        """--collect: systemd removes the scope once its last process is gone."""


@dataclass(frozen=True)
class SystemdManager:
    systemd_run: str
    user: bool  # the user's manager (systemd-run --user), else the system manager (root)
    enabled: set[str]  # the controllers its scopes get, among pids and memory
    reason: str  # what is missing, when something is


def systemd_manager(
    mount: Path,
    fs: CgroupFS,
    which: Callable[[str], str | None],
    env: Mapping[str, str],
    system_dir: Path = SYSTEMD_SYSTEM_DIR,
) -> SystemdManager | None:
    """systemd-run on PATH and a reachable manager (its private socket) whose scopes get pids or memory:
    the system manager for root, the user's own manager otherwise."""
    exe = which("systemd-run")
    if not exe:
        return None
    uid = fs.euid()
    if uid == 0:
        sock = system_dir / "private"
        owned = mount  # the system manager owns the root; its scopes get what the root gives its children
        controllers = fs.read(owned / "cgroup.subtree_control").split()
    else:
        runtime_dir = env.get("XDG_RUNTIME_DIR", "")
        if not runtime_dir:
            return None
        sock = Path(runtime_dir, "systemd", "private")
        owned = mount / "user.slice" / f"user-{uid}.slice" / f"user@{uid}.service"
        controllers = fs.read(owned / "cgroup.controllers").split()
    if not sock.exists():
        return None
    enabled: set[str] = {c for c in ("pids", "memory") if c in controllers}
    if not enabled:
        return None
    missing = [c for c in ("pids", "memory") if c not in enabled]
    where = "the system manager" if uid == 0 else "the user manager (Delegate= in user@.service)"
    return SystemdManager(exe, uid != 0, enabled, f"{where} does not hold the {', '.join(missing)} controller")


# --------------------------------------------------------------------------------------------------- the choice


def probe(
    *,
    root: Path = CGROUP_ROOT,
    proc_cgroup: Path = PROC_SELF_CGROUP,
    fs: CgroupFS | None = None,
    which: Callable[[str], str | None] = shutil.which,
    env: Mapping[str, str] | None = None,
    system_dir: Path = SYSTEMD_SYSTEM_DIR,
) -> tuple[str, list[str], str]:
    """What open_cgroup would get here, without creating or moving anything: (kind, unenforced limits, why)."""
    fs = fs or CgroupFS()
    env = os.environ if env is None else env
    reasons: list[str] = []
    mount, own = v2_mount(root), v2_own_path(proc_cgroup)
    if mount is not None and own is not None:
        base = mount / own.lstrip("/")
        wanted = [c for c in LIMIT_NAMES if c in fs.read(base / "cgroup.controllers").split()]
        writable = all(fs.writable(p) for p in (base, base / "cgroup.subtree_control", base / "cgroup.procs"))
        divided = set(wanted) <= set(fs.read(base / "cgroup.subtree_control").split())
        busy = bool(fs.read(base / "cgroup.procs").split())
        foreign_unit = base.name.endswith(SYSTEMD_UNIT_SUFFIXES) and not fs.delegated(base)
        if wanted and writable and (divided or not busy or not foreign_unit):
            missing = [c for c in ("pids", "memory") if c not in wanted]
            return "v2", missing, (f"cgroup v2: {base} offers no {', '.join(missing)} controller" if missing else "")
        if not wanted:
            reasons.append(f"cgroup v2: {base} offers none of pids, memory, cpu in cgroup.controllers")
        elif not writable:
            reasons.append(f"cgroup v2: {base} is not delegated to uid {fs.euid()} (not writable)")
        else:
            reasons.append(f"cgroup v2: {base} is a systemd unit that was not delegated")
    v1 = {}
    for ctl in Cgroups.CONTROLLERS:
        parent = _own_cgroup(ctl, root, proc_cgroup)
        v1[ctl] = parent is not None and parent.is_dir() and os.access(parent, os.W_OK)
    if any(v1.values()):
        names = {"pids": "pids", "memory": "memory", "cpuacct": "cpu"}
        missing = [names[c] for c in Cgroups.CONTROLLERS if not v1[c]]
        why = f"cgroup v1: no writable {', '.join(missing)} hierarchy under {root}" if missing else ""
        return "v1", missing, why
    if mount is not None and mount == root:
        manager = systemd_manager(mount, fs, which, env, system_dir)
        if manager is not None:
            missing = [c for c in ("pids", "memory") if c not in manager.enabled]
            return "systemd-scope", missing, manager.reason if missing else ""
        reasons.append(NO_SYSTEMD)
    return "none", list(LIMIT_NAMES), "; ".join(reasons) or f"no cgroup filesystem at {root}"


def open_cgroup(
    name: str,
    limits: Limits,
    *,
    root: Path = CGROUP_ROOT,
    proc_cgroup: Path = PROC_SELF_CGROUP,
    fs: CgroupFS | None = None,
    which: Callable[[str], str | None] = shutil.which,
    env: Mapping[str, str] | None = None,
    system_dir: Path = SYSTEMD_SYSTEM_DIR,
) -> CgroupHandle:
    """v2 in a delegated subtree, else v1, else a systemd user scope, else a handle that enforces nothing."""
    fs = fs or CgroupFS()
    env = os.environ if env is None else env
    reasons: list[str] = []
    v2: CgroupV2 | None = None
    mount = v2_mount(root)
    own = v2_own_path(proc_cgroup)
    if mount is not None and own is not None:
        v2, why = _open_v2(name, limits, mount, own, fs)
        if v2 is not None and not v2.unenforced():
            return v2
        reasons.append(v2.why() if v2 is not None else why)
    v1 = Cgroups(name, limits, root=root, proc_cgroup=proc_cgroup)
    if v2 is not None and len(v2.unenforced()) <= len(v1.unenforced()):
        v1.remove()
        return v2
    if v2 is not None:
        v2.remove()
    if v1.dirs:
        return v1
    reasons.append(v1.why())
    if mount is not None and mount == root:  # pure v2 host: a systemd manager may make a scope for us
        manager = systemd_manager(mount, fs, which, env, system_dir)
        if manager is not None:
            return SystemdScope(name, limits, manager, mount, fs)
        reasons.append(NO_SYSTEMD)
    return CgroupHandle("; ".join(r for r in reasons if r) or f"no cgroup filesystem at {root}")
