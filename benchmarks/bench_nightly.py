"""`airlock nightly` against a loop of `airlock scan --base main --head BRANCH`, on a generated repository of
30 agent branches over a shared 200-file tree (tests/nightly_repo.py), sast stage, offline.

Prints three wall times and two ratios:
- cold nightly / 30 separate scans (target <= 0.5): the nightly runs each per-file tool once over the union
  of the branches' changed files (pipeline/batch.py) in one process;
- warm nightly / cold nightly (target <= 0.25): the same commits again with the output dir and the content
  cache (--cache-dir) kept.
Every run uses bytecode compiled beforehand, as an installed airlock does.
The separate scans run with --no-cache (today's shell loop, and no cache warmed for the nightly); the cold
nightly starts from an empty cache dir of its own.
Absolute times on a shared 2-core machine are noise; the ratios are the figures.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMPILED = ("pipeline", "scanners", "reports", "airlock/__init__.py", "airlock/__main__.py")
sys.path.insert(0, str(ROOT))

from tests.nightly_repo import make_repo  # noqa: E402


def timed(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=3600)
    if done.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(argv[:6])}... exited {done.returncode}: {done.stderr[-500:]}")
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--branches", type=int, default=30)
    ap.add_argument("--files", type=int, default=200)
    ap.add_argument("--nightly-only", action="store_true", help="skip the 30 separate scans: warm vs cold only")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "XDG_CACHE_HOME": str(Path(tmp) / "cache")}
        # Like an installed airlock (pip compiles it at install time, as it did the tools): airlock's bytecode
        # is compiled once before any timing (into the gitignored __pycache__ dirs), so no run pays for it.
        subprocess.run([sys.executable, "-m", "compileall", "-q", *(str(ROOT / d) for d in COMPILED)],
                       env=env, check=True, timeout=600, stdout=subprocess.DEVNULL)
        repo = make_repo(Path(tmp) / "repo", files=args.files, branches=args.branches)
        airlock = [sys.executable, "-m", "airlock"]
        common = ["--stages", "sast", "--offline"]

        separate = 0.0 if args.nightly_only else sum(
            timed([*airlock, "scan", str(repo), "--base", "main", "--head", f"agent/{b:02d}", *common,
                   "--no-cache", "--output", os.devnull], env)
            for b in range(args.branches)
        )
        nightly = [*airlock, "nightly", "--repo", str(repo), "--branches", "agent/*", *common,
                   "--output-dir", str(Path(tmp) / "out"), "--cache-dir", str(Path(tmp) / "nightly-cache")]
        cold = timed(nightly, env)
        warm = timed(nightly, env)
    print(f"{args.branches} branches over a {args.files}-file tree, sast, offline")
    if separate:
        print(f"  {args.branches} separate airlock scan runs: {separate:8.1f} s")
        print(f"  cold nightly:                  {cold:8.1f} s   ratio {cold / separate:.2f} (target <= 0.5)")
    else:
        print(f"  cold nightly:                  {cold:8.1f} s")
    print(f"  warm nightly (same commits):   {warm:8.1f} s   ratio {warm / cold:.2f} (target <= 0.25)")


if __name__ == "__main__":
    main()
