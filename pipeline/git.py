"""Read-only git queries. Nothing here writes to the user's repository, tree or index."""

from __future__ import annotations

import difflib
import os
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from airlock.pipeline import proc
from airlock.pipeline.errors import UsageError
from airlock.pipeline.models import ChangedFile, FileStatus

GIT_TIMEOUT_S = 120.0
INDEX = "INDEX"  # the staging area, for pre-commit use

_ENV_OVERRIDES = {
    "LC_ALL": "C",
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_OPTIONAL_LOCKS": "0",  # a read must not refresh the user's index
    "GIT_LITERAL_PATHSPECS": "1",  # a file named '*' is a file, not a glob
    "GIT_EXTERNAL_DIFF": "",
}


def git_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(_ENV_OVERRIDES)
    if extra:
        env.update(extra)
    return env


_FULL_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_TREES_KEPT = 4  # trees listed by commit id, kept per process: a nightly's branches mostly share one base
_TREES: OrderedDict[tuple[str, str, str], tuple[TreeEntry, ...]] = OrderedDict()
# Per-process memos of what git says about immutable things (commit ids, blob ids); intake may run in threads.
_MEMO_LOCK = threading.Lock()
_TOPLEVELS: dict[str, Path] = {}
_BLOBS: dict[str, bytes] = {}
_BLOBS_SIZE = [0]
_BLOBS_BUDGET = 8 << 20
_BLOB_KEEP_MAX = 64 << 10
_COMMITS: set[tuple[str, str, str]] = set()  # (root, GIT_DIR, commit id) that resolve() has verified


@dataclass(frozen=True)
class TreeEntry:
    mode: str
    sha: str
    path: str


