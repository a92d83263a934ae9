"""Events (syscalls, proxy requests, DNS queries, file changes, resource use) -> findings with stable rule ids.

Everything here reads what the sandboxed code produced; it is evidence, never instructions: every line is
escaped and bounded, canary values are masked, and nothing in it is parsed as control data.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field

from airlock.pipeline.fingerprint import fingerprint
from airlock.pipeline.models import Finding, Severity
from airlock.reports.escape import terminal
from airlock.scanners.runtime import fsdiff
from airlock.scanners.runtime.canaries import Canary, CanarySet
from airlock.scanners.runtime.proxy import ProxyEvent
from airlock.scanners.runtime.sandbox import Layout, Usage
from airlock.scanners.runtime.seccomp import Refusal
from airlock.scanners.runtime.strace import Event, Trace, dirfd_path, strings

STAGE, TOOL = "runtime", "bwrap"
MAX_EVIDENCE = 12
MAX_EVIDENCE_CHARS = 400

RULES: dict[str, tuple[Severity, str]] = {
    "runtime.network.egress-denied": (Severity.HIGH, "Outbound connection blocked"),
    "runtime.network.egress-allowed": (Severity.INFO, "Outbound request to an allowlisted host"),
    "runtime.network.host-mismatch": (Severity.HIGH, "Host header differs from the request's target"),
    "runtime.dns.query": (Severity.MEDIUM, "DNS query from the sandboxed code"),
    "runtime.cloud-metadata-access": (Severity.HIGH, "Cloud metadata endpoint contacted"),
    "runtime.fs.sensitive-read": (Severity.HIGH, "Sensitive file opened"),
    "runtime.fs.canary-read": (Severity.HIGH, "Canary credential file opened"),
    "runtime.secret.exfiltration": (Severity.CRITICAL, "Canary secret left the process"),
    "runtime.fs.write-outside-workspace": (Severity.HIGH, "Write attempted outside the workspace"),
    "runtime.persistence.git-hook": (Severity.HIGH, "Git hook or git config changed"),
    "runtime.persistence.shell-rc": (Severity.HIGH, "Shell startup file changed"),
    "runtime.persistence.cron": (Severity.HIGH, "Scheduled job installation attempted"),
    "runtime.process.network-tool": (Severity.MEDIUM, "Network tool started"),
    "runtime.process.fileless-exec": (Severity.HIGH, "Program executed from memory"),
    "runtime.privilege.escalation-attempt": (Severity.HIGH, "Privilege escalation or sandbox tampering attempt"),
    "runtime.resource.limit-exceeded": (Severity.MEDIUM, "Resource limit exceeded"),
    "runtime.timeout": (Severity.MEDIUM, "Command timed out"),
    "runtime.workspace.tamper": (Severity.HIGH, "CI configuration or tests changed at run time"),
    "runtime.fs.write-escaped": (Severity.CRITICAL, "Write succeeded outside the writable areas"),
    "runtime.fs.hidden-read": (Severity.MEDIUM, "Read of a host path the sandbox does not show"),
    "runtime.sandbox.syscall-refused": (Severity.HIGH, "System call refused by the sandbox's seccomp filter"),
    "runtime.probe.overflow": (Severity.HIGH, "A runtime probe was cut short"),
    "runtime.process.daemon": (Severity.MEDIUM, "Process left running after the command returned"),
}

# Never "shown by the base too": a probe that was cut short saw nothing after the cut, whatever the base did.
ALWAYS_NEW = frozenset({"runtime.probe.overflow", "runtime.secret.exfiltration", "runtime.fs.write-escaped"})
NETWORK_TOOLS = frozenset(
    {
        "curl",
        "wget",
        "nc",
        "ncat",
        "netcat",
        "socat",
        "ssh",
        "scp",
        "sftp",
        "telnet",
        "ftp",
        "rsync",
        "dig",
        "nslookup",
        "host",
    }
)
METADATA_ADDRS = frozenset({"169.254.169.254", "fd00:ec2::254", "169.254.170.2", "100.100.100.200"})
METADATA_HOSTS = frozenset({"169.254.169.254", "metadata.google.internal", "metadata", "100.100.100.200"})
SENSITIVE = re.compile(
    r"^(/etc/(shadow|gshadow|sudoers)|/etc/ssh/ssh_host_.*_key$|/root/\.(ssh|aws|gnupg|docker|kube|netrc|git-credentials|config/gh)|/home/(?!sandbox/)[^/]+/\.(ssh|aws|gnupg|docker|kube|config)"
    r"|/var/run/secrets/|/run/secrets/|/proc/(?!self/)\d+/(environ|mem|maps)$|/proc/1/root|/sys/firmware/)"
)
CRON = re.compile(r"^(/etc/cron|/var/spool/cron|/etc/anacrontab|/etc/systemd/system|/usr/lib/systemd)")
SHELL_RC_NAMES = frozenset(
    {
        ".bashrc",
        ".bash_profile",
        ".bash_login",
        ".profile",
        ".zshrc",
        ".zprofile",
        ".zshenv",
        ".bash_logout",
        ".config/fish/config.fish",
    }
)
ETC_RC = re.compile(r"^/etc/(profile|bash\.bashrc|profile\.d/|zsh/|environment$)")
WRITE_FLAGS = ("O_WRONLY", "O_RDWR", "O_CREAT", "O_TRUNC", "O_APPEND")
ESCALATION_CALLS = frozenset(
    {
        "setuid",
        "setgid",
        "setreuid",
        "setregid",
        "setresuid",
        "setresgid",
        "setfsuid",
        "setfsgid",
        "mount",
        "umount2",
        "ptrace",
        "unshare",
        "setns",
    }
)
_ADDR4 = re.compile(r'sin_port=htons\((\d+)\), sin_addr=inet_addr\("([^"]+)"\)')
_ADDR6 = re.compile(r'sin6_port=htons\((\d+)\).*?inet_pton\(AF_INET6, "([^"]+)"')
_DIRFD_PREFIX = re.compile(r"^\s*(?:AT_FDCWD|-?\d+)(?:<[^<>]*>)?\s*,\s*")
_NSPID = re.compile(r"^(-?\d+)(?: /\* (\d+) in strace's PID NS \*/)?")
CI_PATHS = re.compile(
    r"^(\.github/workflows/|\.gitlab-ci\.yml$|\.circleci/|Jenkinsfile$|azure-pipelines\.yml$|\.travis\.yml$"
    r"|\.buildkite/|bitbucket-pipelines\.yml$|airlock\.toml$|\.pre-commit-config\.yaml$)"
)
TEST_PATHS = re.compile(
    r"(^|/)(tests?/|test_[^/]*\.py$|[^/]*_test\.(py|go)$|[^/]*\.(test|spec)\.[jt]sx?$|conftest\.py$)"
)


OUTPUT_TAIL_CHARS = 240  # fits a report's note (text and Markdown show 300 characters of each)


def output_tail(stdout: bytes, stderr: bytes, canaries: CanarySet, limit: int = OUTPUT_TAIL_CHARS) -> str:
    """The end of what a command printed, escaped: the last line always survives, the start is cut.

    Masked before it is cut, so no canary value is ever split into an unmasked half.
    """
    parts = (b.decode("utf-8", "replace").strip() for b in (stdout, stderr))
    text = terminal(canaries.mask("\n".join(p for p in parts if p)))
    return text if len(text) <= limit else "..." + text[-limit:]


@dataclass
class CommandRun:
    """Everything airlock observed about one command, gathered host-side (survives the sandbox dying)."""

    index: int
    command: str
    exit_code: int | None
    usage: Usage
    trace: Trace
    proxy: list[ProxyEvent]
    output_hits: list[str]  # canary names seen in stdout/stderr
    output_tail: str  # escaped, bounded
    notes: list[str] = field(default_factory=list)
    daemons: list[str] = field(default_factory=list)  # processes init found alive after the command returned
    sync_lost: bool = False  # init never reported back: it was killed, so the sandbox's view could not be read
    refusals: list[Refusal] = field(default_factory=list)  # calls the seccomp filter refused, from the supervisor
    refusal_overflow: int = 0


def esc(text: str, canaries: CanarySet) -> str:
    text = canaries.mask(text)
    if len(text) > MAX_EVIDENCE_CHARS:
        text = text[:MAX_EVIDENCE_CHARS] + f"...[{len(text) - MAX_EVIDENCE_CHARS} more chars]"
    return terminal(text)


class Collector:
    """Builds findings, one per (rule, key), with evidence lines merged and bounded."""

    def __init__(self, canaries: CanarySet, layout: Layout) -> None:
        self.canaries = canaries
        self.layout = layout
        self._items: dict[tuple[str, str], dict] = {}

    def add(
        self, rule: str, key: str, message: str, run: CommandRun | None, chain: list[str], lines: list[str]
    ) -> None:
        item = self._items.get((rule, key))
        if item is None:
            ev = []
            if run is not None:
                ev.append(f"command[{run.index}]: {esc(run.command, self.canaries)}")
            if chain:
                ev.append("process: " + " -> ".join(esc(c, self.canaries) for c in chain[-6:]))
            item = {"message": esc(message, self.canaries), "evidence": ev, "count": 0}
            self._items[(rule, key)] = item
        item["count"] += 1
        for line in lines:
            if len(item["evidence"]) < MAX_EVIDENCE:
                item["evidence"].append(esc(line, self.canaries))

    def overflow(self, what: str, run: CommandRun | None = None) -> None:
        """A probe hit a cap: fail closed, with what was cut named."""
        self.add("runtime.probe.overflow", what[:80], f"a runtime probe was cut short: {what}", run, [], [what])

    def limit(self, run: CommandRun | None, name: str, detail: str) -> None:
        self.add(
            "runtime.resource.limit-exceeded",
            f"{run.index if run else 0}:{name}",
            f"the {name} limit was hit: {detail}",
            run,
            [],
            [detail],
        )

    def behaviour(self, rule: str, key: str) -> str:
        """What a finding is about, without this run's random layout or pids: the same behaviour on another run
        (the base's, with [runtime] compare_base) has the same fingerprint. A blinded probe, a canary that left or
        an escaped write is never excused by the base: it keeps this run's random helper name."""
        lay = self.layout
        for part, name in ((lay.workspace, "$WORKSPACE"), (lay.home, "$HOME"), (lay.helper, "$HELPER")):
            key = key.replace(part, name)
        key = key.replace(lay.hostname, "$HOSTNAME")
        key = "N" if key.isdigit() else re.sub(r"/proc/\d+/", "/proc/N/", key)  # pids
        return f"{key}@{lay.helper}" if rule in ALWAYS_NEW else key

    def findings(self) -> list[Finding]:
        out = []
        seen: dict[tuple[str, str], int] = {}
        for (rule, key), item in self._items.items():
            what = (rule, self.canaries.mask(self.behaviour(rule, key)))
            occurrence = seen[what] = seen.get(what, -1) + 1
            sev, title = RULES[rule]
            ev = list(item["evidence"])
            if item["count"] > 1:
                ev.append(f"({item['count']} occurrences)")
            out.append(
                Finding(
                    stage=STAGE,
                    tool=TOOL,
                    rule_id=rule,
                    message=item["message"],
                    severity=sev,
                    path="",
                    title=title,
                    evidence=tuple(ev),
                    fingerprint=fingerprint(rule, "", what[1], occurrence),
                )
            )
        return out


def subjects(trace: Trace, layout: Layout) -> tuple[set[int], int]:
    """The processes the command created: descendants of airlock's init helper, minus its own helper threads."""
    # The code can exec the helper's path too: airlock's init is the one with no such process above it (never the
    # first in pid or file-name order, which the code can influence).
    execs = {p.pid for p in trace.procs.values() if any(layout.init_script in e for e in p.execs)}
    init = min((pid for pid in execs if not execs & set(_ancestors(trace, pid))), default=0)
    if not init:
        return set(), 0
    out = set()
    for pid in trace.descendants(init):
        p = trace.procs[pid]
        if p.thread and p.parent == init:
            continue
        out.add(pid)
    return out, init


def _write_intent(ev: Event) -> bool:
    if ev.syscall == "creat":
        return True
    if ev.syscall in ("open", "openat", "openat2"):
        return any(f in ev.args for f in WRITE_FLAGS)
    return ev.syscall in (
        "unlink",
        "unlinkat",
        "rename",
        "renameat",
        "renameat2",
        "mkdir",
        "mkdirat",
        "chmod",
        "fchmodat",
    )


AT_CALLS = frozenset({"openat", "openat2", "unlinkat", "renameat", "renameat2", "mkdirat", "fchmodat", "execveat"})


def _path_arg(ev: Event) -> str:
    """The path the code spelled (after an *at() call's decoded dirfd, which may itself contain quotes)."""
    args = ev.args
    if ev.syscall in AT_CALLS:
        m = _DIRFD_PREFIX.match(args)
        if m:
            args = args[m.end() :]
    s = strings(args)
    return s[0] if s else ""


def resolved_path(ev: Event, workspace: str) -> str:
    """The path the kernel opened when it returned an fd; else the spelled path made absolute against the dirfd the
    kernel decoded (or the workspace), with doubled slashes and dot segments collapsed."""
    if ev.fdpath.startswith("/"):
        return ev.fdpath
    path = _path_arg(ev)
    if not path:
        return ""
    if not path.startswith("/"):
        base = dirfd_path(ev.args) if ev.syscall in AT_CALLS else ""
        path = posixpath.join(base or workspace, path)
    return "/" + posixpath.normpath(path).lstrip("/")


def _is_shell_rc(path: str, home: str) -> bool:
    if path.startswith(home + "/"):
        return path[len(home) + 1 :] in SHELL_RC_NAMES
    return bool(ETC_RC.match(path))


# Where the sandboxed code may write: its overlays, /tmp (and /var/tmp, a link to it), /dev/shm, and devices.
WRITABLE = ("/tmp/", "/var/tmp/", "/dev/")  # noqa: S108 - and the layout's workspace and $HOME
SANDBOX_VIEW = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/proc", "/dev", "/tmp",
                "/run", "/var/tmp")  # fmt: skip


