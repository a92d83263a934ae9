"""The content cache without any tool: the store's safety, the codec's strictness, the per-file split.

The scanner here is a fake at the Scanner interface (a boundary airlock owns); the real tools are in
test_cache_scan.py.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airlock.pipeline import cached_scanner as cs
from airlock.pipeline.cache_codec import BadEntry, decode, encode
from airlock.pipeline.cache_store import MAX_ENTRY_BYTES, DiskCache, open_cache
from airlock.pipeline.errors import UsageError
from airlock.pipeline.models import Finding, ScanResult, Severity, Source, Suppression, ToolStatus
from airlock.pipeline.policy import ToolConfig
from airlock.scanners.interface import CacheIdentity, ScanContext
from airlock.scanners.tooling import UNSCANNED, SourceLines

ROOT = Path(__file__).resolve().parent.parent


def _finding(path: str, line: int, rule: str = "R1", **kw: object) -> Finding:
    base = Finding(stage="sast", tool="fake", rule_id=rule, message=f"{rule} at {line}", severity=Severity.HIGH,
                   path=path, start_line=line, end_line=line)  # fmt: skip
    return replace(base, **kw)  # type: ignore[arg-type]


@dataclass
class FakeScanner:
    """Reports one finding per line that says BAD; records every target list it was run on."""

    name: str = "fake"
    stage: str = "sast"
    version: str = "1.0"
    rules: str = "rules-1"
    settings: str = "settings-1"
    runs: list[tuple[str, ...]] = field(default_factory=list)
    result_hook: object = None  # callable(ScanResult, ctx) -> ScanResult, to bend a run
    before_run: object = None  # callable(ctx), to change the workspace as the tool starts

    def targets(self, ctx: ScanContext) -> tuple[str, ...]:
        return ctx.paths

    def cache_identity(self, ctx: ScanContext) -> CacheIdentity | None:
        return CacheIdentity(exe="/fake\0" + self.version, rules=self.rules, settings=self.settings)

    def run(self, ctx: ScanContext, targets: tuple[str, ...]) -> ScanResult:
        self.runs.append(targets)
        if callable(self.before_run):
            self.before_run(ctx)
        src = SourceLines(ctx.workspace)
        found = []
        for rel in targets:
            for n, line in enumerate(src.lines(rel), 1):
                if "BAD" in line:
                    found.append(_finding(rel, n, snippet=src.snippet(rel, n, n), tool=self.name))
        result = ScanResult(self.name, self.stage, ToolStatus.OK, tuple(found), self.version)
        return self.result_hook(result, ctx) if callable(self.result_hook) else result


def _tree(tmp: Path, files: dict[str, str]) -> Path:
    ws = tmp / "ws"
    for rel, text in files.items():
        (ws / rel).parent.mkdir(parents=True, exist_ok=True)
        (ws / rel).write_text(text)
    return ws


def _ctx(ws: Path) -> ScanContext:
    paths = tuple(sorted(p.relative_to(ws).as_posix() for p in ws.rglob("*") if p.is_file()))
    return ScanContext(workspace=ws, paths=paths, tool=ToolConfig())


FILES = {"a.py": "x = 1\nBAD()\n", "b.py": "BAD()\nok\nBAD()\n", "c.py": "clean\n"}


@pytest.fixture
def cache(tmp_path: Path) -> DiskCache:
    return open_cache(tmp_path / "cache")


def _scan(scanner: FakeScanner, cache: DiskCache, ws: Path) -> ScanResult:
    wrapped = cs.CachedScanner(scanner, cache)
    ctx = _ctx(ws)
    return wrapped.run(ctx, wrapped.targets(ctx))


def _key(f: Finding) -> tuple[object, ...]:
    return (f.path, f.start_line, f.rule_id, f.snippet, f.message, f.severity)


# --- hits and misses --------------------------------------------------------------------------


def test_a_hit_gives_the_same_findings_and_runs_nothing(tmp_path: Path, cache: DiskCache) -> None:
    ws = _tree(tmp_path, FILES)
    fake = FakeScanner()
    cold = _scan(fake, cache, ws)
    warm = _scan(fake, cache, ws)
    assert fake.runs == [("a.py", "b.py", "c.py")]  # the second scan ran no tool
    assert sorted(map(_key, warm.findings)) == sorted(map(_key, cold.findings))
    assert len(warm.findings) == 3 and warm.version == "1.0" and warm.status is ToolStatus.OK
    assert warm.notes == ("fake: 3 of 3 file(s) from the cache",)


def test_one_changed_byte_misses_only_that_file(tmp_path: Path, cache: DiskCache) -> None:
    ws = _tree(tmp_path, FILES)
    fake = FakeScanner()
    _scan(fake, cache, ws)
    (ws / "c.py").write_text("clean\nBAD\n")  # one line more
    (ws / "a.py").write_text("x = 2\nBAD()\n")  # one byte changed
    out = _scan(fake, cache, ws)
    assert fake.runs[-1] == ("a.py", "c.py")
    assert sorted((f.path, f.start_line) for f in out.findings) == [("a.py", 2), ("b.py", 1), ("b.py", 3), ("c.py", 2)]
    assert out.notes == ("fake: 1 of 3 file(s) from the cache",)


def test_the_same_bytes_at_another_path_miss(tmp_path: Path, cache: DiskCache) -> None:
    ws = _tree(tmp_path, FILES)
    fake = FakeScanner()
    _scan(fake, cache, ws)
    (ws / "a.py").rename(ws / "moved.py")
    _scan(fake, cache, ws)
    assert fake.runs[-1] == ("moved.py",)


@pytest.mark.parametrize("change", ["rules", "settings", "version"])
def test_rules_settings_or_binary_change_misses_everything(tmp_path: Path, cache: DiskCache, change: str) -> None:
    ws = _tree(tmp_path, FILES)
    fake = FakeScanner()
    _scan(fake, cache, ws)
    setattr(fake, change, getattr(fake, change) + "-new")  # a new binary reports a new version
    out = _scan(fake, cache, ws)
    assert fake.runs == [("a.py", "b.py", "c.py")] * 2
    assert len(out.findings) == 3 and not out.notes


def test_a_tool_reporting_another_version_than_remembered_reruns_the_hits(tmp_path: Path, cache: DiskCache) -> None:
    ws = _tree(tmp_path, FILES)
    fake = FakeScanner()
    _scan(fake, cache, ws)
    # The same binary (same exe identity) now says it is 2.0: the hits stored under 1.0 must not be served.
    fake.result_hook = lambda r, _ctx: replace(r, version="2.0")
    (ws / "c.py").write_text("changed\n")
    out = _scan(fake, cache, ws)
    assert fake.runs[1:] == [("c.py",), ("a.py", "b.py", "c.py")]
    assert out.version == "2.0" and len(out.findings) == 3 and not out.notes
    # And what is now stored is keyed on 2.0.
    fake.result_hook = None
    assert _scan(fake, cache, ws).notes == ("fake: 3 of 3 file(s) from the cache",)


def test_a_run_without_a_version_keeps_the_hits(tmp_path: Path, cache: DiskCache) -> None:
    """semgrep names no version when it ran on nothing (every miss was unscannable): no reason to rerun."""
    ws = _tree(tmp_path, FILES)
    fake = FakeScanner()
    _scan(fake, cache, ws)
    fake.result_hook = lambda r, _ctx: replace(r, version="")
    (ws / "c.py").write_text("changed\n")
    out = _scan(fake, cache, ws)
    assert fake.runs[1:] == [("c.py",)] and out.notes == ("fake: 2 of 3 file(s) from the cache",)
    assert out.version == "1.0"


def test_the_version_boundary_is_in_the_key(tmp_path: Path, cache: DiskCache, monkeypatch: pytest.MonkeyPatch) -> None:
    ws = _tree(tmp_path, FILES)
    fake = FakeScanner()
    _scan(fake, cache, ws)
    monkeypatch.setattr(cs.CachedScanner, "known_version", lambda self, ident: "0.9")
    _scan(fake, cache, ws)
    assert len(fake.runs) == 2


# --- what is never stored ---------------------------------------------------------------------


def _never_stored(tmp_path: Path, cache: DiskCache, hook: object) -> FakeScanner:
    ws = _tree(tmp_path, FILES)
    fake = FakeScanner(result_hook=hook)
    first = _scan(fake, cache, ws)
    fake.result_hook = None
    _scan(fake, cache, ws)
    assert first is not None
    return fake


def test_an_errored_run_is_returned_as_is_and_stores_nothing(tmp_path: Path, cache: DiskCache) -> None:
    def err(r: ScanResult, _ctx: ScanContext) -> ScanResult:
        return replace(r, status=ToolStatus.ERROR, findings=(), error="boom")

    fake = _never_stored(tmp_path, cache, err)
    assert len(fake.runs) == 2 and fake.runs[1] == ("a.py", "b.py", "c.py")


def test_an_unscanned_file_is_not_stored_but_the_others_are(tmp_path: Path, cache: DiskCache) -> None:
    def unscanned(r: ScanResult, _ctx: ScanContext) -> ScanResult:
        return replace(r, findings=(*r.findings, _finding("b.py", 0, UNSCANNED)))

    fake = _never_stored(tmp_path, cache, unscanned)
    assert fake.runs[1] == ("b.py",)


@pytest.mark.parametrize("bend", ["notes", "foreign-path", "other-tool", "no-version"])
def test_a_run_that_cannot_be_split_stores_nothing(tmp_path: Path, cache: DiskCache, bend: str) -> None:
    def hook(r: ScanResult, _ctx: ScanContext) -> ScanResult:
        if bend == "notes":
            return replace(r, notes=("fake: a rule timed out somewhere",))
        if bend == "foreign-path":
            return replace(r, findings=(*r.findings, _finding("elsewhere.py", 1)))
        if bend == "other-tool":
            return replace(r, findings=(*r.findings, _finding("a.py", 1, tool="other")))
        return replace(r, version="")

    fake = _never_stored(tmp_path, cache, hook)
    assert fake.runs[1] == ("a.py", "b.py", "c.py")


def test_bytes_that_change_during_the_run_are_not_stored(tmp_path: Path, cache: DiskCache) -> None:
    """The tool read other bytes than were hashed: its result must not be stored under the hashed ones."""
    ws = _tree(tmp_path, FILES)
    fake = FakeScanner(before_run=lambda ctx: (ctx.workspace / "c.py").write_text("clean\nBAD\n"))
    assert ("c.py", 2) in {(f.path, f.start_line) for f in _scan(fake, cache, ws).findings}
    fake.before_run = None
    (ws / "c.py").write_text("clean\n")
    out = _scan(fake, cache, ws)
    assert fake.runs[1] == ("c.py",)
    assert "c.py" not in {f.path for f in out.findings}


def test_files_no_tool_could_be_given_are_passed_through(tmp_path: Path, cache: DiskCache) -> None:
    ws = _tree(tmp_path, FILES)
    os.symlink("/etc/passwd", ws / "link.py")
    assert cs.blob_digest(ws, "link.py") is None
    assert cs.blob_digest(ws, "missing.py") is None
    fake = FakeScanner()
    wrapped = cs.CachedScanner(fake, cache)
    ctx = _ctx(ws)
    wrapped.run(ctx, (*ctx.paths, "missing.py"))
    wrapped.run(ctx, (*ctx.paths, "missing.py"))
    assert "missing.py" in fake.runs[1] and "a.py" not in fake.runs[1]


def test_scanners_with_cross_file_context_are_not_wrapped() -> None:
    from airlock.scanners.registry import all_scanners

    wrapped = cs.with_cache(all_scanners(), DiskCache(Path("/nonexistent")))
    kinds = {s.name: type(s).__name__ for s in wrapped}
    assert kinds == {
        "semgrep": "CachedScanner", "bandit": "CachedScanner", "trivy-secret": "CachedScanner",
        "checkov": "CheckovScanner", "trivy": "TrivyImageScanner", "bwrap": "RuntimeScanner",
        "airlock": "AgentScanner", "trivy-deps": "TrivyDepsScanner",
    }  # fmt: skip
    assert cs.with_cache(all_scanners(), None)[0].__class__.__name__ == "SemgrepScanner"


# --- hostile entries --------------------------------------------------------------------------


def _entries(cache: DiskCache) -> list[Path]:
    return sorted(p for p in (cache.root / "v1" / "results").rglob("*.json"))


def _hostile(path: Path, kind: str, other: Path) -> None:
    if kind == "garbage":
        path.write_bytes(b"\x00{not json \xff")
    elif kind == "truncated":
        path.write_bytes(path.read_bytes()[:-7])
    elif kind == "huge":
        path.write_bytes(b" " * (MAX_ENTRY_BYTES + 1))
    elif kind == "symlink":
        target = path.with_name("real.json")
        path.rename(target)
        path.symlink_to(target.name)
    elif kind == "fifo":
        path.unlink()
        os.mkfifo(path, 0o600)
    elif kind == "other-key":
        path.write_bytes(other.read_bytes())  # a complete entry, for another file
    elif kind == "bad-field":
        doc = json.loads(path.read_text())
        doc["payload"] = [{"rule_id": 5}]
        path.write_text(json.dumps(doc))
    elif kind == "deep":
        path.write_text("[" * 100_000 + "]" * 100_000)
    elif kind == "group-writable":
        path.chmod(0o620)
    elif kind == "foreign-owner":
        os.chown(path, 65534, 65534)
    else:
        raise AssertionError(kind)


HOSTILE = ["garbage", "truncated", "huge", "symlink", "fifo", "other-key", "bad-field", "deep", "group-writable",
           "foreign-owner"]  # fmt: skip


@pytest.mark.parametrize("kind", HOSTILE)
def test_a_hostile_entry_is_a_miss(tmp_path: Path, cache: DiskCache, kind: str) -> None:
    if kind == "foreign-owner" and os.getuid() != 0:
        pytest.skip("LOUD SKIP: giving a file to another owner needs root; the owner check is not exercised here")
    ws = _tree(tmp_path, FILES)
    fake = FakeScanner()
    cold = _scan(fake, cache, ws)
    entries = _entries(cache)
    assert len(entries) == 3
    for i, entry in enumerate(entries):
        _hostile(entry, kind, entries[(i + 1) % len(entries)])
    warm = _scan(fake, cache, ws)
    assert fake.runs == [("a.py", "b.py", "c.py")] * 2, "every hostile entry must be a miss"
    assert sorted(map(_key, warm.findings)) == sorted(map(_key, cold.findings))


def test_a_well_formed_empty_entry_of_another_owner_drops_no_finding(tmp_path: Path, cache: DiskCache) -> None:
    """The finding-dropper: a valid "no findings" entry for a vulnerable file, planted by someone else."""
    if os.getuid() != 0:
        pytest.skip("LOUD SKIP: giving a file to another owner needs root; the owner check is not exercised here")
    ws = _tree(tmp_path, FILES)
    fake = FakeScanner()
    _scan(fake, cache, ws)
    for entry in _entries(cache):
        doc = json.loads(entry.read_text())
        doc["payload"] = []
        entry.write_text(json.dumps(doc))
        os.chown(entry, 65534, 65534)
    assert len(_scan(fake, cache, ws).findings) == 3


def test_entries_and_dirs_are_private(tmp_path: Path, cache: DiskCache) -> None:
    ws = _tree(tmp_path, FILES)
    _scan(FakeScanner(), cache, ws)
    assert stat.S_IMODE(os.stat(cache.root).st_mode) == 0o700
    for p in cache.root.rglob("*"):
        mode = stat.S_IMODE(os.lstat(p).st_mode)
        assert mode == (0o700 if p.is_dir() else 0o600), p
        assert not p.name.startswith(".tmp-")
    # Snippets are the file's own lines: read back from the identical bytes, never stored.
    assert all("BAD()" not in p.read_text() for p in _entries(cache))


def test_a_planted_link_in_the_tree_of_entries_is_never_written_through(tmp_path: Path, cache: DiskCache) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (cache.root / "v1").mkdir(mode=0o700)
    os.symlink(outside, cache.root / "v1" / "results")
    ws = _tree(tmp_path, FILES)
    fake = FakeScanner()
    assert len(_scan(fake, cache, ws).findings) == 3
    assert list(outside.iterdir()) == []


@pytest.mark.parametrize("bad", ["group-writable", "file", "foreign-owner"])
def test_an_unsafe_cache_dir_is_refused_in_one_line(tmp_path: Path, bad: str) -> None:
    root = tmp_path / "c"
    if bad == "file":
        root.write_text("")
    else:
        root.mkdir(mode=0o700)
        if bad == "group-writable":
            root.chmod(0o770)
        elif os.getuid() == 0:
            os.chown(root, 65534, 65534)
        else:
            pytest.skip("LOUD SKIP: giving a dir to another owner needs root")
    with pytest.raises(UsageError) as err:
        open_cache(root)
    assert "\n" not in str(err.value) and str(root) in str(err.value)


def test_the_cache_dir_is_created_0700(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        c = open_cache(tmp_path / "new" / "airlock")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(c.root).st_mode) == 0o700


# --- concurrent writers -----------------------------------------------------------------------

WRITER = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, sys.argv[1])
    from pathlib import Path
    from airlock.pipeline.cache_store import DiskCache
    cache = DiskCache(Path(sys.argv[2]))
    me = int(sys.argv[3])
    for i in range(300):
        # Everyone writes the same keys, each with a payload of its own size: a torn write would show.
        key = {"k": i % 7}
        payload = {"writer": me, "i": i, "blob": "x" * (1000 * (me + 1) + i)}
        assert cache.put("results", "fake", key, payload)
        got = cache.get("results", "fake", key)
        assert got is not None, "an entry someone just wrote is always readable whole"
        assert len(got["blob"]) == 1000 * (got["writer"] + 1) + got["i"], "a torn entry"
    """
)


