#!/usr/bin/env python3
"""airlock scan --stages sast,iac,image against the same tools run serially by hand, on the fixtures.

The stages run concurrently, so airlock should take well under the serial sum (target ratio <= 0.8 on a
2-core machine). Prints each run's wall time and the ratio of medians.

Usage: python benchmarks/bench_stages.py [--runs N]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))

from airlock.scanners.checkov import checkov_args, checkov_env, is_candidate  # noqa: E402

PY_SOURCE = 'import subprocess\n\n\ndef run(cmd):\n    return subprocess.call(cmd, shell=True)\n'


def tool(name: str) -> str:
    return shutil.which(name) or str(BIN / name)


CPU = [0.0]  # children's user+sys seconds, summed: shows how busy the tools kept the cores


def timed(argv: list[str], **kw: object) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    subprocess.run(argv, capture_output=True, timeout=900, check=False, **kw)  # type: ignore[call-overload]
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU[0] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return time.monotonic() - start


def setup(tmp: Path) -> tuple[Path, Path, Path, bool]:
    tree = tmp / "tree"
    shutil.copytree(FIXTURES / "iac" / "vulnerable", tree)
    (tree / "app").mkdir()
    (tree / "app" / "run.py").write_text(PY_SOURCE)
    spec = importlib.util.spec_from_file_location("build_image", FIXTURES / "image" / "build_image.py")
    assert spec and spec.loader
    builder = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(builder)
    archive = builder.build(tmp / "image.tar")
    cache = tmp / "trivy-cache"
    shutil.copytree(FIXTURES / "trivy-db" / "cache" / "db", cache / "db")
    semgrep_rules = (ROOT / "scanners" / "semgrep_rules").is_dir()
    return tree, archive, cache, semgrep_rules


def by_hand(tree: Path, archive: Path, cache: Path, semgrep_rules: bool, tmp: Path) -> float:
    files = [str(p) for p in sorted(tree.rglob("*")) if p.is_file() and is_candidate(p.relative_to(tree).as_posix())]
    config = tmp / "checkov.yaml"
    config.write_text("skip-download: true\n")
    total = cpu = 0.0
    if semgrep_rules:
        total += timed([tool("semgrep"), "scan", "--json", "--quiet", "--metrics=off", "--disable-version-check",
                        "--config", str(ROOT / "scanners" / "semgrep_rules"), str(tree / "app" / "run.py")],
                       env={**os.environ, "SEMGREP_ENABLE_VERSION_CHECK": "0"})
        cpu += CPU[0]
    total += timed([tool("bandit"), "-f", "json", "-q", str(tree / "app" / "run.py")])
    cpu += CPU[0]
    total += timed([tool("trivy"), "fs", "--disable-telemetry", "--skip-version-check",
                    "--scanners", "secret", "--format", "json", "--quiet", "--skip-db-update",
                    "--cache-dir", str(tmp / "secret-cache"), str(tree)])
    cpu += CPU[0]
    total += timed([tool("checkov"), *checkov_args(config), *[a for f in files for a in ("-f", f)]],
                   cwd=tmp, env=checkov_env(tmp))
    cpu += CPU[0]
    total += timed([tool("trivy"), "image", "--disable-telemetry", "--skip-version-check",
                    "--input", str(archive), "--format", "json", "--list-all-pkgs",
                    "--quiet", "--cache-dir", str(cache), "--skip-db-update", "--offline-scan",
                    "--skip-check-update", "--scanners", "vuln,secret",
                    "--image-config-scanners", "misconfig,secret"])
    CPU[0] += cpu
    return total


def airlock(tree: Path, archive: Path, cache: Path, semgrep_rules: bool, tmp: Path) -> float:
    argv = [sys.executable, "-m", "airlock", "scan", str(tree), "--stages", "sast,iac,image", "--image-archive",
            str(archive), "--image-cache-dir", str(cache), "--offline", "--json-output", str(tmp / "out" / "r.json")]
    if not semgrep_rules:  # this checkout has no rule pack yet: leave semgrep out on both sides
        policy = tmp / "airlock.toml"
        policy.write_text("[tools.semgrep]\nenabled = false\n")
        argv += ["--config", str(policy)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return timed(argv, env=env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="airlock-bench-") as tmp_s:
        tmp = Path(tmp_s)
        tree, archive, cache, semgrep_rules = setup(tmp)
        if not semgrep_rules:
            print("note: scanners/semgrep_rules is missing in this checkout; semgrep left out on both sides")
        by_hand(tree, archive, cache, semgrep_rules, tmp)  # warm caches (trivy layer cache, pyc) for both
        hand, ours = [], []
        for i in range(args.runs):
            hand.append(by_hand(tree, archive, cache, semgrep_rules, tmp))
            hand_cpu = CPU[0]
            ours.append(airlock(tree, archive, cache, semgrep_rules, tmp))
            print(f"run {i + 1}: tools serially by hand {hand[-1]:6.2f} s ({hand_cpu:5.1f} s cpu)   "
                  f"airlock {ours[-1]:6.2f} s ({CPU[0]:5.1f} s cpu)   load {os.getloadavg()[0]:.1f}")
        h, a = statistics.median(hand), statistics.median(ours)
        print(f"median: by hand {h:.2f} s, airlock {a:.2f} s, ratio airlock/by-hand = {a / h:.2f} (target <= 0.8)")


if __name__ == "__main__":
    main()
