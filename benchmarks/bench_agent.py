#!/usr/bin/env python3
"""What the agent stage adds to a static scan, on a change of 20 files (target: at most 0.5 s).

One repository, one agent branch changing 20 files (sources, tests, manifests, a workflow, docs). Runs
`airlock scan --base main --stages sast,iac` and the same with `,agent` alternately, and prints the median
wall times, their difference, and the agent tools' own durations from the JSON report (the stage runs beside
sast and iac, so its own time is the honest figure on a loaded machine).

Usage: python benchmarks/bench_agent.py [--runs N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENV = {
    **os.environ,
    "PYTHONPATH": str(ROOT),
    "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@example.invalid", "GIT_COMMITTER_NAME": "b",
    "GIT_COMMITTER_EMAIL": "b@example.invalid", "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
}  # fmt: skip


def _module(i: int) -> str:
    body = "".join(f"def f{i}_{j}(x):\n    return x * {j} + {i}\n\n\n" for j in range(40))
    return f'"""Module {i}."""\nimport os\n\n\n{body}'


def _test(i: int, head: bool) -> str:
    body = "".join(f"def test_{i}_{j}():\n    assert f{i}_{j}(1) == {j + i + (1 if head and j == 0 else 0)}\n\n\n"
                   for j in range(30))  # fmt: skip
    return f"from src.m{i} import *  # noqa\n\n\n{body}"


def build(tmp: Path) -> Path:
    repo = tmp / "repo"
    repo.mkdir()
    files = {f"src/m{i}.py": _module(i) for i in range(8)}
    files |= {f"tests/test_m{i}.py": _test(i, False) for i in range(6)}
    files |= {"requirements.txt": "requests==2.31.0\n", "package.json": '{"dependencies": {"lodash": "^4"}}\n',
              ".github/workflows/ci.yml": "on: [push]\njobs:\n  t:\n    steps:\n      - run: pytest\n",
              "README.md": "# bench\n" + "Some prose.\n" * 200, "docs/a.md": "# a\n" + "Text.\n" * 200}
    for rel, text in files.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)
    git = ["git", "-C", str(repo)]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True, env=ENV)
    subprocess.run([*git, "add", "-A"], check=True, env=ENV)
    subprocess.run([*git, "commit", "-qm", "base"], check=True, env=ENV)
    subprocess.run([*git, "checkout", "-qb", "agent"], check=True, env=ENV)
    changed = {f"src/m{i}.py": _module(i) + f"\n\ndef added{i}():\n    return {i}\n" for i in range(8)}
    changed |= {f"tests/test_m{i}.py": _test(i, True) for i in range(6)}
    changed |= {"requirements.txt": "requests==2.31.0\nattrs==23.2.0\nreqeusts==1.0\n",
                "package.json": '{"dependencies": {"lodash": "^4", "chalk": "^5"}}\n',
                ".github/workflows/ci.yml": "on: [push]\njobs:\n  t:\n    steps:\n      - run: pytest -q\n",
                "README.md": "# bench\n" + "Some prose, edited.\n" * 200, "docs/a.md": "# a\n" + "More text.\n" * 200,
                "docs/b.md": "# b\n" + "New page.\n" * 100}  # fmt: skip
    assert len(changed) == 20
    for rel, text in changed.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)
    subprocess.run([*git, "add", "-A"], check=True, env=ENV)
    subprocess.run([*git, "commit", "-qm", "agent"], check=True, env=ENV)
    return repo


def run(repo: Path, stages: str, out: Path) -> tuple[float, dict[str, float]]:
    start = time.monotonic()
    subprocess.run(
        [sys.executable, "-m", "airlock", "scan", str(repo), "--base", "main", "--head", "agent", "--stages", stages,
         "--offline", "--json-output", str(out)],
        capture_output=True, timeout=900, check=False, env=ENV,
    )  # fmt: skip
    wall = time.monotonic() - start
    report = json.loads(out.read_text())
    tools = {t["name"]: float(t["duration_s"]) for s in report["stages"] if s["name"] == "agent" for t in s["tools"]}
    return wall, tools


def cpu_in_process(repo: Path, runs: int) -> float:
    """The agent scanner's own CPU seconds on the same change, in this process: what load cannot inflate."""
    sys.path.insert(0, str(ROOT))
    from airlock.pipeline.change import open_change
    from airlock.pipeline.policy import ToolConfig
    from airlock.scanners.agent.scanner import AgentScanner
    from airlock.scanners.interface import ScanContext

    times = []
    with open_change(repo, base="main", head="agent") as change:
        ctx = ScanContext(workspace=change.workspace, paths=change.scan_paths, tool=ToolConfig(), change=change)
        scanner = AgentScanner()
        for _ in range(runs):
            start = time.process_time()
            scanner.run(ctx, scanner.targets(ctx))
            times.append(time.process_time() - start)
    return statistics.median(times)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-agent-") as tmp_s:
        tmp = Path(tmp_s)
        repo = build(tmp)
        without: list[float] = []
        with_agent: list[float] = []
        own: list[float] = []
        for i in range(args.runs):
            without.append(run(repo, "sast,iac", tmp / f"a{i}.json")[0])
            wall, tools = run(repo, "sast,iac,agent", tmp / f"b{i}.json")
            with_agent.append(wall)
            own.append(sum(tools.values()))
        cpu = cpu_in_process(repo, max(args.runs, 5))
    a, b, o = statistics.median(without), statistics.median(with_agent), statistics.median(own)
    print(f"change of 20 files, {args.runs} runs each, load {os.getloadavg()[0]:.1f}")
    print(f"  sast,iac        median {a:.2f} s")
    print(f"  sast,iac,agent  median {b:.2f} s  (difference {b - a:+.2f} s)")
    print(f"  agent stage's own wall time in the report (airlock + trivy-deps): median {o:.3f} s")
    print(f"  agent checks CPU time in process: median {cpu:.3f} s  (target <= 0.5 s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
