"""Finds planted canaries however they are dressed: raw, reversed, rot13, hex, base64/32/85, URL-encoded, UTF-16,
gzip or zlib (raw or in base64), and fragments of 12 or more characters split across lines, labels, writes or requests.

How it stays cheap on megabytes: every form that is a fixed re-spelling of the token (reversal, rot13, hex, base64 at
each byte alignment, base32, base85, UTF-16...) is precomputed per run as a string, and each 8-byte window of those
strings goes into one set of integers. The data, case-folded, is read as 8-byte integers at offsets 0 and 4 (a C loop
via memoryview.cast), intersected with that set, and each candidate is verified by extending the match both ways:
a hit needs a run of at least `min_len` equal characters (12 for raw forms, more for encodings with less entropy per
character). Any 11+ character stretch of a form contains an aligned 8-byte window, so no fragment is missed.
On large data the lookup is vectorised with numpy, in two steps. Any 12-character stretch holds a 4-byte word at an
offset that is a multiple of 8, and the 8-byte window around it (at that offset, or 4 before) lies inside the stretch;
so only every second 4-byte word is hashed into a table of the forms' 4-byte words, and for the few that pass, the two
8-byte windows around them are checked exactly against the sorted windows. That is the same set of candidate windows
as the plain lookup, at a few machine instructions per 8 bytes of data (the proxy relays bodies of any size
through this).
Only the forms that no precomputation can cover (compression, percent-encoding, pieces split by separators) are
decoded, and only where the data shows them.
"""

from __future__ import annotations

import base64
import codecs
import re
import sys
import threading
import urllib.parse
import zlib
from collections.abc import Iterable, Iterator
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy is imported where it is used: only a runtime stage that scans pays its import time
    import numpy as np

    from airlock.scanners.runtime.canaries import Canary, CanarySet

GRAM = 8
# Case-fold, and read the URL-safe base64 alphabet as the standard one (the same map is applied to the index).
NORM = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ-_", b"abcdefghijklmnopqrstuvwxyz+/")
SEPARATORS = b".\r\n"  # what splits a value across DNS labels and lines
PERCENT = re.compile(rb"%[0-9A-Fa-f]{2}")
ENCODED_PREFIX = 256  # characters of a long random part indexed in encoded forms (a key is useless without them)
DECOMPRESS_CAP = 16 << 20  # decompressed bytes examined per scan...
DECOMPRESS_TOTAL = 128 << 20  # ...and per run: bounded CPU however many zip bombs; reaching either is an overflow
MAX_DEPTH = 2  # nested decodings (e.g. percent-encoded gzip+base64)
B64_COMPRESSED = (  # base64 of a gzip member, or of a zlib stream at the start of a base64 run
    re.compile(rb"H4sI[A-Za-z0-9+/_\-\r\n]{8,}"),
    re.compile(rb"e[JNFA](?<![A-Za-z0-9+/_-]e[JNFA])[A-Za-z0-9+/_\-\r\n]{8,}"),
)
RAW_COMPRESSED = (b"\x1f\x8b\x08", b"\x78\x9c", b"\x78\xda", b"\x78\x01", b"\x78\x5e")
# The two bytes each decoder's input starts with, one flag bit per decoder: a decoder runs only on data that holds
# one of its pairs. PERCENT, then B64_COMPRESSED, then RAW_COMPRESSED in order.
TRIGGERS: tuple[tuple[bytes, ...], ...] = (
    tuple(b"%" + bytes([h]) for h in b"0123456789abcdefABCDEF"),
    (b"H4",),
    (b"eJ", b"eN", b"eF", b"eA"),
    *((m[:2],) for m in RAW_COMPRESSED),
)
MASK_RUN = re.compile(rb"[A-Za-z0-9+/=_%-]*")
TABLE_BITS = 22  # the hash filter: 4 Mi bits (512 KiB, cache-sized) for ~40,000 words: ~1% of other words pass
HASH_MULT = 0x9E3779B1  # Fibonacci hashing: the high bits of word x odd constant
VECTOR_MIN = 4096  # below this, numpy's per-call overhead outweighs the set lookup


@cache
def _second_bytes() -> dict[int, list[tuple[int, np.ndarray]]]:
    """first byte -> [(flag bit, table of the second bytes that complete one of its pairs)]."""
    import numpy as np

    out: dict[int, list[tuple[int, np.ndarray]]] = {}
    for bit, pairs in enumerate(TRIGGERS):
        for first in sorted({p[0] for p in pairs}):
            table = np.zeros(256, dtype=np.bool_)
            table[[p[1] for p in pairs if p[0] == first]] = True
            out.setdefault(first, []).append((bit, table))
    return out


