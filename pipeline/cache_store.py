"""The on-disk content cache: JSON entries under content-addressed names, written atomically, checked on read.

A wrong entry would loosen the gate (a cached "no findings"), so reading is strict: an entry that is not a
regular file owned by us, is writable by others, is larger than MAX_ENTRY_BYTES, is not JSON, or names
another key than the one asked for is a miss, never an error and never a result. Writers put a temp file in
the entry's own directory and os.replace() it into place, so two processes writing at once leave one
complete entry, never a mix of both.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import stat
import tempfile
from pathlib import Path
from typing import Any

from airlock.pipeline import scratch
from airlock.pipeline.errors import UsageError

FORMAT = 1  # bump when an entry's layout or meaning changes: old entries then simply miss
MAX_ENTRY_BYTES = 4 * 1024 * 1024  # a larger result is not stored (and a larger file is not read)
_SAFE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_TMP_PREFIX = ".tmp-"


def digest(obj: Any) -> str:
    """sha256 of a canonical JSON rendering: the content address of a key."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def default_dir() -> Path:
    return scratch.cache_dir()


class DiskCache:
    """Entries in `<root>/v<FORMAT>/<kind>/<tool>/<ab>/<sha256>.json`, kind "results" or "versions"."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._uid = os.getuid()

    # --- keys to paths ----------------------------------------------------------------------

    def _path(self, kind: str, tool: str, key: Any) -> tuple[Path, str]:
        if not _SAFE_NAME.match(kind) or not _SAFE_NAME.match(tool):
            raise ValueError(f"unsafe cache name {kind!r}/{tool!r}")
        name = digest(key)
        return self.root / f"v{FORMAT}" / kind / tool / name[:2] / f"{name}.json", name

    # --- reading ----------------------------------------------------------------------------

    def get(self, kind: str, tool: str, key: Any) -> Any | None:
        """The payload stored for key, or None for any kind of miss (absent, foreign, corrupt, too large)."""
        path, _ = self._path(kind, tool, key)
        raw = self._read(path)
        if raw is None:
            return None
        try:
            doc = json.loads(raw.decode("utf-8"))
        except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
            return None
        if not isinstance(doc, dict) or set(doc) != {"format", "key", "payload"}:
            return None
        if doc["format"] != FORMAT or doc["key"] != _roundtrip(key):
            return None  # a file at this name that is not this key's entry
        return doc["payload"]

    def _read(self, path: Path) -> bytes | None:
        try:
            # O_NONBLOCK: a FIFO planted at an entry's name must not hang the scan.
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            return None  # absent, a symlink (ELOOP), unreadable
        try:
            st = os.fstat(fd)
            if (
                not stat.S_ISREG(st.st_mode)
                or st.st_uid != self._uid
                or st.st_mode & 0o022
                or st.st_size > MAX_ENTRY_BYTES
            ):
                return None
            chunks: list[bytes] = []
            left = MAX_ENTRY_BYTES + 1
            while left > 0:
                chunk = os.read(fd, min(left, 1 << 20))
                if not chunk:
                    break
                chunks.append(chunk)
                left -= len(chunk)
            data = b"".join(chunks)
            return None if len(data) > MAX_ENTRY_BYTES else data
        except OSError:
            return None
        finally:
            os.close(fd)

    # --- writing ----------------------------------------------------------------------------

    def put(self, kind: str, tool: str, key: Any, payload: Any) -> bool:
        """Store payload under key; False when it was not stored (too large, disk full). Never raises OSError."""
        path, name = self._path(kind, tool, key)
        data = json.dumps(
            {"format": FORMAT, "key": key, "payload": payload}, sort_keys=True, separators=(",", ":")
        ).encode("utf-8")
        if len(data) > MAX_ENTRY_BYTES:
            return False  # not cached: the file is simply scanned again next time
        try:
            self._makedirs(path.parent)
            fd, tmp = tempfile.mkstemp(prefix=f"{_TMP_PREFIX}{name[:16]}.", dir=path.parent)  # mode 0600
        except OSError:
            return False
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)  # atomic: readers see the old entry, or none, or this one complete
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            return False
        return True

    def _makedirs(self, path: Path) -> None:
        """Each level created 0700 and checked to be a directory of ours (never a planted link)."""
        rel = path.relative_to(self.root)
        cur = self.root
        for part in rel.parts:
            cur = cur / part
            try:
                os.mkdir(cur, 0o700)
            except FileExistsError:
                pass
            st = os.lstat(cur)
            if not stat.S_ISDIR(st.st_mode) or st.st_uid != self._uid or st.st_mode & 0o022:
                raise OSError(errno.EPERM, f"not a private directory of ours: {cur}")


def _roundtrip(key: Any) -> Any:
    """key as it reads back from JSON (tuples become lists), for comparing with a stored key."""
    return json.loads(json.dumps(key, sort_keys=True))


def open_cache(path: Path | None) -> DiskCache:
    """The cache at path (default: $XDG_CACHE_HOME/airlock), created 0700. UsageError when it is unsafe to use:
    not a directory, owned by another user, or writable by others (anyone who can write it can loosen the gate).
    """
    root = (path or default_dir()).expanduser().absolute()
    try:
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = os.stat(root)  # a link to a dir of ours elsewhere is fine; its target is what gets checked
    except OSError as exc:
        raise UsageError(
            f"cache dir {root}: {exc.strerror or exc}; pass a writable --cache-dir or --no-cache"
        ) from None
    if not stat.S_ISDIR(st.st_mode):
        raise UsageError(f"cache dir {root} is not a directory; pass another --cache-dir or --no-cache")
    if st.st_uid != os.getuid():
        raise UsageError(f"cache dir {root} belongs to another user; pass a --cache-dir of your own or --no-cache")
    if st.st_mode & 0o022:
        raise UsageError(f"cache dir {root} is writable by other users; run 'chmod 700 {root}' or pass --no-cache")
    return DiskCache(root)
