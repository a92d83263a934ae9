"""strace runs OUTSIDE the sandbox (strace -f -ff ... -- bwrap ...), so the traced code cannot tamper with it.

A narrow syscall set with --seccomp-bpf keeps the overhead low; -ff writes one file per process, so lines are
never interleaved. The parser turns the files into events with a process tree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

SYSCALLS = (
    "execve",
    "execveat",
    "clone",
    "clone3",
    "fork",
    "vfork",
    "connect",
    "sendto",
    "bind",
    "open",
    "openat",
    "creat",
    "unlink",
    "unlinkat",
    "rename",
    "renameat",
    "renameat2",
    "mkdir",
    "mkdirat",
    "chmod",
    "fchmod",
    "fchmodat",
    "ptrace",
    "mount",
    "umount2",
    "unshare",
    "setns",
    "setuid",
    "setgid",
    "setreuid",
    "setregid",
    "setresuid",
    "setresgid",
    "setfsuid",
    "setfsgid",
    "memfd_create",
    "kill",
    "tkill",
    "tgkill",
)
MAX_LINE = 4096
MAX_FILE_BYTES = 8 << 20  # per process; a process that makes more traced calls than this is cut, and noted


def argv(strace: str, log_prefix: Path) -> list[str]:
    return [
        strace,
        "-f",
        "-ff",
        "-qq",
        "-s",
        "256",
        "-x",
        "--seccomp-bpf",
        "--decode-pids=pidns",
        "-o",
        str(log_prefix),
        "-e",
        "trace=" + ",".join(SYSCALLS),
    ]


@dataclass(frozen=True)
class Event:
    pid: int
    syscall: str
    args: str
    result: str  # "0", "-1", "?"
    errno: str  # "ENOENT" or ""
    line: str  # the raw line, bounded


@dataclass
class Process:
    pid: int
    parent: int = 0
    thread: bool = False
    execs: list[str] = field(default_factory=list)  # argv summaries, in order
    events: list[Event] = field(default_factory=list)
    killed_by: str = ""  # "SIGKILL" when the process died of a signal
    signals: list[str] = field(default_factory=list)


@dataclass
class Trace:
    procs: dict[int, Process]
    truncated: bool = False

    def chain(self, pid: int) -> list[str]:
        """The process chain from the outermost traced ancestor down to pid, one argv summary each."""
        out: list[str] = []
        seen: set[int] = set()
        while pid in self.procs and pid not in seen:
            seen.add(pid)
            p = self.procs[pid]
            if p.execs and not p.thread:
                out.append(f"[{pid}] {p.execs[-1]}")
            pid = p.parent
        return list(reversed(out))

    def descendants(self, root: int) -> set[int]:
        kids: dict[int, list[int]] = {}
        for p in self.procs.values():
            kids.setdefault(p.parent, []).append(p.pid)
        out, todo = set(), [root]
        while todo:
            cur = todo.pop()
            for k in kids.get(cur, []):
                if k not in out:
                    out.add(k)
                    todo.append(k)
        return out


_LINE = re.compile(
    r"^(?P<name>[a-z0-9_]+)\((?P<args>.*)\)\s+=\s+(?P<res>-?\d+|\?|0x[0-9a-f]+)"
    r"(?:\s+/\* (?P<host>\d+) in strace's PID NS \*/)?(?:\s+(?P<errno>E[A-Z0-9]+))?"
)
_SIGNAL = re.compile(r"^--- (?P<sig>SIG[A-Z0-9]+) ")
_KILLED = re.compile(r"^\+\+\+ killed by (?P<sig>SIG[A-Z0-9]+)")
_STR = re.compile(r'"((?:[^"\\]|\\.)*)"')
CLONE_THREAD = "CLONE_THREAD"


def strings(args: str) -> list[str]:
    """The quoted string arguments of a syscall line, with strace's escapes decoded."""
    return [_unescape(m.group(1)) for m in _STR.finditer(args)]


def _unescape(s: str) -> str:
    out = bytearray()
    i = 0
    b = s.encode("utf-8", "surrogateescape")
    while i < len(b):
        c = b[i]
        if c == 0x5C and i + 1 < len(b):  # backslash
            n = chr(b[i + 1])
            if n == "x" and i + 3 < len(b):
                try:
                    out.append(int(b[i + 2 : i + 4], 16))
                    i += 4
                    continue
                except ValueError:
                    pass
            out.append({"n": 10, "t": 9, "r": 13, '"': 34, "\\": 92}.get(n, ord(n)))
            i += 2
            continue
        out.append(c)
        i += 1
    return out.decode("utf-8", "replace")


def _exec_summary(args: str) -> str:
    parts = strings(args)
    if not parts:
        return args[:200]
    return " ".join(p[:120] for p in parts[1:8]) or parts[0]


def parse(log_prefix: Path) -> Trace:
    procs: dict[int, Process] = {}
    truncated = False
    for f in sorted(log_prefix.parent.glob(log_prefix.name + ".*")):
        suffix = f.name.rsplit(".", 1)[-1]
        if not suffix.isdigit():
            continue
        pid = int(suffix)
        p = procs.setdefault(pid, Process(pid))
        with f.open("rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
        if len(data) > MAX_FILE_BYTES:
            truncated = True
            data = data[:MAX_FILE_BYTES]
        for raw in data.decode("utf-8", "replace").splitlines():
            line = raw[:MAX_LINE]
            m = _LINE.match(line)
            if m is None:
                if (s := _SIGNAL.match(line)) is not None:
                    p.signals.append(s.group("sig"))
                elif (k := _KILLED.match(line)) is not None:
                    p.killed_by = k.group("sig")
                continue
            ev = Event(pid, m.group("name"), m.group("args"), m.group("res"), m.group("errno") or "", line[:600])
            p.events.append(ev)
            host_pid = int(m.group("host") or ev.result) if ev.result.isdigit() else 0
            if ev.syscall in ("clone", "clone3", "fork", "vfork") and host_pid > 0:
                child = procs.setdefault(host_pid, Process(host_pid))
                child.parent = pid
                child.thread = CLONE_THREAD in ev.args
                if child.thread:
                    child.execs = list(p.execs)
            elif ev.syscall in ("execve", "execveat") and ev.result == "0":
                p.execs.append(_exec_summary(ev.args))
    return Trace(procs, truncated)
