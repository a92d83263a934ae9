"""An image archive or OCI layout made safe for trivy: snapshotted, bounded, and verified against its digests.

The image is untrusted input. trivy caches layer results by the ids an image *claims*, so every layer's
content is hashed here and compared with the config's diff_ids (and every OCI blob with its name) before
trivy sees it. Only regular files and directories are read, at every level: a FIFO, a device or a link
(to a host secret, say) is refused. Unpacking is bounded in entries, bytes and time, and streams tar
members so memory stays flat. Any refusal raises ImageRefused, which the adapter turns into a finding.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import tarfile
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any

from airlock.pipeline.fsutil import WalkStats, walk

MAX_ENTRIES = 200_000  # members of an archive or files of a layout
MAX_INPUT_BYTES = 8 * 1024**3  # the archive or layout as given
MAX_UNPACKED_BYTES = 8 * 1024**3  # layers decompressed: also what trivy may write into its TMPDIR
MAX_METADATA_BYTES = 4 * 1024**2  # one manifest, index or config
MAX_METADATA_TOTAL = 64 * 1024**2
CHUNK = 1 << 20
GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_HEX64 = re.compile(r"[0-9a-f]{64}")


class ImageRefused(Exception):
    """The image cannot be scanned safely; the message says why."""


@dataclass
class Limits:
    deadline: float
    entries: int = MAX_ENTRIES
    input_bytes: int = MAX_INPUT_BYTES
    unpacked_bytes: int = MAX_UNPACKED_BYTES

    def tick(self) -> None:
        if time.monotonic() > self.deadline:
            raise ImageRefused("unpacking took longer than the tool's timeout_s")


@dataclass(frozen=True)
class Blob:
    sha256: str  # of the bytes as stored
    diff_id: str  # of the uncompressed bytes (same as sha256 when stored uncompressed); "" if unknown


@dataclass
class Contents:
    blobs: dict[str, Blob] = field(default_factory=dict)
    metadata: dict[str, bytes] = field(default_factory=dict)
    entries: int = 0
    input_bytes: int = 0
    unpacked_bytes: int = 0
    metadata_bytes: int = 0


class _Hasher:
    """sha256 of a stream as stored and, for gzip, of its decompressed bytes, bounded by the limits."""

    def __init__(self, name: str, contents: Contents, limits: Limits) -> None:
        self.name, self.contents, self.limits = name, contents, limits
        self.raw = hashlib.sha256()
        self.plain: Any = None  # a sha256 of the decompressed stream, once gzip is seen
        self.inflate: Any = None
        self.first = b""
        self.zstd = False
        self.keep: bytearray | None = bytearray()

    def feed(self, chunk: bytes) -> None:
        self.limits.tick()
        self.contents.input_bytes += len(chunk)
        if self.contents.input_bytes > self.limits.input_bytes:
            raise ImageRefused(f"more than {self.limits.input_bytes} bytes in the image")
        self.raw.update(chunk)
        if self.keep is not None:
            self.keep += chunk
            if len(self.keep) > MAX_METADATA_BYTES:
                self.keep = None
        if len(self.first) < 4:
            self.first += chunk[: 4 - len(self.first)]
            if self.first.startswith(GZIP_MAGIC) and self.inflate is None:
                self.plain, self.inflate = hashlib.sha256(), zlib.decompressobj(16 + zlib.MAX_WBITS)
            self.zstd = self.first.startswith(ZSTD_MAGIC)
        if self.inflate is not None:
            self._inflate(chunk)
        else:
            self._count(len(chunk))

    def _inflate(self, data: bytes) -> None:
        while True:
            out = self.inflate.decompress(data, CHUNK)
            self._count(len(out))
            self.plain.update(out)
            self.limits.tick()
            if self.inflate.eof:  # concatenated gzip members are one stream
                data = self.inflate.unused_data
                self.inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
                if data and not data.startswith(GZIP_MAGIC):
                    raise ImageRefused(f"{self.name}: trailing bytes after gzip data")
                if not data:
                    return
                continue
            data = self.inflate.unconsumed_tail
            if not data and len(out) < CHUNK:  # a full CHUNK may leave output pending inside zlib
                return

    def _count(self, n: int) -> None:
        self.contents.unpacked_bytes += n
        if self.contents.unpacked_bytes > self.limits.unpacked_bytes:
            raise ImageRefused(f"layers unpack to more than {self.limits.unpacked_bytes} bytes")

    def done(self) -> None:
        if self.inflate is not None:
            try:
                self.inflate.flush()
            except zlib.error as exc:
                raise ImageRefused(f"{self.name}: corrupt gzip data: {exc}") from None
        raw = self.raw.hexdigest()
        diff = self.plain.hexdigest() if self.plain is not None else ("" if self.zstd else raw)
        self.contents.blobs[self.name] = Blob(raw, diff)
        if self.keep is not None and self.contents.metadata_bytes + len(self.keep) <= MAX_METADATA_TOTAL:
            self.contents.metadata[self.name] = bytes(self.keep)
            self.contents.metadata_bytes += len(self.keep)


def _member_name(name: str) -> str:
    parts = [p for p in PurePosixPath(name).parts if p not in (".", "/")]
    if not parts or any(p == ".." for p in parts) or name.startswith("/"):
        raise ImageRefused(f"member {name!r} escapes the archive")
    return "/".join(parts)


def _open_regular(path: Path, what: str) -> int:
    """An fd on a regular file, never blocking (a FIFO) and never through a final link."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise ImageRefused(f"cannot open {what}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise ImageRefused(f"{what} is not a regular file")
    os.set_blocking(fd, True)
    return fd


