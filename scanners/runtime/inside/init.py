"""The sandbox's first process. Runs with a host Python in isolated mode (-I -S); standard library only.

With the capabilities bwrap left it (CAP_SYS_ADMIN, CAP_NET_BIND_SERVICE, CAP_SETPCAP, all inside the sandbox's
own user namespace, never the host's), it:

1. puts every writable area on ONE size- and inode-limited tmpfs: /workspace and $HOME are copied onto it from the
   host copies (read-only binds, then detached so /proc/self/mountinfo shows no host path), /tmp is a directory on
   the same tmpfs. Nothing the code writes reaches the host disk, and it all vanishes with the sandbox;
2. makes the writable global /proc files read-only or absent;
3. binds the DNS stub (port 53) and the proxy forwarder;
4. locks root's privileges away (securebits), empties the bounding set and drops every capability, becomes
   undumpable so the traced code cannot read its descriptors, and checks that nothing is left, or refuses to run;
5. installs the seccomp filter and hands its listener to the host supervisor;
6. runs ONE command with /bin/sh under rlimits, then kills everything left in the sandbox, reports to the host over
   its private sync pipe (exit status and the processes still alive), and waits until the host has read the
   workspace through /proc/PID/root before it exits.

Argument: one JSON object (see scanners/runtime/sandbox.py InitConfig).
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import dns_stub  # noqa: E402
import forwarder  # noqa: E402

PR_SET_DUMPABLE, PR_SET_SECUREBITS, PR_CAPBSET_DROP = 4, 28, 24
PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 47, 4
PR_SET_NO_NEW_PRIVS = 38
# NOROOT, NO_SETUID_FIXUP and NO_CAP_AMBIENT_RAISE, each locked; KEEP_CAPS locked off: uid 0 in here never
# regains capabilities by exec'ing a program.
SECUREBITS = 0x01 | 0x02 | 0x04 | 0x08 | 0x20 | 0x40 | 0x80
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT, MS_BIND, MS_REC = 1, 2, 4, 32, 4096, 16384
MNT_DETACH = 2
_LINUX_CAPABILITY_VERSION_3 = 0x20080522
LAST_CAP = 63
# Writable global kernel interfaces: read-only binds over the sandbox's own /proc.
PROC_READ_ONLY = ("sys", "sysrq-trigger", "irq", "bus", "fs")
# Kernel state no build reads: masked with /dev/null (files) or an empty read-only tmpfs (dirs).
PROC_MASKED = ("kcore", "keys", "key-users", "timer_list", "sched_debug", "kmsg", "kallsyms", "acpi", "scsi")

libc = ctypes.CDLL(None, use_errno=True)


class _Header(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _Data(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def die(msg: str) -> None:
    sys.stderr.write(f"sandbox-init: {msg}; refusing to run\n")
    sys.stderr.flush()
    os._exit(126)


def mount(src: str, target: str, fstype: str | None, flags: int, data: str | None) -> None:
    rc = libc.mount(src.encode(), target.encode(), fstype.encode() if fstype else None, flags,
                    data.encode() if data else None)
    if rc != 0:
        die(f"mount {target}: {os.strerror(ctypes.get_errno())}")


def umount(target: str) -> None:
    if libc.umount2(target.encode(), MNT_DETACH) != 0:
        die(f"umount {target}: {os.strerror(ctypes.get_errno())}")


def writable_areas(cfg: dict) -> None:
    scratch = cfg["scratch"]
    opts = f"size={int(cfg['disk_mb'])}m,nr_inodes={int(cfg['max_files'])},mode=0755"
    mount("tmpfs", scratch, "tmpfs", MS_NOSUID | MS_NODEV, opts)
    for area, (lower, target) in cfg["overlays"].items():
        # A copy, not an overlay: overlayfs in a user namespace is not available on every kernel airlock runs on.
        # The host copy is depth-capped and holds no special files, so copytree's recursion is bounded.
        copy = f"{scratch}/{area}"
        try:
            shutil.copytree(lower, copy, symlinks=True)
        except (OSError, shutil.Error) as exc:
            die(f"copying {area} onto the sandbox's tmpfs failed: {exc}"[:300])
        mount(copy, target, None, MS_BIND, None)
    tmp = f"{scratch}/tmp"
    os.mkdir(tmp)
    os.chmod(tmp, 0o1777)  # noqa: S103 - /tmp semantics, on the sandbox's own tmpfs
    mount(tmp, "/tmp", None, MS_BIND, None)  # noqa: S108 - the sandbox's own /tmp, on the limited tmpfs
    for staged, target in cfg.get("rebinds", []):
        # A read-only bind whose place is under /tmp (a venv in a checkout below /tmp): bound back over the new /tmp.
        if os.path.isdir(staged):
            os.makedirs(target, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            open(target, "ab").close()
        mount(staged, target, None, MS_BIND | MS_REC, None)
        mount("none", target, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_REC | MS_NOSUID | MS_NODEV, None)
        umount(staged)
    for lower, _target in cfg["overlays"].values():
        umount(lower)
    umount(scratch)  # the overlays and /tmp keep the tmpfs alive; its mount point disappears


def harden_proc() -> None:
    for name in PROC_READ_ONLY:
        path = f"/proc/{name}"
        if not os.path.exists(path):
            continue
        mount(path, path, None, MS_BIND | MS_REC, None)
        mount("none", path, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_REC | MS_NOSUID | MS_NODEV, None)
    for name in PROC_MASKED:
        path = f"/proc/{name}"
        if os.path.isdir(path) and not os.path.islink(path):
            mount("tmpfs", path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV, "size=0,mode=0555")
        elif os.path.exists(path):
            mount("/dev/null", path, None, MS_BIND, None)


def drop_privileges() -> None:
    if libc.prctl(PR_SET_SECUREBITS, SECUREBITS, 0, 0, 0) != 0:
        die(f"securebits: {os.strerror(ctypes.get_errno())}")
    for cap in range(LAST_CAP + 1):
        libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)  # EINVAL past the kernel's last capability: fine
    libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    data = (_Data * 2)()
    if libc.capset(ctypes.byref(_Header(_LINUX_CAPABILITY_VERSION_3, 0)), data) != 0:
        die("capset failed")
    libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)  # the traced code cannot open /proc/<init>/fd/*
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(("CapEff:", "CapPrm:", "CapAmb:", "CapBnd:")) and int(line.split()[1], 16) != 0:
                die("capabilities still present")


def others() -> list[int]:
    me = os.getpid()
    return [int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) not in (1, me)]


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read(300).replace(b"\0", b" ").decode("utf-8", "replace").strip()
    except OSError:
        return "?"


def sweep() -> list[str]:
    """Kill every process but pid 1 and us; return the command lines of those still alive (daemons)."""
    alive = [f"[{p}] {_cmdline(p)}" for p in others()]
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        pids = others()
        if not pids:
            break
        for p in pids:
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass
        try:
            while os.waitpid(-1, os.WNOHANG)[0] > 0:
                pass
        except ChildProcessError:
            pass
        time.sleep(0.01)
    return alive


def main(argv: list[str]) -> int:
    cfg = json.loads(argv[1])
    sync_fd, release_fd = int(cfg["sync_fd"]), int(cfg["release_fd"])
    for fd in (sync_fd, release_fd):
        os.set_inheritable(fd, False)  # the command never inherits the channel to the host
    writable_areas(cfg)
    harden_proc()
    os.chdir(cfg["workdir"])
    dns_socks = dns_stub.bind()
    listener = forwarder.bind(int(cfg["proxy_port"]))
    drop_privileges()
    dns_stub.serve(dns_socks, cfg["proxy_socket"])
    forwarder.serve(listener, cfg["proxy_socket"])
    if cfg.get("seccomp"):
        import seccomp_install  # noqa: PLC0415 - only when the host asked for the filter

        with open(cfg["seccomp"], "rb") as f:
            seccomp_install.install_and_send(f.read(), cfg["seccomp_socket"])
    lim = cfg["limits"]

    def limits() -> None:
        resource.setrlimit(resource.RLIMIT_CPU, (int(lim["cpu_s"]), int(lim["cpu_s"]) + 2))
        resource.setrlimit(resource.RLIMIT_FSIZE, (int(lim["file_size_mb"]) << 20, int(lim["file_size_mb"]) << 20))
        resource.setrlimit(resource.RLIMIT_NPROC, (int(lim["pids"]), int(lim["pids"])))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if int(lim["as_mb"]) > 0:
            resource.setrlimit(resource.RLIMIT_AS, (int(lim["as_mb"]) << 20, int(lim["as_mb"]) << 20))

    # The host captures a stopped run's workspace only once it is whole: before this line it is still being copied.
    os.write(sync_fd, b'{"started": true}\n')
    child = subprocess.Popen(["/bin/sh", "-c", cfg["command"]], preexec_fn=limits, close_fds=True)  # noqa: S603
    rc = child.wait()
    daemons = sweep()
    report = json.dumps({"rc": rc if rc >= 0 else 128 - rc, "daemons": daemons[:50]}).encode() + b"\n"
    try:
        os.write(sync_fd, report)
        os.read(release_fd, 1)  # the host has read the workspace; the sandbox may go
    except OSError:
        pass
    return rc if rc >= 0 else 128 - rc


if __name__ == "__main__":
    sys.exit(main(sys.argv))