def test_concurrent_writer_processes_leave_only_complete_entries(tmp_path: Path) -> None:
    cache = open_cache(tmp_path / "cache")
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(ROOT), str(cache.root), str(n)], stderr=subprocess.PIPE)
        for n in range(4)
    ]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err.decode()
    files = sorted((cache.root / "v1" / "results" / "fake").rglob("*"))
    entries = [f for f in files if f.is_file()]
    assert len(entries) == 7 and not [f for f in entries if f.name.startswith(".tmp-")]
    for i in range(7):
        got = cache.get("results", "fake", {"k": i})
        assert got is not None and got["writer"] in range(4)
        assert len(got["blob"]) == 1000 * (got["writer"] + 1) + got["i"]


# --- the codec --------------------------------------------------------------------------------

_text = st.text(max_size=40)
_findings = st.builds(
    Finding,
    stage=st.just("sast"), tool=st.just("fake"), rule_id=_text, message=_text,
    severity=st.sampled_from(list(Severity)), path=st.just("a.py"),
    start_line=st.integers(0, 10**6), end_line=st.integers(0, 10**6), title=_text, snippet=_text,
    cwe=st.lists(_text, max_size=3).map(tuple), fingerprint=_text, new=st.booleans(), help_url=_text,
    suppression=st.none() | st.builds(Suppression, _text, _text),
    sources=st.lists(st.builds(Source, _text, _text, _text, _text), max_size=3).map(tuple),
    evidence=st.lists(_text, max_size=3).map(tuple),
)  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(st.lists(_findings, max_size=5))
def test_codec_roundtrips_any_finding(found: list[Finding]) -> None:
    def snippet_of(path: str, start: int, end: int) -> str:
        return f"{path}:{start}-{end}"

    data = json.loads(json.dumps(encode(found, snippet_of)))
    assert list(decode(data, tool="fake", stage="sast", path="a.py", snippet_of=snippet_of)) == found


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=16),
    max_leaves=40,
)


