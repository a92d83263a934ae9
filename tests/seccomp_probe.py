"""Runs INSIDE a bwrap sandbox for tests/test_runtime_seccomp.py: installs airlock's filter, then tries calls.

Usage: seccomp_probe.py INSIDE_DIR BPF_FILE SOCK_PATH MODE
Prints one JSON object per line: {"call": name, "errno": n} (0 = succeeded); the line "ready PID" makes the probe wait
for one line on stdin (the test checks pids or stops the supervisor meanwhile).
"""

from __future__ import annotations

import ctypes
import json
import mmap
import os
import socket
import subprocess
import sys
import threading

sys.path.insert(0, sys.argv[1])
import seccomp_install  # noqa: E402

MACHINE = os.uname().machine
NR = {
    "x86_64": {"io_uring_setup": 425, "keyctl": 250, "add_key": 248, "bpf": 321, "perf_event_open": 298,
               "userfaultfd": 323, "clone": 56, "clone3": 435, "seccomp": 317},
    "aarch64": {"io_uring_setup": 425, "keyctl": 219, "add_key": 217, "bpf": 280, "perf_event_open": 241,
                "userfaultfd": 282, "clone": 220, "clone3": 435, "seccomp": 277},
}[MACHINE]  # fmt: skip
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
CLONE_NEWUSER, SIGCHLD = 0x10000000, 17


def emit(call: str, rc: int, err: int) -> None:
    print(json.dumps({"call": call, "errno": err if rc < 0 else 0}), flush=True)


def raw(call: str, nr: int, *args: object) -> None:
    ctypes.set_errno(0)
    rc = libc.syscall(ctypes.c_long(nr), *args)
    if rc == 0 and call in ("clone", "clone3"):
        os._exit(0)  # the child of a clone that should not have happened
    emit(call, rc, ctypes.get_errno())


def sock(call: str, family: int, kind: int, proto: int = 0) -> None:
    try:
        socket.socket(family, kind, proto).close()
        emit(call, 0, 0)
    except OSError as exc:
        emit(call, -1, exc.errno or -1)


def buf(n: int) -> ctypes.Array[ctypes.c_char]:
    return ctypes.create_string_buffer(n)