def trigger_starts(data: bytes) -> list[list[int]]:
    """For each TRIGGERS entry, in order, every position where one of its pairs starts: the only places its decoder
    can match. On large data: a memchr per first byte, and where it occurs, one vectorised compare for its positions
    and a lookup of the bytes after them."""
    if len(data) < VECTOR_MIN:
        return [sorted({i for p in pairs for i in _occurrences(data, p)}) for pairs in TRIGGERS]
    import numpy as np

    out: list[list[int]] = [[] for _ in TRIGGERS]
    arr = np.frombuffer(data, dtype=np.uint8)
    for first, seconds in _second_bytes().items():
        if first not in data:
            continue
        at = np.flatnonzero(arr[:-1] == first)
        after = arr[at + 1]
        for bit, table in seconds:
            out[bit] = at[table.take(after)].tolist()
    return out


def _occurrences(data: bytes, needle: bytes) -> list[int]:
    out, pos = [], data.find(needle)
    while pos >= 0:
        out.append(pos)
        pos = data.find(needle, pos + 1)
    return out


def _matches(pattern: re.Pattern[bytes], data: bytes, starts: list[int]) -> Iterator[re.Match[bytes]]:
    """pattern.finditer(data), given every position where a match can start (the pattern's first two bytes)."""
    end = 0
    for pos in starts:
        if pos < end:
            continue
        m = pattern.match(data, pos)
        if m is not None:
            end = max(m.end(), pos + 1)
            yield m


def _rot13(b: bytes) -> bytes:
    return codecs.encode(b.decode("latin-1"), "rot13").encode("latin-1")