def _under(path: str, prefixes: tuple[str, ...]) -> bool:
    return any(path == p.rstrip("/") or path.startswith(p.rstrip("/") + "/") for p in prefixes)


def analyse_trace(
    run: CommandRun,
    c: Collector,
    visible: tuple[str, ...] = (),
    aliases: dict[str, Canary] | None = None,
    workspace_before: frozenset[str] = frozenset(),
) -> None:
    """aliases: sandbox paths whose content is a canary's (hard links, copies); workspace_before: the workspace's
    paths before the run, so a write-intent open of an existing test, CI or policy file is tamper even if restored."""
    trace = run.trace
    if trace.truncated:
        c.overflow(
            f"the syscall trace of command {run.index} passed its event cap; later events were not analysed", run
        )
    if run.sync_lost:
        c.add(
            "runtime.privilege.escalation-attempt",
            "init-killed",
            "the sandbox's init process was killed or stopped before it could report, hiding the file changes",
            run,
            [],
            ["no report from the sandbox's init process"],
        )
    for r in run.refusals:
        chain = trace.chain(r.pid)
        cut = next((i for i, e in enumerate(chain) if c.layout.init_script in e), -1)
        args = ", ".join(hex(a) for a in r.args[:3])
        c.add("runtime.sandbox.syscall-refused", f"{r.family}:{r.syscall}",
              f"the sandbox refused {r.syscall}() ({r.family}): no install, test or build needs it",
              run, chain[cut + 1 :], [f"{r.syscall}({args}) refused with EPERM, pid {r.pid}"])
    if run.refusal_overflow:
        c.overflow(f"{run.refusal_overflow} further refused system calls were not recorded", run)
    for d in run.daemons:
        c.add(
            "runtime.process.daemon",
            d[:120],
            f"a process was still running after the command returned: {d}",
            run,
            [],
            [d],
        )
    lay = c.layout
    view = SANDBOX_VIEW + tuple(visible) + (lay.workspace, lay.home)
    writable = WRITABLE + (lay.workspace + "/", lay.home + "/")
    subj, init = subjects(trace, lay)
    supervisors = {init} | {
        p for p in trace.procs if init and p not in subj and p != init and not trace.procs[p].thread
    }
    memfd_pids: set[int] = set()
    canary_files = {**c.canaries.files, **(aliases or {})}
    for pid in sorted(subj):
        proc = trace.procs[pid]
        chain = trace.chain(pid)
        cut = next((i for i, e in enumerate(chain) if c.layout.init_script in e), -1)
        chain = chain[cut + 1 :]
        for ev in proc.events:
            name = ev.syscall
            if name in ("execve", "execveat"):
                path = _path_arg(ev)
                base = posixpath.basename(path)
                if base in NETWORK_TOOLS:
                    c.add(
                        "runtime.process.network-tool",
                        base,
                        f"the change started the network tool '{base}'",
                        run,
                        chain,
                        [ev.line],
                    )
                if base == "crontab":
                    c.add(
                        "runtime.persistence.cron",
                        "crontab",
                        "the change ran crontab to install a scheduled job",
                        run,
                        chain,
                        [ev.line],
                    )
                fd_exec = re.match(r"^(/proc/(self|\d+)/fd/\d+|/dev/fd/\d+)$", path) or (
                    name == "execveat" and "AT_EMPTY_PATH" in ev.args
                )
                if fd_exec:  # memfd, O_TMPFILE or a deleted file: nothing on disk to scan
                    c.add(
                        "runtime.process.fileless-exec",
                        str(pid),
                        "a program was executed from a file descriptor (memfd, O_TMPFILE or a deleted file)"
                        + (" created in memory" if memfd_pids & ({pid} | set(_ancestors(trace, pid))) else ""),
                        run,
                        chain,
                        [ev.line],
                    )
            elif name == "memfd_create" and ev.result.isdigit():
                memfd_pids.add(pid)
            elif name in ("connect", "sendto", "sendmsg", "sendmmsg"):
                _network(ev, run, chain, c)
            elif name in ESCALATION_CALLS:
                c.add(
                    "runtime.privilege.escalation-attempt", name, f"the change called {name}()", run, chain, [ev.line]
                )
            elif name in ("chmod", "fchmod", "fchmodat") and re.search(r"\b0?[2467][0-7]{3}\b", ev.args.split(",")[-1]):
                mode = ev.args.split(",")[-1].strip()
                if len(mode) >= 4 and int(mode, 8) & 0o6000:
                    c.add(
                        "runtime.privilege.escalation-attempt",
                        "setid-bit",
                        "the change set a setuid/setgid bit",
                        run,
                        chain,
                        [ev.line],
                    )
            elif name in ("kill", "tkill", "tgkill"):
                _signal(ev, trace, pid, supervisors, subj, run, chain, c)
            if name in ("open", "openat", "openat2", "creat"):
                _open(ev, run, chain, c, canary_files)
                _visibility(ev, run, chain, c, view)
            if _write_intent(ev) and ev.errno == "ENOENT" and CRON.match(resolved_path(ev, lay.workspace)):
                c.add(
                    "runtime.persistence.cron",
                    resolved_path(ev, lay.workspace),
                    f"the change tried to write {resolved_path(ev, lay.workspace)}",
                    run,
                    chain,
                    [ev.line],
                )
            elif _write_intent(ev) and ev.result != "-1" and _escaped(ev, lay, writable):
                path = resolved_path(ev, lay.workspace)
                c.add(
                    "runtime.fs.write-escaped",
                    path,
                    f"the change wrote outside its writable areas: {path}",
                    run,
                    chain,
                    [ev.line],
                )
            elif _write_intent(ev) and ev.errno and ev.errno != "EEXIST":
                path = resolved_path(ev, lay.workspace)
                # Any errno (EROFS, EACCES, EPERM, ENOENT): the attempt shows intent. Inside the writable areas a
                # failure is ordinary (a missing file to unlink), so only paths outside them count.
                if ev.errno == "EROFS" or (path.startswith("/") and not _under(path, writable)):
                    if CRON.match(path):
                        c.add(
                            "runtime.persistence.cron", path, f"the change tried to write {path}", run, chain, [ev.line]
                        )
                    elif _is_shell_rc(path, lay.home):
                        c.add(
                            "runtime.persistence.shell-rc",
                            path,
                            f"the change tried to write {path}",
                            run,
                            chain,
                            [ev.line],
                        )
                    elif "/__pycache__/" not in path:  # a failed bytecode-cache write is noise, not intent
                        c.add(
                            "runtime.fs.write-outside-workspace",
                            posixpath.dirname(path) or path,
                            f"the change tried to write outside the workspace: {path}",
                            run,
                            chain,
                            [ev.line],
                        )
            elif _write_intent(ev) and ev.result != "-1" and name in ("open", "openat", "openat2", "creat"):
                path = resolved_path(ev, lay.workspace)
                _tamper_intent(path, workspace_before, run, chain, c, ev)
                if _is_shell_rc(path, lay.home):
                    c.add(
                        "runtime.persistence.shell-rc",
                        path,
                        f"the change wrote the shell startup file {path}",
                        run,
                        chain,
                        [ev.line],
                    )
                elif path.startswith(f"{lay.workspace}/.git/hooks/") or path.startswith(".git/hooks/"):
                    c.add(
                        "runtime.persistence.git-hook",
                        posixpath.basename(path),
                        f"the change wrote the git hook {path}",
                        run,
                        chain,
                        [ev.line],
                    )