def _copy(src: IO[bytes], hasher: _Hasher, out: IO[bytes] | None) -> None:
    while chunk := src.read(CHUNK):
        hasher.feed(chunk)
        if out is not None:
            out.write(chunk)
    hasher.done()


MAX_EXTENDED_HEADER = 1 << 20
_EXTENDED = (tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK, tarfile.XHDTYPE, tarfile.XGLTYPE,
             tarfile.SOLARIS_XHDTYPE)  # fmt: skip


class _BoundedTarInfo(tarfile.TarInfo):
    """tarfile reads a long-name or pax header whole into memory: refuse huge ones before it does."""

    def _proc_member(self, tarfile_: tarfile.TarFile) -> tarfile.TarInfo:  # type: ignore[override]
        if self.type in _EXTENDED and self.size > MAX_EXTENDED_HEADER:
            raise ImageRefused(f"an extended tar header of {self.size} bytes (at most {MAX_EXTENDED_HEADER})")
        return super()._proc_member(tarfile_)  # type: ignore[misc]


def read_archive(src: Path, limits: Limits, extract_to: Path | None) -> Contents:
    """Stream a tar's members (never all at once), hash each, and optionally extract them."""
    contents = Contents()
    fd = _open_regular(src, "the image archive")
    with os.fdopen(fd, "rb") as fh:
        try:
            # A stream: no member list kept, no seeking.
            tar = tarfile.open(fileobj=fh, mode="r|*", tarinfo=_BoundedTarInfo)
        except tarfile.TarError as exc:
            raise ImageRefused(f"not a tar archive: {exc}") from None
        with tar:
            try:
                for m in tar:
                    _archive_member(tar, m, contents, limits, extract_to)
            except (tarfile.TarError, EOFError, zlib.error) as exc:
                raise ImageRefused(f"corrupt archive: {exc}") from None
    return contents