def _aligned(enc: bytes, pad: int, n: int, group_in: int, group_out: int, bits: int) -> bytes:
    """The part of an encoding of pad zero bytes + n data bytes that depends on the data alone."""
    if bits:  # bit-stream encodings (base64, base32)
        start, end = -(-pad * 8 // bits), (pad + n) * 8 // bits
    else:  # group encodings (base85): a group depends on all its bytes
        start, end = -(-pad // group_in) * group_out, (pad + n) // group_in * group_out
    return enc[start:end]


def forms(secret: str) -> list[tuple[bytes, int]]:
    """(normalized spelling, minimum match length) for each way the secret can be dressed without compression."""
    raw = secret.encode()
    out = [(raw, 12), (raw[::-1], 12), (_rot13(raw), 12), (_rot13(raw)[::-1], 12)]
    head = raw[:ENCODED_PREFIX]
    n = len(head)
    out.append((head.hex().encode(), 24))
    for u16 in (head.decode().encode("utf-16-le"), head.decode().encode("utf-16-be")):
        out.append((u16, 24))
        for pad in range(3):
            out.append((_aligned(base64.b64encode(b"\0" * pad + u16), pad, len(u16), 0, 0, 6), 28))
    for pad in range(3):
        out.append((_aligned(base64.b64encode(b"\0" * pad + head), pad, n, 0, 0, 6), 14))
    for pad in range(5):
        out.append((_aligned(base64.b32encode(b"\0" * pad + head), pad, n, 0, 0, 5), 16))
    for pad in range(4):
        out.append((_aligned(base64.b85encode(b"\0" * pad + head), pad, n, 4, 5, 0), 12))
        out.append((_aligned(base64.a85encode(b"\0" * pad + head), pad, n, 4, 5, 0), 12))
    return [(f.translate(NORM, SEPARATORS), m) for f, m in out if len(f) >= m]


def _merge(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for a, b in ranges:  # already in order
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


class Index:
    """Every form of every canary's random parts, as 8-byte windows; built once per run."""

    def __init__(self, canaries: Iterable[Canary]) -> None:
        self.names: list[str] = []
        self.strings: list[tuple[int, bytes, int]] = []  # (canary index, form, min_len)
        self.grams: dict[int, list[tuple[int, int]]] = {}  # window -> [(string index, offset)]
        for ci, c in enumerate(canaries):
            self.names.append(c.name)
            for part in c.parts:
                for form, min_len in forms(part):
                    si = len(self.strings)
                    self.strings.append((ci, form, min_len))
                    for off in range(len(form) - GRAM + 1):
                        g = int.from_bytes(form[off : off + GRAM], sys.byteorder)
                        self.grams.setdefault(g, []).append((si, off))
        self.gramset = frozenset(self.grams)
        import numpy as np

        self._keys = np.array(sorted(self.gramset), dtype=np.uint64)
        quads = {
            int.from_bytes(form[off : off + 4], sys.byteorder)
            for _, form, _ in self.strings
            for off in range(len(form) - 3)
        }
        self._mult = np.uint32(HASH_MULT)
        self._shift = np.uint32(32 - TABLE_BITS)
        bits = np.zeros(1 << TABLE_BITS, dtype=np.bool_)
        bits[(np.array(sorted(quads), dtype=np.uint32) * self._mult) >> self._shift] = True
        self._table = np.packbits(bits, bitorder="little")  # bit h of the filter is bit h % 8 of byte h // 8
        self.inflate_left = DECOMPRESS_TOTAL
        self.capped = False  # a compressed stream was cut short by the budget: not everything was searched
        self._lock = threading.Lock()

    def spans(self, norm: bytes, found: set[int] | None = None) -> list[tuple[int, int, int]]:
        """(start, end, canary index) of verified matches in normalized data; skips canaries already in found."""
        size = len(norm)
        cands = self._candidates(norm) if size >= VECTOR_MIN and self._keys.size else self._small_candidates(norm)
        out: list[tuple[int, int, int]] = []
        done = set() if found is None else found
        for g in cands:
            entries = self.grams[g]
            if found is not None and all(self.strings[si][0] in done for si, _ in entries):
                continue  # e.g. the other windows of a whole key already found: no search of the data per window
            needle = g.to_bytes(GRAM, sys.byteorder)
            pos = norm.find(needle)
            while pos >= 0:
                for si, off in entries:
                    ci, form, min_len = self.strings[si]
                    if found is not None and ci in done:
                        continue
                    left = 0
                    while left < min(pos, off) and norm[pos - left - 1] == form[off - left - 1]:
                        left += 1
                    right = GRAM
                    lim = min(size - pos, len(form) - off)
                    while right < lim and norm[pos + right] == form[off + right]:
                        right += 1
                    if left + right >= min_len:
                        out.append((pos - left, pos + right, ci))
                        if found is not None:
                            done.add(ci)
                if found is not None and all(self.strings[si][0] in done for si, _ in entries):
                    break
                pos = norm.find(needle, pos + 1)
        return out

    def _small_candidates(self, norm: bytes) -> set[int]:
        cands: set[int] = set()
        view = memoryview(norm)
        for off in (0, 4):
            end = off + (len(norm) - off) // GRAM * GRAM
            if end > off:
                cands |= self.gramset.intersection(view[off:end].cast("Q"))
        return cands

    def _candidates(self, norm: bytes) -> set[int]:
        """The same set as _small_candidates, vectorised: 4-byte words at offsets 8k through the hash filter, then
        the 8-byte windows at 8k and 8k - 4 of those that pass, checked exactly."""
        import numpy as np

        keys, size = self._keys, len(norm)
        quads = np.frombuffer(norm, dtype=np.uint32, count=size // 4)[::2]  # the words at offsets 8k
        h = (quads * self._mult) >> self._shift
        hit = np.flatnonzero(self._table.take(h >> 3) & (1 << (h & 7)).astype(np.uint8))
        if not hit.size:
            return set()
        at0 = np.frombuffer(norm, dtype=np.uint64, count=size // 8)  # windows at 8k
        at4 = np.frombuffer(norm, dtype=np.uint64, count=(size - 4) // 8, offset=4)  # windows at 8k + 4
        before = hit - 1
        maybe = np.concatenate((at0[hit[hit < at0.size]], at4[before[(before >= 0) & (before < at4.size)]]))
        maybe = np.unique(maybe)
        pos = np.minimum(np.searchsorted(keys, maybe), keys.size - 1)
        return set(maybe[keys[pos] == maybe].tolist())

    def scan(self, data: bytes) -> set[str]:
        budget = [max(0, min(DECOMPRESS_CAP, self.inflate_left))]
        return {self.names[ci] for ci in self._scan(data, MAX_DEPTH, budget)}

    def _scan(self, data: bytes, depth: int, budget: list[int]) -> set[int]:
        found: set[int] = set()
        # One view: case-folded, with the separators that split values across labels and lines taken out.
        self.spans(data.translate(NORM, SEPARATORS), found)
        if depth <= 0:
            return found
        starts = trigger_starts(data)  # where each decoder has anything to decode
        windows = _merge((max(0, m.start() - 64), m.end() + 64) for m in _matches(PERCENT, data, starts[0]))
        if windows:
            text = b" ".join(data[a:b] for a, b in windows)
            found |= self._scan(urllib.parse.unquote_to_bytes(text), depth - 1, budget)
        for bit, pattern in enumerate(B64_COMPRESSED, 1):
            for m in _matches(pattern, data, starts[bit]):
                run = m.group().translate(bytes.maketrans(b"-_", b"+/"), SEPARATORS)
                try:
                    raw = base64.b64decode(run[: len(run) // 4 * 4])
                except ValueError:
                    continue
                found |= self._inflate(raw, depth, budget)
        for bit, magic in enumerate(RAW_COMPRESSED, 1 + len(B64_COMPRESSED)):
            for pos in starts[bit]:
                if data.startswith(magic, pos):
                    found |= self._inflate(memoryview(data)[pos:], depth, budget)
        return found

    def _inflate(self, blob: bytes | memoryview, depth: int, budget: list[int]) -> set[int]:
        """Decompresses a gzip or zlib stream (also a truncated one) within the budget, and scans the output.
        A real stream that the budget cuts short sets `capped`, which the caller turns into an overflow finding."""
        d = zlib.decompressobj(47)  # gzip or zlib header, auto-detected
        out = b""
        try:
            out = d.decompress(blob[:4096], budget[0] + 1)
            if len(out) <= budget[0] and len(blob) > 4096 and not d.eof:
                out += d.decompress(blob[4096:], budget[0] + 1 - len(out))
        except zlib.error:
            pass  # not a stream, or one that turns to garbage: what came out before still counts
        if len(out) > budget[0]:
            self.capped = True
            out = out[: budget[0]]
        budget[0] -= len(out)
        with self._lock:
            self.inflate_left -= len(out)
        return self._scan(out, depth - 1, budget) if out else set()


class Detector:
    """Keeps a window per stream, so values split across writes, lines, labels or requests are still found.

    feed() batches small writes until `window` bytes are pending, then scans the previous window plus them: every
    byte is scanned about twice whatever the write sizes, and memory is bounded by window x max_streams.
    Call flush() at the end of the data."""

    def __init__(self, index: Index, window: int = 16384, max_streams: int = 256) -> None:
        self.index = index
        self.window = window
        self.max_streams = max_streams
        self.hits: set[str] = set()
        self._carry: dict[str, bytes] = {}
        self._pending: dict[str, bytearray] = {}

    def feed(self, stream: str, data: bytes) -> set[str]:
        """New canary names found; data shorter than the window may only be scanned on a later call or flush()."""
        pend = self._pending.setdefault(stream, bytearray())
        pend += data
        new: set[str] = set()
        if len(pend) >= self.window:
            new |= self._scan(stream)
        while len(self._pending) + len(self._carry) > 2 * self.max_streams:
            oldest = next(iter(self._carry)) if self._carry else next(iter(self._pending))
            if oldest == stream:
                break
            new |= self._scan(oldest)
            self._carry.pop(oldest, None)
        return new

    def flush(self) -> set[str]:
        new: set[str] = set()
        for stream in list(self._pending):
            new |= self._scan(stream)
        return new

    def _scan(self, stream: str) -> set[str]:
        buf = self._carry.pop(stream, b"") + bytes(self._pending.pop(stream, b""))
        new = self.index.scan(buf) - self.hits
        self.hits |= new
        self._carry[stream] = buf[-self.window :]
        return new


def mask(canaries: CanarySet, text: str) -> str:
    """Replaces each canary in text, raw or in any detected form, by <canary NAME>."""
    for c in canaries.canaries:
        for value in (c.token, *c.parts):
            text = text.replace(value, f"<canary {c.name}>")
    index = canaries.index
    data = text.encode("utf-8", "surrogateescape")
    cut: list[list[int]] = []
    for start, end, ci in sorted(index.spans(data.translate(NORM))):
        s = MASK_RUN.match(data[::-1], len(data) - start)
        e = MASK_RUN.match(data, end)
        start, end = (len(data) - s.end() if s else start), (e.end() if e else end)
        if cut and start <= cut[-1][1]:
            cut[-1][1] = max(cut[-1][1], end)
        else:
            cut.append([start, end, ci])
    for start, end, ci in reversed(cut):
        data = data[:start] + f"<canary {index.names[ci]}>".encode() + data[end:]
    if not index.scan(data):
        return data.decode("utf-8", "surrogateescape")
    words = re.split(rb"(\s+)", data)
    data = b"".join(b"<canary value masked>" if w.strip() and index.scan(w) else w for w in words)
    if index.scan(data):
        return "<text withheld: it carries a planted canary value>"
    return data.decode("utf-8", "surrogateescape")