def _tamper_intent(
    path: str, before: frozenset[str], run: CommandRun, chain: list[str], c: Collector, ev: Event
) -> None:
    ws = c.layout.workspace
    if not path.startswith(ws + "/"):
        return
    rel = path[len(ws) + 1 :]
    if rel in before and "__pycache__" not in rel and (CI_PATHS.match(rel) or TEST_PATHS.search(rel)):
        c.add("runtime.workspace.tamper", rel, f"the change opened {rel} for writing during the run", run, chain,
              [ev.line])


def _escaped(ev: Event, lay: Layout, writable: tuple[str, ...]) -> bool:
    path = resolved_path(ev, lay.workspace)
    return path.startswith("/") and not _under(path, writable) and path not in ("/dev/null",)


def _visibility(ev: Event, run: CommandRun, chain: list[str], c: Collector, view: tuple[str, ...]) -> None:
    lay = c.layout
    """A path outside everything the sandbox shows: the code went looking for the host (whatever errno it got)."""
    norm = resolved_path(ev, lay.workspace)
    if not norm.startswith("/") or _under(norm, view) or SENSITIVE.match(norm):
        return
    top = "/" + norm.lstrip("/").split("/", 1)[0]
    c.add(
        "runtime.fs.hidden-read",
        top,
        f"the change looked for {norm}, which the sandbox does not show",
        run,
        chain,
        [ev.line],
    )


