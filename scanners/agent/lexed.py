"""Identifiers and string literals on the added lines of source files other than Python, from pygments' lexers.

Python has its own AST and tokenizer (obfuscation.py, hidden_text.py); for the other languages agents write,
pygments (a tokenizer for hundreds of languages, already installed with rich) tells a name from a string from
a comment, so the confusable-identifier and high-entropy-literal checks read them too. Each added line is
lexed on its own, and an overlong line not at all: a lexer's time stays bounded per line, whatever the file.
"""

from __future__ import annotations

import functools
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
MAX_LINE = 10_000  # characters: a longer added line is not lexed (the line-based checks still read it)
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


def tokens(path: str, lines: Sequence[str], added: set[int]) -> Iterator[tuple[int, str, str]]:
    """(line number, "name" or "string", text) on each added line; a string literal comes whole, unquoted."""
    lexer = _lexer(PurePosixPath(path).suffix.lower())
    if lexer is None:
        return
    for n in sorted(added):
        if n > len(lines) or len(lines[n - 1]) > MAX_LINE:
            continue
        literal: list[str] = []
        for ttype, value in lexer.get_tokens(lines[n - 1]):
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


def _unquoted(text: str) -> str:
    if len(text) >= 2 and text[0] in _QUOTES and text[-1] == text[0]:
        return text[1:-1]
    return text
