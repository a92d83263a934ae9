"""strace runs OUTSIDE the sandbox (strace -f -ff ... -- bwrap ...), so the traced code cannot tamper with it.

A narrow syscall set with --seccomp-bpf keeps the overhead low; -ff writes one file per process, so lines are
never interleaved. The parser turns the files into events with a process tree.
"""

from __future__ import annotations

import os
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
    "sendmsg",
    "sendmmsg",
    "bind",
    "open",
    "openat",
    "openat2",
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
MAX_LINE = 64 * 1024  # a longer line (a path near PATH_MAX, escaped) cuts the trace: an overflow, never a skip
MAX_EVENTS = 400_000  # events kept in memory over all processes; past it the trace is cut, and that is a finding


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
        "--decode-fds=path",  # the path the kernel resolved for every fd, whatever the code spelled
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
    fdpath: str = ""  # the path of the returned fd, as the kernel resolved it (--decode-fds=path)


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
    truncated: bool = False  # the trace was cut (events or size cap): a probe overflow, which fails the gate

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


# Anchored at the end: strace appends the result last, so however the arguments (quoted strings, fd paths) are
# spelled by the traced code, the greedy args group stops at the real ") = " and the tail is strace's own.
# In fd paths strace escapes '<' and '>', so the result's "<path>" is unambiguous.
_LINE = re.compile(
    r"^(?P<name>[a-z0-9_]+)\((?P<args>.*)\)\s+=\s+(?P<res>-?\d+|\?|0x[0-9a-f]+)"
    r"(?:<(?P<fdpath>[^<>]*)>)?"
    r"(?:\s+/\* (?P<host>\d+) in strace's PID NS \*/)?"
    r"(?:\s+(?P<errno>E[A-Z0-9]+)(?:\s+\([^()]*\))?)?"
    r"(?:\s+\([^()]*\))?\s*$"
)
_DIRFD = re.compile(r"^\s*(?:AT_FDCWD|-?\d+)<(?P<dir>[^<>]*)>")
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
            if n in "01234567":  # strace writes '<', '>' and some controls in fd paths as octal (\74, \76, \1)
                j = i + 1
                while j < len(b) and j < i + 4 and chr(b[j]) in "01234567":
                    j += 1
                out.append(int(b[i + 1 : j], 8) & 0xFF)
                i = j
                continue
            out.append({"n": 10, "t": 9, "r": 13, "v": 11, "f": 12, '"': 34, "\\": 92}.get(n, ord(n)))
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


def log_bytes(log_prefix: Path) -> int:
    """The size of every per-process log so far (the watchdog's view of the trace on disk)."""
    total = 0
    try:
        with os.scandir(log_prefix.parent) as it:
            for e in it:
                if e.name.startswith(log_prefix.name + "."):
                    try:
                        total += e.stat(follow_symlinks=False).st_size
                    except OSError:
                        continue
    except OSError:
        return total
    return total


def parse(log_prefix: Path, max_events: int = MAX_EVENTS) -> Trace:
    """Stream every per-process log line by line; memory is bounded by max_events, not by the logs' size."""
    procs: dict[int, Process] = {}
    truncated = False
    kept = 0
    for f in sorted(log_prefix.parent.glob(log_prefix.name + ".*")):
        suffix = f.name.rsplit(".", 1)[-1]
        if not suffix.isdigit():
            continue
        pid = int(suffix)
        p = procs.setdefault(pid, Process(pid))
        with f.open("rb") as fh:
            for raw_b in fh:
                if len(raw_b) > MAX_LINE:
                    truncated = True  # not parsed: reported as a probe overflow, never silently dropped
                    continue
                line = raw_b.decode("utf-8", "replace").rstrip("\n")
                m = _LINE.match(line)
                if m is None:
                    if (s := _SIGNAL.match(line)) is not None:
                        p.signals.append(s.group("sig"))
                    elif (k := _KILLED.match(line)) is not None:
                        p.killed_by = k.group("sig")
                    continue
                ev = Event(
                    pid,
                    m.group("name"),
                    m.group("args"),
                    m.group("res"),
                    m.group("errno") or "",
                    line[:600],
                    _unescape(m.group("fdpath")) if m.group("fdpath") else "",
                )
                host_pid = int(m.group("host") or ev.result) if ev.result.isdigit() else 0
                if ev.syscall in ("clone", "clone3", "fork", "vfork") and host_pid > 0:
                    child = procs.setdefault(host_pid, Process(host_pid))
                    child.parent = pid
                    child.thread = CLONE_THREAD in ev.args
                    if child.thread:
                        child.execs = list(p.execs)
                elif ev.syscall in ("execve", "execveat") and ev.result == "0":
                    p.execs.append(_exec_summary(ev.args))
                if kept >= max_events:
                    truncated = True
                    continue
                p.events.append(ev)
                kept += 1
    return Trace(procs, truncated)


def dirfd_path(args: str) -> str:
    """The directory an *at() call was relative to, as strace decoded its fd ("" when unknown)."""
    m = _DIRFD.match(args)
    return _unescape(m.group("dir")) if m else ""
