"""Identifiers and string literals on the added lines of source files other than Python, from pygments' lexers.

Python has its own AST and tokenizer (obfuscation.py, hidden_text.py); for the other languages agents write,
pygments (a tokenizer for hundreds of languages, already installed with rich) tells a name from a string from
a comment, so the confusable-identifier and high-entropy-literal checks read them too.

Each added line is lexed on its own, and the lexer (about half a megabyte a second) reads at most MAX_LEXED
characters of a file's added lines. A line over MAX_LINE, and every line past that budget, is read by two
linear regexes instead: its words as names and its runs of base64/hex characters as literals. That is less
precise (a run in a comment counts too) but never checks less, so a payload cannot hide by making its line
long or its file big.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Sequence
from pathlib import PurePosixPath

from pygments.lexer import Lexer
from pygments.lexers import get_lexer_for_filename
from pygments.token import Comment, Name, String
from pygments.util import ClassNotFound

# Source files an agent writes and a reviewer reads as code; prose and data formats are left to the line checks.
SUFFIXES = frozenset({
    ".js", ".mjs", ".cjs", ".jsx", ".ts", ".mts", ".cts", ".tsx", ".go", ".rs", ".java", ".kt", ".kts", ".scala",
    ".rb", ".php", ".cs", ".c", ".h", ".cc", ".cpp", ".hpp", ".swift", ".lua", ".pl", ".sh", ".bash", ".ps1",
})  # fmt: skip
MAX_LINE = 10_000  # characters: a longer added line is read by the regexes, not lexed
MAX_LEXED = 256 * 1024  # characters of a file's added lines lexed (about half a second); the rest: the regexes
_WORD = re.compile(r"[^\W\d]\w*")  # an identifier in most languages (Unicode letters, digits, _)
_RUN = re.compile(r"[A-Za-z0-9+/=_-]{32,}")  # what an encoded payload or key is written in
_QUOTES = "\"'`"


@functools.lru_cache(maxsize=64)
def _lexer(suffix: str) -> Lexer | None:
    try:
        return get_lexer_for_filename(f"x{suffix}", stripnl=False, ensurenl=False)
    except ClassNotFound:
        return None


def lexable(path: str) -> bool:
    suffix = PurePosixPath(path).suffix.lower()
    return suffix in SUFFIXES and _lexer(suffix) is not None


def tokens(path: str, lines: Sequence[str], added: set[int]) -> tuple[tuple[int, str, str], ...]:
    """(line number, "name" or "string", text) on each added line; a string literal comes whole, unquoted.
    Kept for the last few files: the hidden-text and obfuscation checks both ask for the same file."""
    return _tokens(path, tuple(lines), frozenset(added))


@functools.lru_cache(maxsize=8)
def _tokens(path: str, lines: tuple[str, ...], added: frozenset[int]) -> tuple[tuple[int, str, str], ...]:
    return tuple(_lex(path, lines, added))


def _lex(path: str, lines: Sequence[str], added: frozenset[int]) -> Iterator[tuple[int, str, str]]:
    lexer = _lexer(PurePosixPath(path).suffix.lower())
    if lexer is None:
        return
    budget = MAX_LEXED
    for n in sorted(added):
        if n > len(lines):
            break
        line = lines[n - 1]
        if len(line) > MAX_LINE or len(line) > budget:
            budget = 0  # past the budget, every later line is read the same way: no lexer time is left
            yield from _unlexed(n, line)
            continue
        budget -= len(line)
        literal: list[str] = []
        for ttype, value in lexer.get_tokens(line):
            if ttype in String and ttype not in String.Doc and ttype not in Comment:
                literal.append(value)
                continue
            if literal:
                yield n, "string", _unquoted("".join(literal))
                literal = []
            if ttype in Name:
                yield n, "name", value
        if literal:
            yield n, "string", _unquoted("".join(literal))


def _unlexed(n: int, line: str) -> Iterator[tuple[int, str, str]]:
    for m in _WORD.finditer(line):
        if not m.group().isascii():  # only a non-ASCII name can be a confusable
            yield n, "name", m.group()
    for m in _RUN.finditer(line):
        yield n, "string", m.group()


def _unquoted(text: str) -> str:
    if len(text) >= 2 and text[0] in _QUOTES and text[-1] == text[0]:
        return text[1:-1]
    return text
