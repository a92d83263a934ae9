"""Manifest readers and the look-alike check: pure functions, no registry."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from airlock.scanners.agent import lookalike, manifests

_SEG = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=12).filter(
    lambda s: not s.startswith("-")
)
_MODULE = st.builds(lambda h, a, b: f"{h}.com/{a}/{b}", _SEG, _SEG, _SEG)
_VERSION = st.builds(lambda a, b, c: f"v{a}.{b}.{c}", st.integers(0, 99), st.integers(0, 99), st.integers(0, 99))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(_MODULE, _VERSION), min_size=1, max_size=8, unique_by=lambda t: t[0]), st.booleans(),
       st.booleans())
def test_go_mod_reader_round_trips(reqs: list[tuple[str, str]], block: bool, comments: bool) -> None:
    note = " // indirect" if comments else ""
    if block:
        body = "require (\n" + "".join(f"\t{m} {v}{note}\n" for m, v in reqs) + ")\n"
    else:
        body = "".join(f"require {m} {v}{note}\n" for m, v in reqs)
    text = f"module example.com/me\n\ngo 1.22\n\n// a comment\n{body}"
    got = [(d.name, d.version, d.source) for d in manifests.go_mod(text).deps]
    assert got == [(m, v, "registry") for m, v in reqs]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(_MODULE, _VERSION, st.booleans()), min_size=1, max_size=8),
       st.text(max_size=60).filter(lambda t: "h1:" not in t))
def test_go_sum_reader_round_trips(lines: list[tuple[str, str, bool]], junk: str) -> None:
    """Each module once, at its first line, whatever else the file holds (a /go.mod line, noise)."""
    body = "".join(f"{m} {v}{'/go.mod' if mod else ''} h1:AbC+/dEf=\n" for m, v, mod in lines)
    got = manifests.go_sum(f"{body}{junk.replace(chr(10), ' ')}\n")
    first: dict[str, tuple[str, int]] = {}
    for n, (m, v, _mod) in enumerate(lines, 1):
        first.setdefault(m, (v, n))
    assert [(d.name, d.version, d.line, d.source) for d in got.deps] == [
        (m, v, n, "registry") for m, (v, n) in first.items()]
    assert got.lockfile


def test_go_mod_replace_directives() -> None:
    text = "module m\nreplace (\n\ta.com/x => ../x\n\tb.com/y v1.0.0 => evil.com/y v1.0.1\n)\n"
    assert [(d.name, d.source, d.where) for d in manifests.go_mod(text).deps] == [
        ("a.com/x", "path", "../x"), ("b.com/y", "replace", "evil.com/y"),
    ]


def test_requirements_options_urls_and_hashes() -> None:
    text = (
        "# comment\n-r base.txt\n--index-url https://mirror.example/simple\nflask==3.0 --hash=sha256:abc\n"
        "-e git+https://github.com/a/b.git#egg=bee\nhttps://x.example/pkg.whl#egg=pkg\nattrs ; python_version>'3'\n"
    )
    m = manifests.requirements_txt(text)
    assert [(d.name, d.source, d.line) for d in m.deps] == [
        ("flask", "registry", 4), ("bee", "git", 5), ("pkg", "url", 6), ("attrs", "registry", 7),
    ]
    assert m.indexes == (("--index-url https://mirror.example/simple", 3),)


def test_pyproject_pep621_and_poetry() -> None:
    text = (
        '[project]\ndependencies = ["httpx>=0.27", "bad @ https://x.example/bad.tar.gz"]\n'
        '[project.optional-dependencies]\ndev = ["pytest"]\n'
        '[tool.poetry.dependencies]\npython = "^3.10"\nrich = "^13"\nlocal = {path = "../local"}\n'
        '[[tool.poetry.source]]\nname = "corp"\nurl = "https://corp.example/simple"\n'
    )
    m = manifests.pyproject(text)
    assert {(d.name, d.source) for d in m.deps} == {
        ("httpx", "registry"), ("bad", "url"), ("pytest", "registry"), ("rich", "registry"), ("local", "path"),
    }
    assert [i for i, _n in m.indexes] == ["poetry source https://corp.example/simple"]


def test_setup_cfg_pipfile_package_json_and_locks() -> None:
    cfg = "[options]\ninstall_requires =\n    click>=8\n    jinja2\n"
    assert [d.name for d in manifests.setup_cfg(cfg).deps] == ["click", "jinja2"]
    pip = '[packages]\nrequests = "*"\nmine = {git = "https://github.com/a/mine.git"}\n'
    assert [(d.name, d.source) for d in manifests.pipfile(pip).deps] == [("requests", "registry"), ("mine", "git")]
    pkg = '{"dependencies": {"a": "^1", "b": "file:../b", "c": "user/repo"}, "devDependencies": {"d": "https://x/d.tgz"}}'
    assert [(d.name, d.source) for d in manifests.package_json(pkg).deps] == [
        ("a", "registry"), ("b", "path"), ("c", "git"), ("d", "url"),
    ]
    lock = '{"packages": {"": {}, "node_modules/a": {"version": "1.0.0", "resolved": "https://registry.npmjs.org/a"}}}'
    assert [(d.name, d.version, d.source) for d in manifests.package_lock(lock).deps] == [("a", "1.0.0", "registry")]


def test_lookalikes() -> None:
    assert lookalike.resembles("pypi", "reqeusts") == "requests"
    assert lookalike.resembles("pypi", "requests") is None
    assert lookalike.resembles("pypi", "Python_Dateutil") is None  # PyPI resolves it to python-dateutil
    assert lookalike.resembles("pypi", "djang0") == "django"
    assert lookalike.resembles("npm", "lodahs") == "lodash"
    assert lookalike.resembles("npm", "expresss") == "express"
    assert lookalike.resembles("go", "github.com/stretchr/testifi") == "github.com/stretchr/testify"
    for fine in ("flask-login", "my-internal-tool", "numpyro", "ws", "zod"):
        assert lookalike.resembles("pypi" if fine != "zod" else "npm", fine) is None, fine


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="abcdefghij", max_size=10), st.text(alphabet="abcdefghij", max_size=10))
def test_distance_is_a_metric_bound(a: str, b: str) -> None:
    d = lookalike.distance(a, b, limit=20)
    assert d == lookalike.distance(b, a, limit=20)
    assert (d == 0) == (a == b)
    assert d <= max(len(a), len(b))


_EDIT = st.tuples(st.sampled_from(["insert", "delete", "replace", "swap"]), st.integers(0, 40),
                  st.sampled_from(list("abcdefghijklmnopqrstuvwxyz0123456789-_.")))


def _edited(name: str, edits: list[tuple[str, int, str]]) -> str:
    for op, at, ch in edits:
        i = at % (len(name) + 1)
        if op == "insert":
            name = name[:i] + ch + name[i:]
        elif op == "delete" and name:
            name = name[: i % len(name)] + name[i % len(name) + 1 :]
        elif op == "replace" and name:
            name = name[: i % len(name)] + ch + name[i % len(name) + 1 :]
        elif op == "swap" and len(name) > 1:
            j = i % (len(name) - 1)
            name = name[:j] + name[j + 1] + name[j] + name[j + 2 :]
    return name


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(["pypi", "npm", "go"]), st.integers(0, 10_000), st.lists(_EDIT, max_size=3),
       st.sampled_from([1, 2]))
def test_the_index_finds_exactly_what_comparing_every_name_finds(eco: str, pick: int, edits: list[Any],
                                                                  limit: int) -> None:
    """The symmetric-delete index (built for a lockfile's hundreds of names) against the brute-force lookup, on
    popular names with up to three random edits: near misses, hits, and long scoped names alike."""
    top = lookalike.top_packages()[eco]
    name = _edited(top[pick % len(top)], edits)
    assert lookalike.within(eco, name, limit, indexed=True) == lookalike.within(eco, name, limit, indexed=False)


def test_the_shipped_list_comes_from_download_rankings_and_keeps_popular_names_apart() -> None:
    import json

    data = json.loads(lookalike.DATA.read_text(encoding="utf-8"))
    assert data["sources"]["pypi"].startswith("pypi.tsv, column rank_among_15000_most_downloaded")
    assert data["sources"]["npm"].startswith("npm.tsv, column downloads_a_month")
    assert data["pypi"][:3] == ["boto3", "packaging", "urllib3"] and len(data["pypi"]) == 1000
    assert len(data["npm"]) == 2000 and "cross-env" in data["npm"]
    assert len(data["pypi_known"]) >= 14_000
    # Popular in its own right: never a look-alike of the more popular name one edit away.
    assert lookalike.resembles("pypi", "croniter") is None and lookalike.resembles("pypi", "toolz") is None
    assert lookalike.resembles("npm", "crossenv") == "cross-env"
    assert lookalike.resembles("pypi", "colourama") == "colorama"


def test_a_huge_dependency_name_makes_no_deletion_variants(monkeypatch: Any) -> None:
    """A manifest may name a dependency with thousands of characters; its deletion variants (quadratic in
    number, each as long as the name) would exhaust memory. Only a name short enough to be within reach of an
    indexed one is expanded; longer ones are compared with the few long popular names by length first."""
    seen: list[int] = []
    real = lookalike._deletions

    def spy(s: str, k: int) -> set[str]:
        seen.append(len(s))
        assert len(s) <= lookalike.INDEXED_LEN + lookalike.MAX_LIMIT, f"{len(s)}-character name expanded"
        return real(s, k)

    monkeypatch.setattr(lookalike, "_deletions", spy)
    lookalike._index("npm")  # built before the spy counts: the index's own names are short
    seen.clear()
    assert lookalike.within("npm", "a" * 5000, 2, indexed=True) == set()
    assert lookalike.within("pypi", "requests-" + "x" * 3000, 2, indexed=True) == set()
    assert lookalike.within("npm", "lodahs", 1, indexed=True) == {"lodash"}
    assert seen  # the short name still went through the index
