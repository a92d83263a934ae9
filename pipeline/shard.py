"""A deterministic slice of the branches for one of N parallel jobs, spread by the CI engine, not by airlock.

Shard K of N (1-based) takes the sorted branches at indexes K-1, K-1+N, ...: every branch lands in exactly one
shard, whoever counts. Without --shard, the engines' own variables are read:
Kubernetes Indexed Jobs set JOB_COMPLETION_INDEX (0-based) and JOB_COMPLETIONS; GitLab `parallel:` sets
CI_NODE_INDEX (1-based) and CI_NODE_TOTAL.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from airlock.pipeline.errors import UsageError


@dataclass(frozen=True)
class Shard:
    index: int  # 1-based
    total: int

    @property
    def label(self) -> str:
        return f"{self.index}/{self.total}"

    def pick(self, branches: Sequence[str]) -> list[str]:
        return [b for i, b in enumerate(sorted(branches)) if i % self.total == self.index - 1]


WHOLE = Shard(1, 1)


def parse(text: str, where: str = "--shard") -> Shard:
    k, sep, n = text.partition("/")
    try:
        index, total = int(k), int(n)
    except ValueError:
        index = total = 0
    if not sep or total < 1 or not 1 <= index <= total:
        raise UsageError(f"{where}: {text!r} is not K/N with 1 <= K <= N; write e.g. --shard 2/3")
    return Shard(index, total)


def from_env(env: Mapping[str, str]) -> Shard | None:
    if env.get("JOB_COMPLETION_INDEX", "") != "":
        idx, total = env.get("JOB_COMPLETION_INDEX", ""), env.get("JOB_COMPLETIONS", "")
        if not idx.isdigit() or not total.isdigit():
            raise UsageError("JOB_COMPLETION_INDEX/JOB_COMPLETIONS are not numbers; set completionMode: Indexed "
                             "and completions in the Job")
        return parse(f"{int(idx) + 1}/{total}", "JOB_COMPLETION_INDEX/JOB_COMPLETIONS")
    if env.get("CI_NODE_TOTAL", "") != "":
        return parse(f"{env.get('CI_NODE_INDEX', '')}/{env['CI_NODE_TOTAL']}", "CI_NODE_INDEX/CI_NODE_TOTAL")
    return None


def resolve(text: str | None, env: Mapping[str, str]) -> Shard:
    """--shard wins; else the engine's variables; else the whole list."""
    if text is not None:
        return parse(text)
    return from_env(env) or WHOLE