def _ancestors(trace: Trace, pid: int) -> list[int]:
    out, seen = [], set()
    while pid in trace.procs and pid not in seen:
        seen.add(pid)
        pid = trace.procs[pid].parent
        out.append(pid)
    return out


def _open(ev: Event, run: CommandRun, chain: list[str], c: Collector, canary_files: dict) -> None:
    lay = c.layout
    norm = resolved_path(ev, lay.workspace)
    if not norm:
        return
    # Matched on the path the kernel resolved (links, dirfds, /proc/self/root, doubled slashes all collapse), and on
    # files whose content is a canary's (a hard link or copy made elsewhere): canary_files holds both.
    canary = canary_files.get(norm) if ev.result != "-1" else None
    if canary is not None:
        c.add(
            "runtime.fs.canary-read",
            canary.name,
            f"the change opened the planted credential {canary.name}"
            + ("" if norm == canary.path else f" (as {norm})"),
            run,
            chain,
            [ev.line],
        )
        return
    if SENSITIVE.match(norm):
        c.add("runtime.fs.sensitive-read", norm, f"the change opened the sensitive file {norm}", run, chain, [ev.line])


def _network(ev: Event, run: CommandRun, chain: list[str], c: Collector) -> None:
    m4, m6 = _ADDR4.search(ev.args), _ADDR6.search(ev.args)
    m = m4 or m6
    if m is None:
        return
    port, addr = int(m.group(1)), m.group(2)
    if addr in METADATA_ADDRS:
        c.add(
            "runtime.cloud-metadata-access",
            addr,
            f"the change contacted the cloud metadata endpoint {addr}:{port}",
            run,
            chain,
            [ev.line],
        )
        return
    if addr.startswith("127.") or addr in ("::1", "0.0.0.0", "::", "::ffff:127.0.0.1"):  # noqa: S104
        return
    c.add(
        "runtime.network.egress-denied",
        f"{addr}:{port}",
        f"direct connection to {addr}:{port} bypassing the proxy (blocked: the sandbox has only loopback)",
        run,
        chain,
        [ev.line],
    )


