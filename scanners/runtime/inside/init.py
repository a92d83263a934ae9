"""The sandbox's first process: start the DNS stub and the proxy forwarder, drop the last capability,
set the resource limits, then run ONE command with /bin/sh and exit with its status.

Runs with the host's Python in isolated mode (-I -S); standard library only. Arguments:
init.py PROXY_SOCKET PROXY_PORT CPU_S FILE_SIZE_MB NPROC AS_MB COMMAND
"""

from __future__ import annotations

import ctypes
import os
import resource
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import dns_stub  # noqa: E402
import forwarder  # noqa: E402

PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 47, 4
_LINUX_CAPABILITY_VERSION_3 = 0x20080522


class _Header(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _Data(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def drop_all_capabilities() -> None:
    """bwrap left us CAP_NET_BIND_SERVICE for port 53; after binding, nothing is kept (must not fail open)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    data = (_Data * 2)()
    if libc.capset(ctypes.byref(_Header(_LINUX_CAPABILITY_VERSION_3, 0)), data) != 0:
        sys.stderr.write("airlock-init: capset failed; refusing to run\n")
        os._exit(126)
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(("CapEff:", "CapPrm:", "CapAmb:")) and int(line.split()[1], 16) != 0:
                sys.stderr.write("airlock-init: capabilities still present; refusing to run\n")
                os._exit(126)


def main(argv: list[str]) -> int:
    sock_path, port, cpu_s, fsize_mb, nproc, as_mb, command = argv[1:8]
    dns_stub.start(sock_path)
    forwarder.start(int(port), sock_path)
    drop_all_capabilities()

    def limits() -> None:
        resource.setrlimit(resource.RLIMIT_CPU, (int(cpu_s), int(cpu_s) + 2))
        resource.setrlimit(resource.RLIMIT_FSIZE, (int(fsize_mb) << 20, int(fsize_mb) << 20))
        resource.setrlimit(resource.RLIMIT_NPROC, (int(nproc), int(nproc)))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if int(as_mb) > 0:
            resource.setrlimit(resource.RLIMIT_AS, (int(as_mb) << 20, int(as_mb) << 20))

    child = subprocess.Popen(["/bin/sh", "-c", command], preexec_fn=limits, close_fds=True)  # noqa: S603
    rc = child.wait()
    return rc if rc >= 0 else 128 - rc


if __name__ == "__main__":
    sys.exit(main(sys.argv))