@settings(max_examples=300, deadline=None)
@given(_json)
def test_codec_refuses_arbitrary_json_with_bad_entry_only(data: object) -> None:
    try:
        out = decode(data, tool="fake", stage="sast", path="a.py", snippet_of=lambda *_: "")
    except BadEntry:
        return
    assert isinstance(out, tuple)  # only what airlock itself could have written decodes
    assert all(f.path == "a.py" and f.tool == "fake" for f in out)


# --- credentials a tool quotes ----------------------------------------------------------------

TOKEN = "ghp_R7tL2mK9pW4sB6yH1cF5jD0gA3eU8iO2nXq1"  # a made-up token in GitHub's format


def test_a_quoted_credential_is_stored_masked_and_reports_stay_identical(tmp_path: Path, cache: DiskCache) -> None:
    from airlock.pipeline.fingerprint import assign
    from airlock.pipeline.redact import redact

    ws = _tree(tmp_path, {"k.py": f'TOKEN = "{TOKEN}"  # BAD\n'})

    def quote(r: ScanResult, _ctx: ScanContext) -> ScanResult:
        return replace(r, findings=tuple(replace(f, message=f"Possible password: '{TOKEN}'", cwe=("CWE-259",),
                                                 evidence=(f"value={TOKEN}",)) for f in r.findings))  # fmt: skip

    fake = FakeScanner(result_hook=quote)
    cold = _scan(fake, cache, ws)
    warm = _scan(fake, cache, ws)
    assert len(fake.runs) == 1 and TOKEN in cold.findings[0].message
    assert all(TOKEN not in p.read_text() for p in cache.root.rglob("*.json"))
    # What a report shows: fingerprinted, then redacted, exactly as the scan does it.
    assert [redact(f) for f in assign(warm.findings)] == [redact(f) for f in assign(cold.findings)]