def _signal(
    ev: Event,
    trace: Trace,
    pid: int,
    supervisors: set[int],
    subj: set[int],
    run: CommandRun,
    chain: list[str],
    c: Collector,
) -> None:
    first = ev.args.split(",")[0].strip()
    m = _NSPID.match(first)
    if m is None or ev.args.rstrip().endswith(", 0"):
        return  # signal 0 only probes
    target_ns, target_host = int(m.group(1)), int(m.group(2) or 0)
    ancestors = set(_ancestors(trace, pid))
    hit = target_ns in (1, -1) or target_host in supervisors or target_host in ancestors
    if hit:
        c.add(
            "runtime.privilege.escalation-attempt",
            "signal-supervisor",
            "the change signalled its parent or the sandbox supervisor",
            run,
            chain,
            [ev.line],
        )


def _varying_labels(names: list[str]) -> list[str]:
    """Each DNS name without the labels it shares at the end with its neighbour (the collector's zone), so that
    pieces of a value sent one query at a time line up again."""
    out = []
    for i, name in enumerate(names):
        other = names[i - 1] if i else (names[1] if len(names) > 1 else "")
        mine, theirs = name.lower().rstrip(".").split("."), other.lower().rstrip(".").split(".")
        shared = 0
        while shared < min(len(mine), len(theirs)) and mine[-1 - shared] == theirs[-1 - shared]:
            shared += 1
        out.append(".".join(name.rstrip(".").split(".")[: max(1, len(mine) - shared)]))
    return out