class Git:
    def __init__(self, root: Path, env: dict[str, str] | None = None) -> None:
        self.root = root
        self.env = git_env(env)

    def _run(self, *args: str, check: bool = True) -> proc.Completed:
        try:
            done = proc.run(
                ["git", "-c", "core.quotepath=off", *args], timeout_s=GIT_TIMEOUT_S, cwd=self.root, env=self.env
            )
        except proc.ToolMissing:
            raise UsageError("git not found: install git to scan a revision range or patch") from None
        if check and (done.returncode != 0 or done.timed_out):
            raise UsageError(f"git {args[0]} failed: {done.stderr.strip().splitlines()[-1:] or ['timed out']}"[:400])
        return done

    def _bytes(self, *args: str, stdin: bytes | None = None) -> bytes:
        code, out, err = proc.run_bytes(
            ["git", "-c", "core.quotepath=off", *args],
            timeout_s=GIT_TIMEOUT_S,
            cwd=self.root,
            env=self.env,
            stdin=stdin,
        )
        if code != 0:
            raise UsageError(f"git {args[0]} failed: {err.strip()[:300]}")
        return out

    @staticmethod
    def toplevel(path: Path) -> Path | None:
        known = _TOPLEVELS.get(str(path))
        if known is not None and os.path.lexists(known / ".git"):  # a nightly asks once per branch
            return known
        done = proc.run(["git", "rev-parse", "--show-toplevel"], timeout_s=GIT_TIMEOUT_S, cwd=path, env=git_env())
        if done.returncode != 0:
            return None
        top = Path(done.stdout.strip()).resolve()
        if len(_TOPLEVELS) < 256:
            _TOPLEVELS[str(path)] = top
        return top

    def resolve(self, rev: str) -> str:
        if rev.startswith("-"):
            raise UsageError(f"revision {rev!r} looks like an option; name a branch, tag or commit")
        key = (str(self.root), self.env.get("GIT_DIR", ""), rev)
        if key in _COMMITS:  # a commit id found once stays one (a nightly names its base once per branch)
            return rev
        done = self._run("rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}", check=False)
        if done.returncode != 0:
            raise UsageError(f"unknown revision {rev!r}: name a branch, tag or commit that exists in {self.root}")
        sha = done.stdout.strip()
        if len(_COMMITS) < 4096:
            _COMMITS.add((key[0], key[1], sha))
        return sha

    def refs(self, *prefixes: str) -> list[str]:
        """Full ref names under the prefixes (refs/heads, refs/remotes), as git sorts them."""
        return self._run("for-each-ref", "--format=%(refname)", *prefixes).stdout.splitlines()

    def has_commits(self) -> bool:
        return self._run("rev-parse", "--verify", "--quiet", "HEAD", check=False).returncode == 0

    def merge_base(self, a: str, b: str) -> str:
        done = self._run("merge-base", a, b, check=False)
        if done.returncode != 0:
            raise UsageError(f"no merge base between {a[:12]} and {b[:12]}: is --base on the same history?")
        return done.stdout.strip()

    def entries(self, rev: str, paths: list[str] | None = None) -> list[TreeEntry]:
        """Files of a commit (or of the index), without going through attributes or filters."""
        if paths is not None:
            # Filtered here, not by pathspec: 50,000 paths on a command line pass ARG_MAX.
            # A path names a file, or a directory and everything below it, as a pathspec would.
            wanted = {p.rstrip("/") for p in paths}
            if not wanted:
                return []
            return [e for e in self.entries(rev) if e.path in wanted or _under_any(e.path, wanted)]
        key = (str(self.root), self.env.get("GIT_DIR", ""), rev)
        with _MEMO_LOCK:
            kept = _TREES.get(key)
            if kept is not None:
                _TREES.move_to_end(key)
                return list(kept)
        spec: list[str] = []
        if rev == INDEX:
            raw = self._bytes("ls-files", "-s", "-z", *spec)
            out = []
            for rec in raw.split(b"\0"):
                if not rec:
                    continue
                meta, path = rec.split(b"\t", 1)
                mode, sha, _stage = meta.decode().split(" ")
                out.append(TreeEntry(mode, sha, _dec(path)))
            return out
        raw = self._bytes("ls-tree", "-r", "-z", "--full-tree", rev, *spec)
        out = []
        for rec in raw.split(b"\0"):
            if not rec:
                continue
            meta, path = rec.split(b"\t", 1)
            mode, _kind, sha = meta.decode().split(" ")
            out.append(TreeEntry(mode, sha, _dec(path)))
        if _FULL_SHA.fullmatch(rev):  # a commit id always names the same tree: intake asks for the base's often
            with _MEMO_LOCK:
                _TREES[key] = tuple(out)
                while len(_TREES) > _TREES_KEPT:
                    _TREES.popitem(last=False)
        return out

    def blobs(self, shas: list[str]) -> dict[str, bytes]:
        # A blob id names the same bytes everywhere: small ones read once (the base's policy and rule files,
        # which every branch of a nightly reads again) are kept, up to a byte budget.
        blobs: dict[str, bytes] = {s: _BLOBS[s] for s in shas if s in _BLOBS}
        wanted = [s for s in shas if s not in blobs]
        if wanted:
            blobs.update(self._cat(wanted))
        return blobs

    def _cat(self, shas: list[str]) -> dict[str, bytes]:
        raw = self._bytes("cat-file", "--batch", stdin="".join(s + "\n" for s in shas).encode())
        blobs: dict[str, bytes] = {}
        pos = 0
        while pos < len(raw):
            nl = raw.index(b"\n", pos)
            header = raw[pos:nl].decode().split(" ")
            pos = nl + 1
            if len(header) < 3:  # "<sha> missing"
                continue
            size = int(header[2])
            blobs[header[0]] = data = raw[pos : pos + size]
            pos += size + 1
            if size <= _BLOB_KEEP_MAX and _FULL_SHA.fullmatch(header[0]):
                with _MEMO_LOCK:
                    if _BLOBS_SIZE[0] + size <= _BLOBS_BUDGET and header[0] not in _BLOBS:
                        _BLOBS[header[0]] = data
                        _BLOBS_SIZE[0] += size
        return blobs

    def diff_args(self, base: str, head: str) -> list[str]:
        return ["--cached", base] if head == INDEX else [base, head]

    def changed_files(self, base: str, head: str) -> list[ChangedFile]:
        common = ["--no-ext-diff", "--no-textconv", "--no-color", "-M"]
        raw = self._bytes("diff", "--name-status", "-z", *common, *self.diff_args(base, head))
        parts = raw.split(b"\0")
        files: list[ChangedFile] = []
        i = 0
        while i < len(parts) and parts[i]:
            code = parts[i].decode()
            if code[0] in "RC":
                old, new = _dec(parts[i + 1]), _dec(parts[i + 2])
                status = FileStatus.RENAMED if code[0] == "R" else FileStatus.ADDED
                files.append(ChangedFile(new, status, old if code[0] == "R" else None))
                i += 3
                continue
            path = _dec(parts[i + 1])
            status = {"A": FileStatus.ADDED, "D": FileStatus.DELETED}.get(code[0], FileStatus.MODIFIED)
            files.append(ChangedFile(path, status, path if status is FileStatus.MODIFIED else None))
            i += 2
        added = self.added_lines(base, head, files)
        return [ChangedFile(f.path, f.status, f.old_path, tuple(added.get(f.path, ()))) for f in files]

    def added_lines(self, base: str, head: str, files: list[ChangedFile]) -> dict[str, list[tuple[int, int]]]:
        """Head line ranges each file's change added, from the two blobs in git's object store.

        No diff text is parsed: attributes (`-diff`), the user's diff settings and file contents that look
        like diff headers cannot change the answer.
        """
        live = [f for f in files if f.status is not FileStatus.DELETED]
        head_sha = self.blob_ids(head, {f.path for f in live})
        base_sha = self.blob_ids(base, {f.old_path for f in live if f.old_path})
        data = self.blobs(sorted(set(head_sha.values()) | set(base_sha.values())))
        ranges: dict[str, list[tuple[int, int]]] = {}
        for f in live:
            sha = head_sha.get(f.path)
            if sha is None:
                continue
            old_sha = base_sha.get(f.old_path) if f.old_path else None
            old = data.get(old_sha, b"") if old_sha else b""
            found = added_ranges(old, data.get(sha, b""))
            if found:
                ranges[f.path] = found
        return ranges

    def blob_ids(self, rev: str, paths: set[str]) -> dict[str, str]:
        """Path -> blob id of the regular files among paths at rev (links and submodules have no lines)."""
        if not paths:
            return {}
        return {e.path: e.sha for e in self.entries(rev) if e.path in paths and e.mode in ("100644", "100755")}

    def show_file(self, rev: str, path: str) -> bytes | None:
        spec = f":{path}" if rev == INDEX else f"{rev}:{path}"
        code, out, _err = proc.run_bytes(
            ["git", "cat-file", "blob", spec], timeout_s=GIT_TIMEOUT_S, cwd=self.root, env=self.env
        )
        return out if code == 0 else None

    def worktree_files(self) -> list[str]:
        raw = self._bytes("ls-files", "-z", "-co", "--exclude-standard")
        return sorted({_dec(p) for p in raw.split(b"\0") if p})


