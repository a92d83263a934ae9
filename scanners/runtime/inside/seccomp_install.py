"""Install airlock's seccomp filter on this process and hand its notification listener to the host supervisor.

Runs inside the sandbox under `python -I -S`: standard library only. Fails closed: any error prints one line and
exits 126, so no command ever runs without the filter. The filter covers every thread of this process (TSYNC
when there is more than one) and every process started afterwards.
"""

from __future__ import annotations

import ctypes
import os
import socket
import sys

PR_SET_NO_NEW_PRIVS = 38
SECCOMP_SET_MODE_FILTER = 1
SECCOMP_FILTER_FLAG_TSYNC = 1 << 0
SECCOMP_FILTER_FLAG_NEW_LISTENER = 1 << 3
SECCOMP_FILTER_FLAG_TSYNC_ESRCH = 1 << 4  # with TSYNC, lets NEW_LISTENER still return the fd (Linux 5.7+)
_SYS_SECCOMP = {"x86_64": 317, "aarch64": 277}
_SOCK_FILTER_SIZE = 8
_ACK = b"\x01"


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def _fail(what: str) -> None:
    sys.stderr.write(f"airlock-init: seccomp {what}; refusing to run\n")
    sys.stderr.flush()
    os._exit(126)


def _threads() -> int:
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return 0


def _install(bpf: bytes) -> int:
    machine = os.uname().machine
    if machine not in _SYS_SECCOMP:
        raise OSError(f"unsupported architecture {machine}")
    if not bpf or len(bpf) % _SOCK_FILTER_SIZE or len(bpf) // _SOCK_FILTER_SIZE > 4096:
        raise OSError("malformed BPF program")
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
    code = ctypes.create_string_buffer(bpf, len(bpf))
    prog = _SockFprog(len(bpf) // _SOCK_FILTER_SIZE, ctypes.cast(code, ctypes.c_void_p))
    flags = SECCOMP_FILTER_FLAG_NEW_LISTENER
    if _threads() != 1:  # other threads exist (or cannot be counted): filter them all, or fail
        flags |= SECCOMP_FILTER_FLAG_TSYNC | SECCOMP_FILTER_FLAG_TSYNC_ESRCH
    fd = libc.syscall(
        ctypes.c_long(_SYS_SECCOMP[machine]),
        ctypes.c_uint(SECCOMP_SET_MODE_FILTER),
        ctypes.c_uint(flags),
        ctypes.byref(prog),
    )
    if fd < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"seccomp(SET_MODE_FILTER): {os.strerror(err)}")
    return int(fd)


def install_and_send(bpf: bytes, sock_path: str) -> None:
    try:
        fd = _install(bpf)
    except Exception as exc:  # noqa: BLE001 - fail closed whatever went wrong
        _fail(f"filter not installed ({exc})")
        return
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.connect(sock_path)
            socket.send_fds(sock, [b"\0"], [fd])
            if sock.recv(1) != _ACK:  # the supervisor holds the listener and takes no other connection
                raise OSError("no acknowledgement from the supervisor")
    except Exception as exc:  # noqa: BLE001
        _fail(f"listener not handed to the supervisor ({exc})")
    finally:
        os.close(fd)
