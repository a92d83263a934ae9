"""airlock scan --stages sast against running its tools one after the other by hand on the same files.

The sast stage runs semgrep, bandit and trivy's secret scanner, so the by-hand baseline runs those three
with the same flags. Prints the median wall time of each over N runs and the ratio airlock / by-hand.
Target: <= 1.0, because airlock runs the tools concurrently and hides bandit and trivy under semgrep.
Absolute times on a shared 2-core machine are noise; the ratio is the figure. On a loaded machine the
wall ratio flatters airlock (three processes get more of the machine than one at a time), so the CPU
time of each side (its process and every tool it waited for) is printed too: that ratio holds at any load.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from airlock.scanners.semgrep import OFFLINE_ENV, OFFLINE_FLAGS, RULES_DIR  # noqa: E402
from airlock.scanners.trivy_common import NO_PHONE_HOME, SECRET_CONFIG  # noqa: E402
from airlock.scanners.trivy_secret_rules import trivy_rules_yaml  # noqa: E402

# the labelled web corpus makes the taint rules pay their real cost on handler-shaped code
CORPUS = [ROOT / "fixtures" / "sast" / "vulnerable", ROOT / "fixtures" / "sast" / "clean",
          ROOT / "fixtures" / "demo" / "project", ROOT / "fixtures" / "corpus" / "files"]


def _bin(name: str) -> str:
    found = shutil.which(name) or str(Path(sys.executable).parent / name)
    return found


def build_corpus(dest: Path) -> list[str]:
    for i, src in enumerate(CORPUS):
        shutil.copytree(src, dest / f"part{i}", ignore=shutil.ignore_patterns("__pycache__"))
    return sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*.py"))


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def timed(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """Wall time and CPU time (user + system, the command and every process it waited for)."""
    cpu, start = _children_cpu(), time.perf_counter()
    subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=900)
    return time.perf_counter() - start, _children_cpu() - cpu


def pattern_only_pack(dest: Path) -> Path:
    """airlock's rule pack without its taint rules, to price them."""
    dest.mkdir()
    for f in sorted(RULES_DIR.glob("*.yaml")):
        doc = yaml.safe_load(f.read_text(encoding="utf-8"))
        rules = [r for r in doc["rules"] if r.get("mode") != "taint"]
        if rules:
            (dest / f.name).write_text(yaml.safe_dump({"rules": rules}), encoding="utf-8")
    return dest


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    env = {**os.environ, **OFFLINE_ENV, "PYTHONPATH": str(ROOT)}
    with tempfile.TemporaryDirectory() as tmp:
        corpus, trivy_cache = Path(tmp) / "corpus", Path(tmp) / "trivy-cache"
        files = build_corpus(corpus)
        # The same rules by hand: airlock's own trivy secret config (its keyword/entropy rules, allow rules off).
        secret_config = Path(tmp) / "trivy-secret.yaml"
        secret_config.write_text(SECRET_CONFIG + trivy_rules_yaml(), encoding="utf-8")
        by_hand = [
            [_bin("semgrep"), "scan", "--json", "--quiet", "--disable-nosem", *OFFLINE_FLAGS, "--config",
             str(RULES_DIR), "--", *files],
            [_bin("bandit"), "-f", "json", "-q", "--ignore-nosec", "--", *files],
            [_bin("trivy"), "fs", "--scanners", "secret", "--format", "json", "--quiet", "--skip-db-update",
             "--cache-dir", str(trivy_cache), "--secret-config", str(secret_config), *NO_PHONE_HOME, str(corpus)],
        ]
        airlock = [sys.executable, "-m", "airlock", "scan", str(corpus), "--stages", "sast", "--format", "json"]
        hand_wall, hand_cpu, air_wall, air_cpu, semgrep_cpu = [], [], [], [], []
        timed(airlock, corpus, env)  # warm the page cache and semgrep's rule parse cache equally
        load = os.getloadavg()[0]
        for _ in range(args.runs):
            runs = [timed(argv, corpus, env) for argv in by_hand]
            hand_wall.append(sum(w for w, _ in runs))
            hand_cpu.append(sum(c for _, c in runs))
            semgrep_cpu.append(runs[0][1])
            wall, cpu = timed(airlock, corpus, env)
            air_wall.append(wall)
            air_cpu.append(cpu)
        load = max(load, os.getloadavg()[0])
        patterns = [_bin("semgrep"), "scan", "--json", "--quiet", "--disable-nosem", *OFFLINE_FLAGS, "--config",
                    str(pattern_only_pack(Path(tmp) / "patterns")), "--", *files]
        no_taint = statistics.median(timed(patterns, corpus, env)[1] for _ in range(args.runs))
    med = statistics.median
    print(f"files scanned:                 {len(files)} Python files; load average up to {load:.1f}")
    print(f"semgrep, bandit, trivy by hand:{med(hand_wall):6.2f} s wall, {med(hand_cpu):6.2f} s CPU "
          f"(median of {args.runs})")
    print(f"airlock scan --stages sast:    {med(air_wall):6.2f} s wall, {med(air_cpu):6.2f} s CPU "
          f"(median of {args.runs})")
    print(f"ratio airlock / by hand:       {med(air_wall) / med(hand_wall):6.2f} wall, "
          f"{med(air_cpu) / med(hand_cpu):6.2f} CPU  (target <= 1.0)")
    print(f"semgrep's taint rules:         {med(semgrep_cpu) - no_taint:6.2f} s of semgrep's "
          f"{med(semgrep_cpu):.2f} s CPU by hand (against the pack without them)")


if __name__ == "__main__":
    main()
