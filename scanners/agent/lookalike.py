"""Look-alikes of popular package names: edit distance after separator, case and homoglyph normalisation,
against the most-downloaded names per ecosystem (data/top-packages.json, built by data/make_top_packages.py)."""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data" / "top-packages.json"
# Characters drawn alike in a package name: digits for letters, and the pairs typosquats use most.
_HOMOGLYPHS = str.maketrans({"0": "o", "1": "l", "i": "l", "5": "s", "3": "e", "4": "a", "7": "t", "8": "b"})
_MULTI = (("rn", "m"), ("vv", "w"), ("cl", "d"))


@functools.lru_cache(maxsize=1)
def top_packages() -> dict[str, tuple[str, ...]]:
    data = json.loads(DATA.read_text(encoding="utf-8"))
    return {k: tuple(data.get(k, ())) for k in ("pypi", "npm", "go")}


def skeleton(name: str) -> str:
    """Case, separators and look-alike characters folded: `Req_u3sts` and `requests` share one."""
    s = re.sub(r"[-_.\s]+", "", name.lower())
    for a, b in _MULTI:
        s = s.replace(a, b)
    return s.translate(_HOMOGLYPHS)


def distance(a: str, b: str, limit: int = 3) -> int:
    """Damerau-Levenshtein (optimal string alignment) distance, stopping early above limit."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        if min(cur) > limit:
            return limit + 1
        prev2, prev = prev, cur
    return prev[-1]


def _tail(ecosystem: str, name: str) -> str:
    # Go modules are paths: the look-alike is usually in the owner or repo part; compare the whole path.
    return name.lower() if ecosystem == "go" else name


def resembles(ecosystem: str, name: str) -> str | None:
    """The popular package name this one imitates, or None (also None for the popular package itself)."""
    top = top_packages().get(ecosystem, ())
    mine = _tail(ecosystem, name)
    if ecosystem == "pypi":
        folded = re.sub(r"[-_.]+", "-", mine.lower())
        if any(re.sub(r"[-_.]+", "-", t.lower()) == folded for t in top):
            return None  # PyPI resolves this very name to the popular package
    elif mine in top:
        return None
    sk = skeleton(mine)
    limit = 1 if len(sk) < 9 else 2
    best: tuple[int, str] | None = None
    for t in top:
        tsk = skeleton(_tail(ecosystem, t))
        if len(tsk) < 4:
            continue  # "ws", "qs", "pg": every short name is a few edits from them
        d = 0 if tsk == sk else distance(sk, tsk, limit)
        if d <= limit and (best is None or d < best[0]):
            best = (d, t)
    return best[1] if best else None