def analyse_proxy(run: CommandRun, c: Collector, mode: str) -> None:
    # One stateful detector over the run's traffic: pieces of a canary spread over queries or requests add up.
    split = c.canaries.detector()
    direct: set[str] = set()
    varying = iter(_varying_labels([ev.host for ev in run.proxy if ev.kind == "dns"]))
    for ev in run.proxy:
        if ev.kind == "dns":
            c.add(
                "runtime.dns.query",
                ev.host.lower(),
                f"DNS query for {ev.host!r} (answered NXDOMAIN)",
                run,
                [],
                [f"dns query type={ev.qtype} name={ev.host!r}"],
            )
            hits = c.canaries.found_in(ev.host)
            split.feed("dns", next(varying).encode("utf-8", "surrogateescape") + b"\n")
        elif ev.kind in ("http", "connect"):
            line = f"{ev.method} {ev.host}:{ev.port}{ev.path if ev.kind == 'http' else ''}"
            lines = [f"proxy: {line} -> {'forwarded' if ev.forwarded else 'refused (403)'}"]
            lines += [f"header: {k}: {v}" for k, v in ev.headers[:6]]
            if ev.size:
                lines.append(f"{'tunnel upload' if ev.kind == 'connect' else 'body'}: {ev.size} bytes, scanned in full")
            if ev.fronting:
                lines[0] = f"proxy: {line} (Host: {ev.host_header}) -> refused (403)"
                c.add(
                    "runtime.network.host-mismatch",
                    f"{ev.host}:{ev.port}",
                    f"request to {ev.host}:{ev.port} whose Host header names {ev.host_header!r} "
                    "(domain fronting; refused)",
                    run,
                    [],
                    lines,
                )
            elif ev.host.lower() in METADATA_HOSTS:
                c.add(
                    "runtime.cloud-metadata-access",
                    ev.host,
                    f"request to the cloud metadata endpoint {ev.host}",
                    run,
                    [],
                    lines,
                )
            elif ev.allowed:
                c.add(
                    "runtime.network.egress-allowed",
                    f"{ev.host}:{ev.port}",
                    f"request to allowlisted {ev.host}:{ev.port} "
                    f"({'forwarded' if ev.forwarded else 'not forwarded in enforce mode'})",
                    run,
                    [],
                    lines,
                )
            else:
                c.add(
                    "runtime.network.egress-denied",
                    f"{ev.host}:{ev.port}",
                    f"request to {ev.host}:{ev.port}, which is not on the allowlist (refused)",
                    run,
                    [],
                    lines,
                )
            blob = line + "\n" + "\n".join(f"{k}: {v}" for k, v in ev.headers)
            data = blob.encode("latin-1", "replace") + b"\n" + ev.body
            hits = c.canaries.found_in(data)
            split.feed(f"{ev.kind}:{ev.host}", data + b"\n")
        else:
            c.add(
                "runtime.network.egress-denied",
                "garbage",
                "non-HTTP traffic sent to the proxy (refused)",
                run,
                [],
                [f"proxy: {ev.path!r}"],
            )
            hits = c.canaries.found_in(ev.path)
            split.feed("raw", ev.path.encode("latin-1", "replace") + b"\n")
        # The proxy scanned the whole stream (body, chunks, tunnel); the prefix kept here is evidence only.
        streamed = set(ev.hits) - {h.name for h in hits}
        hits = hits + [k for k in c.canaries.canaries if k.name in streamed]
        for canary in hits:
            direct.add(canary.name)
            c.add(
                "runtime.secret.exfiltration",
                canary.name,
                f"the planted secret {canary.name} was sent out ({ev.kind} to {ev.host})",
                run,
                [],
                [f"{ev.kind}: {ev.method} {ev.host}:{ev.port} {ev.path}"],
            )
    for name in sorted((split.flush() | split.hits) - direct):
        c.add(
            "runtime.secret.exfiltration",
            name,
            f"the planted secret {name} was sent out in pieces across DNS queries or requests",
            run,
            [],
            ["the pieces, put together, carry the canary value (masked)"],
        )
    if c.canaries.index.capped:
        c.overflow(
            "the canary detector's decompression budget was used up; compressed output or traffic past it was not "
            "searched for canaries",
            run,
        )
    for name in run.output_hits:
        c.add(
            "runtime.secret.exfiltration",
            name,
            f"the planted secret {name} was printed to the command's output",
            run,
            [],
            ["stdout/stderr contained the canary value (masked)"],
        )


