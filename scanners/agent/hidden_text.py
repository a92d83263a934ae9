"""Hidden text in added lines: bidirectional controls, zero-width characters (Trojan Source) and identifiers
that mix scripts or use look-alike letters (Python's own tokenizer finds Python's identifiers, pygments those of
other languages: lexed.py)."""

from __future__ import annotations

import io
import tokenize
import unicodedata
from collections.abc import Iterable, Iterator

from airlock.pipeline.models import Finding, Severity
from airlock.scanners.agent import aimed_text, lexed
from airlock.scanners.agent.view import ChangeView, finding

BIDI = "agent.bidi-control"
ZERO_WIDTH = "agent.zero-width"
CONFUSABLE = "agent.confusable-identifier"

BIDI_CHARS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u061c\u200e\u200f")
ZERO_WIDTH_CHARS = frozenset("\u200b\u200c\u200d\u2060\u2061\u2062\u2063\u2064\ufeff\u180e\u00ad\u034f")
# Letters of other scripts drawn like Latin ones (a subset of Unicode's confusables.txt for Cyrillic and Greek).
CONFUSABLES = {
    "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "у": "y", "х": "x", "і": "i", "ј": "j", "ѕ": "s",
    "ԁ": "d", "ԛ": "q", "ԝ": "w", "һ": "h", "ӏ": "l", "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M",
    "Н": "H", "О": "O", "Р": "P", "С": "C", "Т": "T", "Х": "X", "Ѕ": "S", "І": "I", "Ј": "J",
    "ο": "o", "α": "a", "ν": "v", "ρ": "p", "τ": "t", "ι": "i", "κ": "k", "Α": "A", "Β": "B", "Ε": "E",
    "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M", "Ν": "N", "Ο": "O", "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X",
}  # fmt: skip
CODE_SUFFIXES = (".py", ".js", ".ts", ".jsx", ".tsx", ".go", ".rs", ".c", ".h", ".cpp", ".java", ".rb", ".sh", ".php")


def _name(ch: str) -> str:
    return unicodedata.name(ch, f"U+{ord(ch):04X}")


def script(ch: str) -> str:
    """The script of a letter, from its Unicode name (LATIN, CYRILLIC, GREEK, ...); "" for digits and _."""
    if not ch.isalpha():
        return ""
    return _name(ch).split(" ")[0]


def identifier_problem(ident: str) -> str | None:
    if ident.isascii():
        return None
    scripts = {s for s in map(script, ident) if s}
    look = [ch for ch in ident if ch in CONFUSABLES]
    if look:
        skeleton = "".join(CONFUSABLES.get(ch, ch) for ch in ident)
        return f"uses {', '.join(_name(c) for c in look[:3])}, drawn like Latin (reads as {skeleton!r})"
    if len(scripts) > 1:
        return f"mixes scripts ({', '.join(sorted(scripts))})"
    return None


def _char_findings(path: str, lineno: int, line: str) -> list[Finding]:
    out = []
    bidi = sorted({c for c in line if c in BIDI_CHARS})
    if bidi:
        out.append(
            finding(
                BIDI, Severity.HIGH, path, lineno,
                f"an added line holds bidirectional control characters ({', '.join(map(_name, bidi))}): "
                "the code a reviewer sees is not the code that runs",
                "bidirectional control character", snippet=line.encode("unicode_escape").decode("ascii"),
            )
        )  # fmt: skip
    zw = sorted({c for c in line if c in ZERO_WIDTH_CHARS})
    if lineno == 1 and line.startswith("\ufeff"):
        zw = sorted(set(zw) - {"\ufeff"} | ({"\ufeff"} if "\ufeff" in line[1:] else set()))
    if zw:
        sev = Severity.HIGH if path.endswith(CODE_SUFFIXES) else Severity.MEDIUM
        out.append(
            finding(
                ZERO_WIDTH, sev, path, lineno,
                f"an added line holds invisible characters ({', '.join(map(_name, zw))})",
                "zero-width character", snippet=line.encode("unicode_escape").decode("ascii"),
            )
        )  # fmt: skip
    return out


def _python_names(text: str, added: set[int]) -> Iterator[tuple[int, str]]:
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type == tokenize.NAME and tok.start[0] in added:
                yield tok.start[0], tok.string
    except (tokenize.TokenError, SyntaxError, IndentationError):
        pass  # an unfinished file still had its earlier tokens checked


def _identifiers(path: str, names: Iterable[tuple[int, str]]) -> list[Finding]:
    out = []
    seen: set[tuple[int, str]] = set()
    for line, ident in names:
        if (line, ident) in seen:
            continue
        seen.add((line, ident))
        why = identifier_problem(ident)
        if why:
            out.append(
                finding(
                    CONFUSABLE, Severity.HIGH, path, line, f"the identifier {ident!r} {why}", "confusable identifier",
                    snippet=ident.encode("unicode_escape").decode("ascii"),
                )
            )  # fmt: skip
    return out


def check(view: ChangeView) -> list[Finding]:
    out: list[Finding] = []
    for f in view.live():
        got = view.added_text(f)
        if got is None:
            continue
        text, added = got
        for n in sorted(added):
            if n > len(text.lines):
                break
            line = text.lines[n - 1]
            if not line.isascii():
                out += _char_findings(f.path, n, line)
            out += aimed_text.line_findings(f.path, n, line)
        if text.text.isascii():
            continue
        if f.path.endswith(".py"):
            out += _identifiers(f.path, _python_names(text.text, added))
        elif lexed.lexable(f.path):
            names = ((n, t) for n, kind, t in lexed.tokens(f.path, text.lines, added) if kind == "name")
            out += _identifiers(f.path, names)
    return out
