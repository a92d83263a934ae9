"""`airlock scan --stages sast` of one tree with an empty cache (cold) against a filled one (warm).

The tree is airlock's sast fixtures and labelled corpus (the same files as bench_scan.py). Cold: a fresh
--cache-dir each run, so semgrep, bandit and trivy scan every file and the results are stored. Warm: the
same tree again with the cache the cold run filled, so every file's result is read back and no tool runs.
A third figure changes one file before each warm run (an agent branch that touches one file of a shared
tree). Prints median wall times and the ratios warm / cold. Absolute times on a shared machine are noise.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.bench_scan import build_corpus  # noqa: E402


def timed(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=1800)
    if done.returncode not in (0, 1):
        raise SystemExit(f"airlock exited {done.returncode}: {done.stderr.decode(errors='replace')[-2000:]}")
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus"
        files = build_corpus(corpus)

        def scan(cache: Path) -> list[str]:
            return [sys.executable, "-m", "airlock", "scan", str(corpus), "--stages", "sast", "--format", "json",
                    "--cache-dir", str(cache)]  # fmt: skip

        timed(scan(Path(tmp) / "warmup"), env)  # page cache and semgrep's rule parse cache, for both sides
        cold, warm, one = [], [], []
        for n in range(args.runs):
            cache = Path(tmp) / f"cache{n}"
            cold.append(timed(scan(cache), env))
            warm.append(timed(scan(cache), env))
            touched = corpus / files[n % len(files)]
            touched.write_text(touched.read_text() + f"\n# edit {n}\n")
            one.append(timed(scan(cache), env))
            shutil.rmtree(cache)
    c, w, o = statistics.median(cold), statistics.median(warm), statistics.median(one)
    print(f"files scanned:                  {len(files)} Python files (+ the rest for trivy's secret scan)")
    print(f"cold scan (empty cache):        {c:6.2f} s (median of {args.runs})")
    print(f"warm scan (nothing changed):    {w:6.2f} s")
    print(f"warm scan, one file changed:    {o:6.2f} s")
    print(f"ratio warm / cold:              {w / c:6.2f}")
    print(f"ratio one changed / cold:       {o / c:6.2f}")


if __name__ == "__main__":
    main()