def _archive_member(
    tar: tarfile.TarFile, m: tarfile.TarInfo, contents: Contents, limits: Limits, extract_to: Path | None
) -> None:
    limits.tick()
    contents.entries += 1
    if contents.entries > limits.entries:
        raise ImageRefused(f"more than {limits.entries} entries")
    tar.members = []  # type: ignore[attr-defined]  # the stream reader would otherwise keep every member
    name = _member_name(m.name)
    if m.isdir():
        if extract_to is not None:
            (extract_to / name).mkdir(parents=True, exist_ok=True)
        return
    if not m.isfile():
        raise ImageRefused(f"member {name!r} is not a regular file or directory")
    if name in contents.blobs:
        raise ImageRefused(f"member {name!r} appears twice")
    fh = tar.extractfile(m)
    if fh is None:  # pragma: no cover - isfile() members always have data
        raise ImageRefused(f"member {name!r} has no data")
    hasher = _Hasher(name, contents, limits)
    if extract_to is None:
        _copy(fh, hasher, None)
        return
    target = extract_to / name
    target.parent.mkdir(parents=True, exist_ok=True)
    out_fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    with os.fdopen(out_fd, "wb") as out:
        _copy(fh, hasher, out)


def snapshot_layout(src: Path, limits: Limits, dest: Path) -> Contents:
    """Copy an OCI layout dir into dest: regular files and directories only, at every level."""
    contents = Contents()
    st = os.lstat(src)
    if not stat.S_ISDIR(st.st_mode):
        raise ImageRefused("the image layout is not a directory")
    stats = WalkStats()
    for entry in walk(src, max_entries=limits.entries + 1, stats=stats):
        limits.tick()
        contents.entries += 1
        if contents.entries > limits.entries:
            raise ImageRefused(f"more than {limits.entries} entries")
        mode = entry.st.st_mode
        if stat.S_ISDIR(mode):
            (dest / entry.rel).mkdir(parents=True, exist_ok=True)
            continue
        if not stat.S_ISREG(mode):
            raise ImageRefused(f"{entry.rel!r} is not a regular file or directory")
        fd = _open_regular(src / entry.rel, repr(entry.rel))
        target = dest / entry.rel
        target.parent.mkdir(parents=True, exist_ok=True)
        out_fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "rb") as fh, os.fdopen(out_fd, "wb") as out:
            _copy(fh, _Hasher(entry.rel, contents, limits), out)
    if stats.cap_hit or stats.unreadable:
        raise ImageRefused(stats.cap_hit or "an unreadable directory in the layout")
    return contents


# --- verification -----------------------------------------------------------------------------


def _json(contents: Contents, name: str) -> Any:
    raw = contents.metadata.get(name)
    if raw is None:
        raise ImageRefused(f"{name!r} is missing or too large")
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ImageRefused(f"{name!r} is not valid JSON") from None


def _diff_ids(config: Any, where: str) -> list[str]:
    ids = (config.get("rootfs") or {}).get("diff_ids") if isinstance(config, dict) else None
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise ImageRefused(f"{where}: no rootfs.diff_ids")
    return ids


def _check_layers(contents: Contents, layers: list[str], diff_ids: list[str], where: str) -> None:
    if len(layers) != len(diff_ids):
        raise ImageRefused(f"{where}: {len(layers)} layers but {len(diff_ids)} diff_ids")
    for name, claimed in zip(layers, diff_ids, strict=True):
        blob = contents.blobs.get(name)
        if blob is None:
            raise ImageRefused(f"{where}: layer {name!r} is missing")
        if not blob.diff_id:
            raise ImageRefused(f"{where}: layer {name!r} is compressed in a format airlock cannot verify")
        if claimed != "sha256:" + blob.diff_id:
            raise ImageRefused(f"layer {name!r} does not match its diff_id {claimed}: digest mismatch")


def verify(contents: Contents) -> None:
    """Every layer's content against the config's diff_ids; every OCI blob against its name."""
    docker = "manifest.json" in contents.blobs
    oci = "index.json" in contents.blobs
    if not docker and not oci:
        raise ImageRefused("neither a docker-archive (manifest.json) nor an OCI layout (index.json)")
    for name, blob in contents.blobs.items():
        if name.startswith("blobs/"):
            alg, _, hexd = name[len("blobs/") :].partition("/")
            if alg != "sha256" or not _HEX64.fullmatch(hexd):
                raise ImageRefused(f"blob {name!r} is not named by a sha256 digest")
            if blob.sha256 != hexd:
                raise ImageRefused(f"blob {name!r} does not match its digest: digest mismatch")
    if docker:
        _verify_docker(contents)
    if oci:
        _verify_oci(contents)