def test_a_quoted_credential_without_a_snippet_is_not_stored(tmp_path: Path, cache: DiskCache) -> None:
    def quote(r: ScanResult, _ctx: ScanContext) -> ScanResult:
        return replace(r, findings=tuple(replace(f, snippet="", message=f"token {TOKEN}") for f in r.findings))

    fake = _never_stored(tmp_path, cache, quote)
    assert fake.runs[1] == ("a.py", "b.py")  # c.py, with no finding, was stored
    assert cs.for_storage(_finding("a.py", 1, message=f"token {TOKEN}")) is None
    assert cs.for_storage(_finding("a.py", 1, message="plain")) is not None


def test_the_rule_pack_digest_follows_contents_not_location(tmp_path: Path) -> None:
    from airlock.scanners.cache_keys import rules_digest

    a, b = tmp_path / "a", tmp_path / "b"
    for d in (a, b):
        (d / "sub").mkdir(parents=True)
        (d / "sub" / "r.yaml").write_text("rules: []\n")
    assert rules_digest([a]) == rules_digest([b]) is not None
    (b / "sub" / "r.yaml").write_text("rules: [] \n")
    assert rules_digest([a]) != rules_digest([b])
    (b / "sub" / "r.yaml").write_text("rules: []\n")
    (b / "sub" / "r2.yaml").write_text("")
    assert rules_digest([a]) != rules_digest([b])
    assert rules_digest([a, a / "sub" / "r.yaml"]) != rules_digest([a / "sub" / "r.yaml", a])
    os.symlink("/etc/passwd", a / "link.yaml")
    assert rules_digest([a]) is None  # a pack that cannot be pinned down is never cached against
    assert rules_digest([tmp_path / "missing"]) is None