def analyse_usage(run: CommandRun, c: Collector, limits_text: dict[str, str]) -> None:
    u = run.usage
    for hit in filter(None, u.limit_hit.split(",")):
        if hit == "wall":
            c.add(
                "runtime.timeout",
                str(run.index),
                f"the command ran past its wall-time limit ({limits_text['wall']}) "
                "and its whole process tree was killed",
                run,
                [],
                [_usage_line(u)],
            )
        elif hit == "trace":
            c.overflow(
                f"the syscall trace of command {run.index} reached {limits_text.get('trace', 'its limit')}; the "
                "command was stopped so nothing after it goes unseen",
                run,
            )
        else:
            c.add(
                "runtime.resource.limit-exceeded",
                f"{run.index}:{hit}",
                f"the command hit the {hit} limit ({limits_text.get(hit, '')})",
                run,
                [],
                [_usage_line(u)],
            )


def _usage_line(u: Usage) -> str:
    return (
        f"wall {u.wall_s:.2f} s, cpu {u.cpu_s:.2f} s, peak memory {u.peak_memory_mb:.0f} MiB, "
        f"peak processes {u.peak_pids}"
    )


def analyse_fs(changes: list[fsdiff.Change], c: Collector) -> list[str]:
    """File-system findings; returns notes (new executables) that are reported but are not findings."""
    notes = []
    for ch in changes:
        where = "$HOME" if ch.area == "home" else "workspace"
        line = f"{where}: {ch.what} {ch.path}"
        if ch.area == "workspace" and (
            ch.path.startswith(".git/hooks/")
            and not ch.path.endswith(".sample")
            and ch.after is not None
            and ch.after.kind != "dir"
            or ch.path == ".git/config"
        ):
            c.add("runtime.persistence.git-hook", ch.path, f"{ch.path} was {ch.what} during the run", None, [], [line])
        elif ch.area == "home" and ch.path in SHELL_RC_NAMES:
            c.add(
                "runtime.persistence.shell-rc",
                f"{c.layout.home}/{ch.path}",
                f"~/{ch.path} was {ch.what} during the run",
                None,
                [],
                [line],
            )
        elif ch.area == "workspace" and CI_PATHS.match(ch.path) and (ch.after is None or ch.after.kind != "dir"):
            c.add(
                "runtime.workspace.tamper",
                ch.path,
                f"CI/policy file {ch.path} was {ch.what} during the run",
                None,
                [],
                [line],
            )
        elif (
            ch.area == "workspace"
            and TEST_PATHS.search(ch.path)
            and ch.before is not None
            and ch.before.kind == "file"
            and ch.what in ("deleted", "emptied", "modified")
            and "__pycache__" not in ch.path
        ):
            c.add(
                "runtime.workspace.tamper",
                ch.path,
                f"test file {ch.path} was {ch.what} during the run",
                None,
                [],
                [line],
            )
        if ch.new_executable and not ch.path.startswith(".git/"):
            notes.append(terminal(f"runtime: new executable in {where}: {ch.path}"[:300]))
    return notes
