"""Look-alikes of popular package names: edit distance after separator, case and homoglyph normalisation,
against the most-downloaded names per ecosystem (data/top-packages.json, built by data/make_top_packages.py)."""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data" / "top-packages.json"
ECOSYSTEMS = ("pypi", "npm", "go")
# Characters drawn alike in a package name: digits for letters, and the pairs typosquats use most.
_HOMOGLYPHS = str.maketrans({"0": "o", "1": "l", "i": "l", "5": "s", "3": "e", "4": "a", "7": "t", "8": "b"})
_MULTI = (("rn", "m"), ("vv", "w"), ("cl", "d"))
MAX_LIMIT = 2  # the most edits a look-alike may be away from its target
MIN_LEN = 4  # names shorter than this (folded) neither imitate nor are imitated: "ws", "qs", "pg"
# Names whose skeleton is longer go to a list compared one by one (few candidates are that long), so the
# index holds at most 1 + 20 + 190 deletion variants a name.
INDEXED_LEN = 20
BRUTE_LOOKUPS = 16  # lookups per ecosystem and process before the index is built
_LOOKUPS: dict[str, int] = {}


@functools.lru_cache(maxsize=1)
def _data() -> dict[str, object]:
    data = json.loads(DATA.read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else {}


def _names(key: str) -> tuple[str, ...]:
    got = _data().get(key)
    return tuple(str(n) for n in got) if isinstance(got, list) else ()


@functools.lru_cache(maxsize=1)
def top_packages() -> dict[str, tuple[str, ...]]:
    """Per ecosystem, the most downloaded names, most first: what a new dependency must not imitate."""
    return {k: _names(k) for k in ECOSYSTEMS}


@functools.lru_cache(maxsize=1)
def known_packages() -> dict[str, frozenset[str]]:
    """Per ecosystem, names popular enough in their own right never to be called a look-alike (folded)."""
    return {k: frozenset(_fold(k, n) for n in (*_names(f"{k}_known"), *_names(k))) for k in ECOSYSTEMS}


def _fold(ecosystem: str, name: str) -> str:
    """The name as the registry itself resolves it: PyPI folds case and runs of -_. (PEP 503)."""
    if ecosystem == "pypi":
        return re.sub(r"[-_.]+", "-", name.lower())
    return _tail(ecosystem, name)


def _deletions(s: str, k: int) -> set[str]:
    """s with up to k characters deleted: two strings within k edits (OSA) share one of these."""
    one = {s[:i] + s[i + 1 :] for i in range(len(s))}
    out = {s} | one
    if k >= 2:
        out.update(w[:i] + w[i + 1 :] for w in one for i in range(len(w)))
    return out


@functools.lru_cache(maxsize=4)
def _targets(ecosystem: str) -> tuple[tuple[str, int, str], ...]:
    """(skeleton, rank, name) of each popular name long enough to imitate (short ones are a few edits from
    everything: "ws", "qs", "pg")."""
    out = ((skeleton(_tail(ecosystem, t)), rank, t) for rank, t in enumerate(top_packages().get(ecosystem, ())))
    return tuple(e for e in out if len(e[0]) >= MIN_LEN)


@functools.lru_cache(maxsize=4)
def _index(ecosystem: str) -> tuple[dict[str, list[tuple[str, int, str]]], list[tuple[str, int, str]]]:
    """(deletion variant -> [(skeleton, rank, name)], the longer names) of the popular names: a symmetric-delete
    index, so a lookup costs a few dozen dict probes and a distance only for real candidates."""
    index: dict[str, list[tuple[str, int, str]]] = {}
    long: list[tuple[str, int, str]] = []
    for entry in _targets(ecosystem):
        if len(entry[0]) > INDEXED_LEN:
            long.append(entry)
            continue
        for v in _deletions(entry[0], MAX_LIMIT):
            index.setdefault(v, []).append(entry)
    return index, long


def _candidates(
    ecosystem: str, sk: str, limit: int, indexed: bool | None = None
) -> set[tuple[str, int, str]]:
    """The popular names that may be within limit edits of sk. The first lookups compare by length alone (a
    change adds a few dependencies: no index is worth building); a lockfile's hundreds pay for the index."""
    _LOOKUPS[ecosystem] = _LOOKUPS.get(ecosystem, 0) + 1
    if not (indexed if indexed is not None else _LOOKUPS[ecosystem] > BRUTE_LOOKUPS):
        return {e for e in _targets(ecosystem) if abs(len(e[0]) - len(sk)) <= limit}
    index, long = _index(ecosystem)
    found: set[tuple[str, int, str]] = set()
    if len(sk) <= INDEXED_LEN + limit:  # only then can an indexed name be within limit (and a hostile 5,000-
        found = {e for v in _deletions(sk, limit) for e in index.get(v, ())}  # char name makes no 12M variants)
    if len(sk) + limit > INDEXED_LEN:
        found.update(e for e in long if abs(len(e[0]) - len(sk)) <= limit)
    return found


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


def within(ecosystem: str, name: str, limit: int, indexed: bool | None = None) -> set[str]:
    """Every popular name within limit edits of name's skeleton (the tests hold the two lookups together)."""
    sk = skeleton(_tail(ecosystem, name))
    return {t for tsk, _r, t in _candidates(ecosystem, sk, limit, indexed) if distance(sk, tsk, limit) <= limit}


def resembles(ecosystem: str, name: str) -> str | None:
    """The popular package name this one imitates, or None (also None for a popular package itself)."""
    if _fold(ecosystem, name) in known_packages().get(ecosystem, frozenset()):
        return None  # the popular package itself, or one popular in its own right
    sk = skeleton(_tail(ecosystem, name))
    limit = 1 if len(sk) < 9 else MAX_LIMIT
    if len(sk) < MIN_LEN:
        return None
    best: tuple[int, int, str] | None = None  # fewest edits, then the more popular target
    for tsk, rank, t in _candidates(ecosystem, sk, limit):
        d = 0 if tsk == sk else distance(sk, tsk, limit)
        if d <= limit and (best is None or (d, rank) < best[:2]):
            best = (d, rank, t)
    return best[2] if best else None