def refused() -> None:
    raw("io_uring_setup", NR["io_uring_setup"], 1, buf(120))
    raw("add_key", NR["add_key"], b"user", b"airlock", b"x", 1, -2)  # KEY_SPEC_PROCESS_KEYRING
    raw("keyctl", NR["keyctl"], 0, -3, 0)  # KEYCTL_GET_KEYRING_ID of the session keyring
    raw("bpf", NR["bpf"], 0, buf(128), 128)  # BPF_MAP_CREATE
    attr = buf(128)
    attr[4:8] = (128).to_bytes(4, "little")  # perf_event_attr.size
    raw("perf_event_open", NR["perf_event_open"], attr, 0, -1, -1, 0)
    raw("userfaultfd", NR["userfaultfd"], 0)
    ctypes.set_errno(0)
    emit("unshare", libc.unshare(CLONE_NEWUSER), ctypes.get_errno())
    raw("clone", NR["clone"], CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0)
    clone_args = buf(88)
    clone_args[32:40] = SIGCHLD.to_bytes(8, "little")  # clone_args.exit_signal
    raw("clone3", NR["clone3"], clone_args, 88)
    sock("socket AF_PACKET", socket.AF_PACKET, socket.SOCK_RAW)
    sock("socket AF_INET SOCK_RAW", socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    sock("socket AF_VSOCK", 40, socket.SOCK_STREAM)
    ctypes.set_errno(0)
    emit("mount", libc.mount(b"none", b"/tmp", b"tmpfs", 0, None), ctypes.get_errno())


def benign() -> None:
    r = subprocess.run(["true"], check=False)  # noqa: S607 - inside the test sandbox
    emit("subprocess true", -1 if r.returncode else 0, r.returncode)
    r = subprocess.run([sys.executable, "-c", "import subprocess; subprocess.run(['true'], check=True)"], check=False)
    emit("python subprocess", -1 if r.returncode else 0, r.returncode)
    out: list[int] = []
    t = threading.Thread(target=lambda: out.append(1))
    t.start()
    t.join()
    emit("thread", 0 if out else -1, 0 if out else 1)
    pid = os.fork()
    if pid == 0:
        os._exit(7)
    _, status = os.waitpid(pid, 0)
    emit("fork", 0 if os.waitstatus_to_exitcode(status) == 7 else -1, status)
    sock("socket AF_INET SOCK_STREAM", socket.AF_INET, socket.SOCK_STREAM)
    sock("socket AF_INET SOCK_DGRAM", socket.AF_INET, socket.SOCK_DGRAM)
    sock("socket AF_UNIX", socket.AF_UNIX, socket.SOCK_STREAM)
    sock("socket AF_NETLINK", socket.AF_NETLINK, socket.SOCK_RAW, 0)
    fds = [
        os.readlink(f"/proc/self/fd/{n}") for n in os.listdir("/proc/self/fd") if os.path.exists(f"/proc/self/fd/{n}")
    ]
    try:  # the supervisor took ONE connection (from the installer); nobody may hand it anything else
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as again:
            again.connect(sys.argv[3])
        emit("second connection refused", -1, 0)
    except OSError:
        emit("second connection refused", 0, 0)
    emit("no listener fd inside", -1 if any("seccomp" in f for f in fds) else 0, 1)


def wait_for_host() -> None:
    print(f"ready {os.getpid()}", flush=True)
    sys.stdin.readline()


def second_filter() -> None:
    """Our own filters cannot loosen airlock's: the kernel runs every stacked filter and keeps the strictest action."""
    allow_all = (0x06).to_bytes(2, "little") + b"\0\0" + (0x7FFF0000).to_bytes(4, "little")

    class Prog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    code = ctypes.create_string_buffer(allow_all, 8)
    prog = Prog(1, ctypes.cast(code, ctypes.c_void_p))
    raw("seccomp allow-all", NR["seccomp"], 1, 0, ctypes.byref(prog))
    new_listener()
    raw("keyctl", NR["keyctl"], 0, -3, 0)
    raw("seccomp disable via prctl", 157 if MACHINE == "x86_64" else 167, 22, 0, 0, 0, 0)  # PR_SET_SECCOMP 0
    raw("bpf", NR["bpf"], 0, buf(128), 128)


def new_listener() -> None:
    class Prog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    notify_all = (0x06).to_bytes(2, "little") + b"\0\0" + (0x7FC00000).to_bytes(4, "little")
    code = ctypes.create_string_buffer(notify_all, 8)
    prog = Prog(1, ctypes.cast(code, ctypes.c_void_p))
    raw("seccomp new listener", NR["seccomp"], 1, 8, ctypes.byref(prog))


def foreign_abi() -> None:
    raw("x32 keyctl", 0x40000000 | NR["keyctl"], 0, -3, 0)
    # i386 keyctl(KEYCTL_GET_KEYRING_ID, -3) through int 0x80, in a child in case the kernel lacks ia32 emulation.
    code = bytes.fromhex("53b820010000bb00000000b9fdffffff31d2cd805bc3")
    pid = os.fork()
    if pid == 0:
        m = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
        m.write(code)
        fn = ctypes.CFUNCTYPE(ctypes.c_int)(ctypes.addressof(ctypes.c_char.from_buffer(m)))
        rc = fn()
        os._exit(min(255, -rc) if rc < 0 else 0)
    _, status = os.waitpid(pid, 0)
    print(json.dumps({"call": "i386 keyctl", "status": status}), flush=True)


def main() -> None:
    with open(sys.argv[2], "rb") as f:
        bpf = f.read()
    mode = sys.argv[4]
    go, done = threading.Event(), threading.Event()
    if mode != "threaded":
        done.set()
    if mode == "threaded":  # a thread that exists before the filter must be filtered too

        def later() -> None:
            go.wait()
            raw("keyctl in an older thread", NR["keyctl"], 0, -3, 0)
            done.set()

        threading.Thread(target=later).start()
    seccomp_install.install_and_send(bpf, sys.argv[3])
    go.set()
    done.wait(30)
    if mode == "refused":
        refused()
        wait_for_host()
    elif mode == "benign":
        benign()
    elif mode == "nosup":
        wait_for_host()
        raw("keyctl", NR["keyctl"], 0, -3, 0)
        raw("io_uring_setup", NR["io_uring_setup"], 1, buf(120))
        new_listener()
    elif mode == "second":
        second_filter()
    elif mode == "abi":
        foreign_abi()


if __name__ == "__main__":
    main()