def _verify_docker(contents: Contents) -> None:
    manifest = _json(contents, "manifest.json")
    if not isinstance(manifest, list) or not manifest:
        raise ImageRefused("manifest.json lists no images")
    for i, entry in enumerate(manifest):
        where = f"manifest.json[{i}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("Config"), str):
            raise ImageRefused(f"{where}: no Config")
        layers = entry.get("Layers")
        if not isinstance(layers, list) or not all(isinstance(x, str) for x in layers):
            raise ImageRefused(f"{where}: no Layers")
        config_name = _member_name(entry["Config"])
        named = re.fullmatch(r"(?:blobs/sha256/)?([0-9a-f]{64})(?:\.json)?", config_name)
        blob = contents.blobs.get(config_name)
        if blob is not None and named and blob.sha256 != named.group(1):
            raise ImageRefused(f"config {config_name!r} does not match its digest: digest mismatch")
        diff_ids = _diff_ids(_json(contents, config_name), where)
        _check_layers(contents, [_member_name(x) for x in layers], diff_ids, where)


INDEX_TYPES = ("application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json")


def _blob_name(desc: Any, where: str) -> str:
    digest = desc.get("digest") if isinstance(desc, dict) else None
    if not isinstance(digest, str) or not digest.startswith("sha256:") or not _HEX64.fullmatch(digest[7:]):
        raise ImageRefused(f"{where}: a descriptor without a sha256 digest")
    return "blobs/sha256/" + digest[7:]


def _verify_oci(contents: Contents) -> None:
    todo: list[tuple[str, Any]] = [("index.json", _json(contents, "index.json"))]
    seen = 0
    while todo:
        where, index = todo.pop()
        manifests = index.get("manifests") if isinstance(index, dict) else None
        if not isinstance(manifests, list):
            raise ImageRefused(f"{where}: no manifests")
        for desc in manifests:
            seen += 1
            if seen > 10_000:
                raise ImageRefused("more than 10000 manifests")
            name = _blob_name(desc, where)
            doc = _json(contents, name)
            if desc.get("mediaType") in INDEX_TYPES or (isinstance(doc, dict) and "manifests" in doc):
                todo.append((name, doc))
                continue
            layers = doc.get("layers") if isinstance(doc, dict) else None
            if not isinstance(layers, list):
                raise ImageRefused(f"{name}: no layers")
            config = _json(contents, _blob_name(doc.get("config"), name))
            _check_layers(contents, [_blob_name(x, name) for x in layers], _diff_ids(config, name), name)


def prepare(src: Path, scratch: Path, limits: Limits) -> Path:
    """A verified snapshot for trivy's --input: the archive itself (docker-archive) or an OCI layout dir."""
    try:
        st = os.lstat(src)
    except OSError as exc:
        raise ImageRefused(f"cannot read it: {exc.strerror}") from None
    layout = scratch / "layout"
    layout.mkdir(parents=True)
    if stat.S_ISDIR(st.st_mode):
        verify(snapshot_layout(src, limits, layout))
        return layout
    if not stat.S_ISREG(st.st_mode):
        raise ImageRefused("not a regular file or directory")
    copy = scratch / "image.tar"
    fd = _open_regular(src, "the image archive")
    out_fd = os.open(copy, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    copied = 0
    with os.fdopen(fd, "rb") as fh, os.fdopen(out_fd, "wb") as out:
        while chunk := fh.read(CHUNK):
            limits.tick()
            copied += len(chunk)
            if copied > limits.input_bytes:
                raise ImageRefused(f"more than {limits.input_bytes} bytes in the image")
            out.write(chunk)
    # Streaming passes over the private copy: trivy reads exactly what was verified.
    contents = read_archive(copy, limits, None)
    verify(contents)
    if "manifest.json" in contents.blobs:
        return copy  # trivy reads a docker-archive tar itself
    read_archive(copy, limits, layout)  # an OCI archive: trivy needs the layout unpacked
    return layout