def _under_any(path: str, dirs: set[str]) -> bool:
    parts = path.split("/")
    return any("/".join(parts[:i]) in dirs for i in range(1, len(parts)))


def split_lines(data: bytes) -> list[bytes]:
    """Lines as git and the scanners number them: split at LF only; a final LF ends the last line."""
    if not data:
        return []
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    return lines


EXACT_DIFF_LINES = 1_000  # above this, difflib's quadratic exact mode could be made to spin
MAX_DIFF_LINES = 5_000  # above this, a changed middle section counts as added whole


def added_ranges(old: bytes, new: bytes) -> list[tuple[int, int]]:
    """Inclusive 1-based line ranges of new that are not matched to a line of old.

    Every line left out of the ranges is equal to a line of old, in order. Where matching would cost
    too much, more lines count as added, never fewer: an added line only loses its suppression comment.
    """
    a, b = split_lines(old), split_lines(new)
    if max(len(a), len(b)) <= EXACT_DIFF_LINES:
        return _opcode_ranges(difflib.SequenceMatcher(None, a, b, autojunk=False), 0)
    pre = 0
    while pre < len(a) and pre < len(b) and a[pre] == b[pre]:
        pre += 1
    post = 0
    while post < len(a) - pre and post < len(b) - pre and a[-1 - post] == b[-1 - post]:
        post += 1
    mid_a, mid_b = a[pre : len(a) - post], b[pre : len(b) - post]
    if not mid_b:
        return []
    if not mid_a or max(len(mid_a), len(mid_b)) > MAX_DIFF_LINES:
        return [(pre + 1, pre + len(mid_b))]
    exact = max(len(mid_a), len(mid_b)) <= EXACT_DIFF_LINES
    return _opcode_ranges(difflib.SequenceMatcher(None, mid_a, mid_b, autojunk=not exact), pre)


def _opcode_ranges(matcher: difflib.SequenceMatcher[bytes], offset: int) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for tag, _i1, _i2, j1, j2 in matcher.get_opcodes():
        if tag in ("replace", "insert") and j2 > j1:
            out.append((offset + j1 + 1, offset + j2))
    return out


def _dec(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")  # odd bytes in a name must not crash a report


_ESCAPES = {
    b"n": b"\n",
    b"t": b"\t",
    b'"': b'"',
    b"\\": b"\\",
    b"a": b"\a",
    b"b": b"\b",
    b"f": b"\f",
    b"r": b"\r",
    b"v": b"\v",
}


def _unquote(name: bytes) -> bytes:
    """Undo git's C-style quoting of unusual path names in patch headers."""
    if not (name.startswith(b'"') and name.endswith(b'"')):
        return name
    body, out, i = name[1:-1], bytearray(), 0
    while i < len(body):
        ch = body[i : i + 1]
        if ch == b"\\" and i + 1 < len(body):
            nxt = body[i + 1 : i + 2]
            if nxt.isdigit():
                out.append(int(body[i + 1 : i + 4], 8))
                i += 4
                continue
            out += _ESCAPES.get(nxt, nxt)
            i += 2
            continue
        out += ch
        i += 1
    return bytes(out)
