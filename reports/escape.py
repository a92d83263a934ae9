"""Untrusted text (file names, code, tool messages) made safe for a terminal or a one-line field."""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def terminal(text: str, *, keep_newlines: bool = False) -> str:
    """No escape sequences, no bidi overrides; newlines kept only where a block is expected."""
    text = _CONTROL.sub(
        lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}", text
    )
    if not keep_newlines:
        text = text.replace("\n", "\\n").replace("\t", " ")
    return text
