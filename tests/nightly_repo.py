"""Generator of the nightly fixture repository: a shared tree on `main` and agent branches changing 1-5 files each.

Deterministic (a seeded RNG, fixed commit dates), so tests and benchmarks/bench_nightly.py see the same repo:
- `main` holds N small Python modules; it advances once after the first half of the branches forked, so
  branches have two different merge bases;
- `agent/NN` (NN = 00..B-1) changes 1 + NN % 5 files; every branch with NN % 6 == 0 adds a
  `subprocess.call(..., shell=True)` (bandit B602: medium without a request source, and main's airlock.toml
  gates at medium), the others add harmless code;
- `feature/human` and `agent-like` must never be picked by the glob 'agent/*'.
"""

from __future__ import annotations

import os
import random
import subprocess
from pathlib import Path

ENV = {
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_AUTHOR_NAME": "agent",
    "GIT_AUTHOR_EMAIL": "agent@example.invalid",
    "GIT_COMMITTER_NAME": "agent",
    "GIT_COMMITTER_EMAIL": "agent@example.invalid",
    "GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z",
    "GIT_COMMITTER_DATE": "2026-01-01T00:00:00Z",
}

VULN = "import subprocess\n\n\ndef run_{n}(cmd):\n    return subprocess.call(cmd, shell=True)\n"
SAFE = "\n\ndef helper_{n}(x):\n    return x * {n} + 1\n"


def git(repo: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")} | ENV
    return subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True,
                          timeout=120).stdout.strip()


def module(i: int) -> str:
    return f'"""Shared module {i}."""\n\n\ndef value_{i}():\n    return {i}\n'


def commit_all(repo: Path, message: str) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--no-verify", "-m", message)


def make_repo(repo: Path, *, files: int = 40, branches: int = 30, seed: int = 13) -> Path:
    rng = random.Random(seed)
    repo.mkdir(parents=True, exist_ok=True)
    git(repo, "init", "-q", "-b", "main")
    for i in range(files):
        p = repo / "pkg" / f"d{i % 8}" / f"mod_{i:03d}.py"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(module(i), encoding="utf-8")
    (repo / "airlock.toml").write_text('[gate]\nfail_on = "medium"\n', encoding="utf-8")
    commit_all(repo, "shared tree")
    half = branches // 2
    for b in range(branches):
        if b == half:
            git(repo, "checkout", "-q", "main")
            (repo / "pkg" / "NEWS.txt").write_text("main moved on\n", encoding="utf-8")
            commit_all(repo, "main advances")
        git(repo, "checkout", "-q", "-b", f"agent/{b:02d}", "main")
        for k, idx in enumerate(rng.sample(range(files), 1 + b % 5)):
            p = repo / "pkg" / f"d{idx % 8}" / f"mod_{idx:03d}.py"
            extra = VULN.format(n=b) if (b % 6 == 0 and k == 0) else SAFE.format(n=b * 10 + k)
            p.write_text(p.read_text(encoding="utf-8") + extra, encoding="utf-8")
        commit_all(repo, f"agent change {b}")
    git(repo, "checkout", "-q", "-b", "feature/human", "main")
    (repo / "human.py").write_text("import subprocess\nsubprocess.call('x', shell=True)\n", encoding="utf-8")
    commit_all(repo, "human work")
    git(repo, "checkout", "-q", "-b", "agent-like", "main")
    git(repo, "checkout", "-q", "main")
    return repo


def vulnerable_branches(branches: int = 30) -> set[str]:
    return {f"agent/{b:02d}" for b in range(branches) if b % 6 == 0}


def commit_on(repo: Path, branch: str, rel: str, text: str, message: str) -> None:
    """Replace a file's content on a branch (a fix or a new finding between two nights)."""
    git(repo, "checkout", "-q", branch)
    (repo / rel).write_text(text, encoding="utf-8")
    commit_all(repo, message)
    git(repo, "checkout", "-q", "main")
