"""The one escaping policy for untrusted text (file names, code, tool messages) in every report format.

What is neutralised, as a visible escape (`\\x1b`, `\\u202e`) so a reviewer still sees it was there:
- C0 and C1 control characters and DEL (terminal escape sequences, CR tricks, NEL); newlines and tabs only
  survive where a format asks for a block (`keep_newlines`);
- bidi overrides, embeddings, isolates and marks (Trojan Source), and the Unicode line/paragraph separators;
- zero-width and invisible characters that make two different names look the same;
- CI workflow commands: a line whose first non-blank characters are `:` (GitHub `::warning ...`, also when a
  neighbouring field supplies the second colon) or `##` (Azure `##vso[...]`, `##[group]`) is never produced
  from untrusted text; its first character is escaped.

Formats with their own syntax escape on top of this (HTML autoescape, XML, Markdown punctuation, GitHub's
`%0A`). JSON and SARIF keep the exact text (consumers must be able to round-trip paths) and are written with
ensure_ascii, so every non-ASCII character is a `\\uXXXX` escape in the file.
"""

from __future__ import annotations

import re

BIDI = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
INVISIBLE = "\u00ad\u034f\u180e\u200b-\u200d\u2060-\u2064\ufeff"
_UNSAFE_BLOCK = re.compile(f"[\\x00-\\x08\\x0b-\\x1f\\x7f-\\x9f\u2028\u2029{BIDI}{INVISIBLE}]")
_UNSAFE_LINE = re.compile(f"[\\x00-\\x1f\\x7f-\\x9f\u2028\u2029{BIDI}{INVISIBLE}]")
# A line (or a field that may start one) beginning, after blanks, with ':' or '##': a CI command prefix.
_COMMAND_START = re.compile(r"^([ \t]*)(:|#(?=#))", re.MULTILINE)
_SINGLE = {"\n": "\\n", "\t": " "}


def _visible(ch: str) -> str:
    if ch in _SINGLE:
        return _SINGLE[ch]
    return f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}"


def clean(text: str, *, keep_newlines: bool = False) -> str:
    """Untrusted text made inert for any line-oriented output; newlines/tabs kept only when asked."""
    text = (_UNSAFE_BLOCK if keep_newlines else _UNSAFE_LINE).sub(lambda m: _visible(m.group()), text)
    return _COMMAND_START.sub(lambda m: m.group(1) + _visible(m.group(2)), text)


def terminal(text: str, *, keep_newlines: bool = False) -> str:
    """For the terminal and text reports (the name the writers have always used)."""
    return clean(text, keep_newlines=keep_newlines)


def clean_value(value: object) -> object:
    """Jinja2's finalize hook: every string a template prints, cleaned (blocks keep their newlines)."""
    from markupsafe import Markup

    if isinstance(value, str) and not isinstance(value, Markup):
        return clean(value, keep_newlines=True)
    return value
