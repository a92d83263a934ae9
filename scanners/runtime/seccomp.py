"""The sandbox's seccomp filter (as raw BPF) and the host-side supervisor that answers and records its refusals.

Why USER_NOTIF and not ERRNO: strace traces with `--seccomp-bpf` (a TRACE action), and the kernel runs the most
restrictive action of all stacked filters; ERRNO outranks TRACE, so strace would never see a refused call. USER_NOTIF
also outranks TRACE, but the call is handed to the supervisor here, which answers EPERM and records it: every refusal
becomes evidence. If the supervisor is gone, the kernel fails the call with ENOSYS: still refused.

The program is written by hand (no libseccomp) so its exact shape is ours and testable:
  arch != native            -> notify (an i386/arm32 ABI could otherwise reach the calls under other numbers)
  nr has the x32 bit        -> notify (x86_64 only; x32 shares AUDIT_ARCH_X86_64)
  nr in REFUSED_SYSCALLS    -> notify
  clone with CLONE_NEW*     -> notify
  clone3                    -> ERRNO(ENOSYS) silently: its flags sit behind a pointer; libc falls back to clone
  socket AF_PACKET/AF_VSOCK, or SOCK_RAW outside AF_NETLINK -> notify
  seccomp with SECCOMP_FILTER_FLAG_NEW_LISTENER -> notify
  anything else             -> allow
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import platform
import select
import socket
import struct
import threading
from dataclasses import dataclass

from airlock.scanners.runtime.sandbox import ns_pid

# --- BPF and seccomp constants (linux/filter.h, linux/seccomp.h, linux/audit.h) ---
_LD_W_ABS = 0x20
_JEQ_K = 0x15
_JGE_K = 0x35
_JSET_K = 0x45
_AND_K = 0x54
_RET_K = 0x06

SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_USER_NOTIF = 0x7FC00000
SECCOMP_RET_ERRNO = 0x00050000

AUDIT_ARCH_X86_64 = 0xC000003E
AUDIT_ARCH_AARCH64 = 0xC00000B7
X32_SYSCALL_BIT = 0x40000000

# offsets in struct seccomp_data {int nr; u32 arch; u64 ip; u64 args[6];} (little endian: low word first)
_OFF_NR, _OFF_ARCH = 0, 4


def _off_arg_low(i: int) -> int:
    return 16 + 8 * i


# Every CLONE_NEW* flag clone() accepts (CLONE_NEWTIME only exists for clone3/unshare; 0x80 is CSIGNAL in clone).
CLONE_NEW_MASK = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000
AF_NETLINK, AF_PACKET, AF_VSOCK, SOCK_RAW = 16, 17, 40, 3  # netlink is SOCK_RAW by convention (glibc, iproute2)
# A listener of the sandbox's own would take precedence over ours for the same calls (the newest USER_NOTIF filter
# wins) and could answer SECCOMP_USER_NOTIF_FLAG_CONTINUE; the kernel refuses a second listener (EBUSY) only while
# ours is open, so the filter refuses the flag itself, for the time after the supervisor is gone too.
SECCOMP_FILTER_FLAG_NEW_LISTENER = 1 << 3

# name -> family label. Nothing here is needed by pip, npm, pytest, go build, make or gcc; most are kernel attack
# surface reachable without privilege (io_uring, keyrings, bpf, perf, userfaultfd, user namespaces) or host-global
# state that only a privileged process could change (time, swap, modules, reboot).
REFUSED_SYSCALLS: dict[str, str] = {
    "io_uring_setup": "io_uring",
    "io_uring_enter": "io_uring",
    "io_uring_register": "io_uring",
    "keyctl": "keyring",
    "add_key": "keyring",
    "request_key": "keyring",
    "bpf": "bpf",
    "perf_event_open": "perf_event_open",
    "userfaultfd": "userfaultfd",
    "init_module": "kernel module/kexec",
    "finit_module": "kernel module/kexec",
    "delete_module": "kernel module/kexec",
    "kexec_load": "kernel module/kexec",
    "kexec_file_load": "kernel module/kexec",
    "mount": "mount",
    "umount2": "mount",
    "pivot_root": "mount",
    "move_mount": "mount",
    "open_tree": "mount",
    "open_tree_attr": "mount",
    "fsopen": "mount",
    "fsmount": "mount",
    "fsconfig": "mount",
    "fspick": "mount",
    "mount_setattr": "mount",
    "unshare": "namespace",
    "setns": "namespace",
    "acct": "host administration",
    "swapon": "host administration",
    "swapoff": "host administration",
    "reboot": "host administration",
    "quotactl": "host administration",
    "quotactl_fd": "host administration",
    "vhangup": "host administration",
    "settimeofday": "clock",
    "clock_settime": "clock",
    "clock_adjtime": "clock",
    "adjtimex": "clock",
    "syslog": "kernel log",
    "open_by_handle_at": "file handle",
    "lookup_dcookie": "kernel profiling",
    "iopl": "raw I/O port",
    "ioperm": "raw I/O port",
    "uselib": "legacy loader",
}
CLONE_FAMILY = "namespace"
SOCKET_FAMILY = "raw/packet/vsock socket"
LISTENER_FAMILY = "seccomp listener"
FOREIGN_ABI_FAMILY = "non-native ABI"

# Syscall numbers, checked against libseccomp's tables by tests/test_runtime_seccomp.py.
_NR_X86_64: dict[str, int] = {
    "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
    "keyctl": 250, "add_key": 248, "request_key": 249, "bpf": 321, "perf_event_open": 298, "userfaultfd": 323,
    "init_module": 175, "finit_module": 313, "delete_module": 176, "kexec_load": 246, "kexec_file_load": 320,
    "mount": 165, "umount2": 166, "pivot_root": 155, "move_mount": 429, "open_tree": 428, "open_tree_attr": 467,
    "fsopen": 430, "fsmount": 432, "fsconfig": 431, "fspick": 433, "mount_setattr": 442,
    "unshare": 272, "setns": 308, "acct": 163, "swapon": 167, "swapoff": 168, "reboot": 169, "quotactl": 179,
    "quotactl_fd": 443, "vhangup": 153, "settimeofday": 164, "clock_settime": 227, "clock_adjtime": 305,
    "adjtimex": 159, "syslog": 103, "open_by_handle_at": 304, "lookup_dcookie": 212, "iopl": 172, "ioperm": 173,
    "uselib": 134,
    "clone": 56, "clone3": 435, "socket": 41, "seccomp": 317,
}  # fmt: skip
_NR_AARCH64: dict[str, int] = {
    "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
    "keyctl": 219, "add_key": 217, "request_key": 218, "bpf": 280, "perf_event_open": 241, "userfaultfd": 282,
    "init_module": 105, "finit_module": 273, "delete_module": 106, "kexec_load": 104, "kexec_file_load": 294,
    "mount": 40, "umount2": 39, "pivot_root": 41, "move_mount": 429, "open_tree": 428, "open_tree_attr": 467,
    "fsopen": 430, "fsmount": 432, "fsconfig": 431, "fspick": 433, "mount_setattr": 442,
    "unshare": 97, "setns": 268, "acct": 89, "swapon": 224, "swapoff": 225, "reboot": 142, "quotactl": 60,
    "quotactl_fd": 443, "vhangup": 58, "settimeofday": 170, "clock_settime": 112, "clock_adjtime": 266,
    "adjtimex": 171, "syslog": 116, "open_by_handle_at": 265, "lookup_dcookie": 18,
    "clone": 220, "clone3": 435, "socket": 198, "seccomp": 277,
}  # fmt: skip

# machine -> (audit arch, syscall numbers). x86_64-only calls (iopl, ioperm, uselib) are absent on aarch64.
ARCHES: dict[str, tuple[int, dict[str, int]]] = {
    "x86_64": (AUDIT_ARCH_X86_64, _NR_X86_64),
    "aarch64": (AUDIT_ARCH_AARCH64, _NR_AARCH64),
}


class SeccompUnsupported(RuntimeError):
    """The running architecture or kernel cannot host the filter; the caller must not run the sandbox without it."""


def _arch(machine: str | None = None) -> tuple[str, int, dict[str, int]]:
    machine = machine or platform.machine()
    if machine == "arm64":
        machine = "aarch64"
    if machine not in ARCHES:
        raise SeccompUnsupported(f"no seccomp filter for architecture {machine!r}")
    audit, numbers = ARCHES[machine]
    return machine, audit, numbers


class _Asm:
    """A tiny forward-only BPF assembler: jumps name labels, resolved once the program is complete."""

    def __init__(self) -> None:
        self.ins: list[tuple[int, str | int, str | int, int]] = []
        self.labels: dict[str, int] = {}

    def op(self, code: int, k: int, jt: str | int = 0, jf: str | int = 0) -> None:
        self.ins.append((code, jt, jf, k))

    def label(self, name: str) -> None:
        self.labels[name] = len(self.ins)

    def assemble(self) -> bytes:
        out = bytearray()
        for pc, (code, jt, jf, k) in enumerate(self.ins):
            offs = []
            for target in (jt, jf):
                off = target if isinstance(target, int) else self.labels[target] - pc - 1
                if not 0 <= off <= 255:
                    raise ValueError(f"BPF jump out of range at {pc}")
                offs.append(off)
            out += struct.pack("=HBBI", code, offs[0], offs[1], k)
        return bytes(out)


def build_filter(machine: str | None = None) -> bytes:
    """The raw BPF program (struct sock_filter[]) for `machine` (default: the running one)."""
    name, audit, nr = _arch(machine)
    a = _Asm()
    a.op(_LD_W_ABS, _OFF_ARCH)
    a.op(_JEQ_K, audit, 0, "notify")
    a.op(_LD_W_ABS, _OFF_NR)
    if name == "x86_64":
        a.op(_JGE_K, X32_SYSCALL_BIT, "notify", 0)
    for call in REFUSED_SYSCALLS:
        if call in nr:
            a.op(_JEQ_K, nr[call], "notify", 0)
    a.op(_JEQ_K, nr["clone"], "clone", 0)
    a.op(_JEQ_K, nr["clone3"], "enosys", 0)
    a.op(_JEQ_K, nr["seccomp"], "seccomp", 0)
    a.op(_JEQ_K, nr["socket"], "socket", "allow")
    a.label("seccomp")
    a.op(_LD_W_ABS, _off_arg_low(1))
    a.op(_JSET_K, SECCOMP_FILTER_FLAG_NEW_LISTENER, "notify", "allow")
    a.label("clone")
    a.op(_LD_W_ABS, _off_arg_low(0))
    a.op(_JSET_K, CLONE_NEW_MASK, "notify", "allow")
    a.label("socket")
    a.op(_LD_W_ABS, _off_arg_low(0))
    a.op(_JEQ_K, AF_PACKET, "notify", 0)
    a.op(_JEQ_K, AF_VSOCK, "notify", 0)
    a.op(_JEQ_K, AF_NETLINK, "allow", 0)
    a.op(_LD_W_ABS, _off_arg_low(1))
    a.op(_AND_K, 0xF)
    a.op(_JEQ_K, SOCK_RAW, "notify", "allow")
    a.label("allow")
    a.op(_RET_K, SECCOMP_RET_ALLOW)
    a.label("notify")
    a.op(_RET_K, SECCOMP_RET_USER_NOTIF)
    a.label("enosys")
    a.op(_RET_K, SECCOMP_RET_ERRNO | errno.ENOSYS)
    return a.assemble()


# --- The supervisor ---
# struct seccomp_notif {u64 id; u32 pid; u32 flags; struct seccomp_data data;} = 80 bytes
# struct seccomp_notif_resp {u64 id; s64 val; s32 error; u32 flags;} = 24 bytes
_NOTIF = struct.Struct("=QII iIQ6Q")
_RESP = struct.Struct("=QqiI")
_SECCOMP_DATA_SIZE = 64


def _iowr(nr: int, size: int) -> int:
    # _IOC(_IOC_READ|_IOC_WRITE, '!', nr, size) in the generic encoding (x86_64 and aarch64 share it).
    return (3 << 30) | (size << 16) | (ord("!") << 8) | nr


SECCOMP_IOCTL_NOTIF_RECV = _iowr(0, _NOTIF.size)  # 0xc0502100
SECCOMP_IOCTL_NOTIF_SEND = _iowr(1, _RESP.size)  # 0xc0182101
SECCOMP_GET_NOTIF_SIZES = 3
ACK = b"\x01"  # the supervisor holds the listener (inside/seccomp_install.py waits for this byte)


def kernel_notif_sizes() -> tuple[int, int, int]:
    """(seccomp_notif, seccomp_notif_resp, seccomp_data) sizes as this kernel reports them."""
    _, _, nr = _arch()
    libc = ctypes.CDLL(None, use_errno=True)
    sizes = (ctypes.c_uint16 * 3)()
    if libc.syscall(ctypes.c_long(nr["seccomp"]), SECCOMP_GET_NOTIF_SIZES, 0, ctypes.byref(sizes)) != 0:
        err = ctypes.get_errno()
        raise SeccompUnsupported(f"seccomp(SECCOMP_GET_NOTIF_SIZES) failed: {os.strerror(err)}")
    return sizes[0], sizes[1], sizes[2]


@dataclass(frozen=True)
class Refusal:
    pid: int  # in the supervisor's pid namespace (the kernel translates it for the reader), or strace's (ns_level)
    syscall: str
    family: str
    args: tuple[int, ...]


def describe(nr: int, arch: int, machine: str | None = None) -> tuple[str, str]:
    """(syscall name, family) of a notified call."""
    name, audit, numbers = _arch(machine)
    if arch != audit:
        return f"arch 0x{arch:08x} syscall {nr}", FOREIGN_ABI_FAMILY
    if name == "x86_64" and nr & X32_SYSCALL_BIT:
        return f"x32 syscall {nr & ~X32_SYSCALL_BIT}", FOREIGN_ABI_FAMILY
    for call, num in numbers.items():
        if num == nr:
            if call == "clone":
                return call, CLONE_FAMILY
            if call == "socket":
                return call, SOCKET_FAMILY
            if call == "seccomp":
                return call, LISTENER_FAMILY
            return call, REFUSED_SYSCALLS.get(call, "unknown")
    return f"syscall {nr}", "unknown"


class Supervisor:
    """Receives the sandbox's seccomp listener fd on a unix socket, answers every notification with EPERM and
    records it. Memory is bounded: at most `max_refusals` are kept, the rest are counted in `overflow`.

    Usage: start() before the sandbox starts; wait_connected(timeout) before trusting the run (False, or `error`
    set, means the listener never arrived: fail the stage); stop() only once every sandboxed process is gone, since
    refusals after stop() still fail (ENOSYS) but are no longer recorded."""

    POLL_MS = 100

    def __init__(self, sock_path: str, max_refusals: int = 1000, ns_level: int = 0) -> None:
        self.sock_path = sock_path
        self.max_refusals = max_refusals
        self.ns_level = ns_level  # > 0: record pids as seen that many pid namespaces down (where strace runs)
        self.overflow = 0
        self.error: str | None = None
        self._refusals: list[Refusal] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._connected = threading.Event()
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def refusals(self) -> list[Refusal]:
        with self._lock:
            return list(self._refusals)

    def start(self) -> None:
        sizes = kernel_notif_sizes()
        if sizes != (_NOTIF.size, _RESP.size, _SECCOMP_DATA_SIZE):
            raise SeccompUnsupported(f"unexpected seccomp notification sizes {sizes} on this kernel")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(self.sock_path)
        sock.listen(1)
        self._listener = sock
        self._thread = threading.Thread(target=self._run, name="airlock-seccomp", daemon=True)
        self._thread.start()

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._close_listener()

    def _close_listener(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None
            try:
                os.unlink(self.sock_path)
            except FileNotFoundError:
                pass

    def _wait_readable(self, fd: int) -> bool:
        """True when fd is readable; False once stop() was asked. POLLHUP also counts (the caller then finds out)."""
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        while not self._stop.is_set():
            if poller.poll(self.POLL_MS):
                return True
        return False

    def _run(self) -> None:
        try:
            fd = self._receive_fd()
        except Exception as exc:  # noqa: BLE001
            self.error = f"receiving the seccomp listener failed: {exc}"
            return
        finally:
            # ONE connection: nobody else may connect afterwards.
            self._close_listener()
        if fd is None:
            return
        try:
            self._serve(fd)
        except Exception as exc:  # noqa: BLE001 - whatever broke, the stage must learn it
            # Closing the fd makes every later refused call fail with ENOSYS: still refused, never allowed.
            self.error = f"seccomp supervisor failed: {exc}"
        finally:
            os.close(fd)

    def _receive_fd(self) -> int | None:
        assert self._listener is not None
        if not self._wait_readable(self._listener.fileno()):
            return None
        conn, _ = self._listener.accept()
        with conn:
            if not self._wait_readable(conn.fileno()):
                return None
            _, fds, _, _ = socket.recv_fds(conn, 1, 4)
            if len(fds) != 1 or os.readlink(f"/proc/self/fd/{fds[0]}") != "anon_inode:seccomp notify":
                for extra in fds:
                    os.close(extra)
                raise OSError(errno.EPROTO, f"expected one seccomp listener fd, got {len(fds)} fd(s) of another kind")
            # Ack only once nobody else can connect: the installer waits for it before the command starts.
            self._close_listener()
            self._connected.set()  # before the ack, so `connected` is true whenever the command ran
            try:
                conn.sendall(ACK)
            except OSError:
                self._connected.clear()  # the installer is gone; it fails closed without the ack
                os.close(fds[0])
                raise
        return fds[0]

    def _serve(self, fd: int) -> None:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        while not self._stop.is_set():
            events = poller.poll(self.POLL_MS)
            if not events:
                continue
            if events[0][1] & select.POLLIN:
                self._handle_one(fd)
            elif events[0][1] & (select.POLLHUP | select.POLLERR):
                return  # every filtered task is gone: nothing will ever come again

    def _handle_one(self, fd: int) -> None:
        buf = bytearray(_NOTIF.size)  # the kernel insists on a zeroed buffer
        try:
            fcntl.ioctl(fd, SECCOMP_IOCTL_NOTIF_RECV, buf, True)
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.EINTR):  # the task died or was interrupted before we read it
                return
            raise
        notif_id, pid, _flags, nr, arch, _ip, *args = _NOTIF.unpack(buf)
        name, family = describe(nr, arch)
        if self.ns_level:  # the task is blocked in the call until we answer, so its pid is still its own
            pid = ns_pid(pid, self.ns_level) or pid
        self._record(Refusal(pid=pid, syscall=name, family=family, args=tuple(args)))
        resp = bytearray(_RESP.pack(notif_id, 0, -errno.EPERM, 0))
        try:
            fcntl.ioctl(fd, SECCOMP_IOCTL_NOTIF_SEND, resp, True)
        except OSError as exc:
            if exc.errno != errno.ENOENT:  # ENOENT: the task was killed meanwhile; the call never ran
                raise

    def _record(self, refusal: Refusal) -> None:
        with self._lock:
            if len(self._refusals) < self.max_refusals:
                self._refusals.append(refusal)
            else:
                self.overflow += 1
