"""A location for every finding that has no file of its own (runtime and image findings).

GitHub rejects SARIF results without a location, and GitLab's SAST report requires a file and a line. A runtime
finding is anchored at the config line that declared its command, an image finding at the line that named the
image, either of them at a file its evidence names, and failing all that at the CI file or config that started
the scan. The finding's own `path` stays "": fingerprints, waivers and suppressions never see the anchor.
Pure: the candidate files' texts and an existence check come in as data.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import replace

from airlock.pipeline.models import Anchor, Finding

FALLBACK = "airlock.toml"  # where the runtime and image stages are configured, when nothing better is known
MAX_TEXT_BYTES = 1024 * 1024
_COMMAND = re.compile(r"command\[\d+\]: (.+)")
_IMAGE = re.compile(r"image: (.+)")
_FILE = re.compile(r"file: (.+)")
# Commands airlock guesses from build files when none is declared (scanners/runtime/commands.py).
_BUILD_FILES = {
    "python": ("pyproject.toml", "setup.py"),
    "npm": ("package.json",),
    "go": ("go.mod",),
    "make": ("Makefile",),
}


def _line_of(needle: str, text: str) -> int:
    if not needle:
        return 0
    forms = (needle, needle.replace("\\", "\\\\").replace('"', '\\"'))
    for n, line in enumerate(text.splitlines(), start=1):
        if any(f in line for f in forms):
            return n
    return 0


def _declared(needle: str, configs: Sequence[tuple[str, str]]) -> Anchor | None:
    for path, text in configs:
        n = _line_of(needle, text)
        if n:
            return Anchor(path, n, "declared here")
    return None


def _safe_rel(text: str) -> str | None:
    rel = text.strip().strip("'\"")
    parts = rel.split("/")
    if not rel or rel.startswith("/") or any(p in ("", ".", "..") for p in parts) or len(rel) > 4096:
        return None
    return rel


def anchor_for(
    f: Finding, configs: Sequence[tuple[str, str]], exists: Callable[[str], bool], fallback: str
) -> Anchor:
    for ev in f.evidence:
        m = _COMMAND.match(ev)
        if m:
            cmd = m.group(1)
            found = _declared(cmd, configs)
            if found:
                return found
            for name in _BUILD_FILES.get(cmd.split(" ", 1)[0], ()):
                if exists(name):
                    return Anchor(name, 1, "the build file the command was guessed from")
        m = _IMAGE.match(ev)
        if m:
            found = _declared(m.group(1), configs)
            if found:
                return found
            rel = _safe_rel(m.group(1))
            if rel and exists(rel):
                return Anchor(rel, 1, "the image archive")
        m = _FILE.match(ev)
        if m:
            rel = _safe_rel(m.group(1))
            if rel and exists(rel):
                return Anchor(rel, 1, "named in the evidence")
    for word in f.message.split():
        rel = _safe_rel(word.rstrip(".,;:)"))
        if rel and "/" not in word[:1] and exists(rel):
            return Anchor(rel, 1, "named in the finding")
    if fallback:  # a command or image given on the command line: the CI file that ran airlock
        return Anchor(fallback, 1, "the CI configuration that started the scan")
    if configs:
        return Anchor(configs[0][0], 1, "the policy that configured the scan")
    return Anchor(FALLBACK, 1, "where the runtime and image stages are configured")


def anchored(
    findings: Sequence[Finding],
    configs: Sequence[tuple[str, str]],
    exists: Callable[[str], bool],
    fallback: str = "",
) -> list[Finding]:
    """Each path-less finding with an anchor; findings with a file are returned unchanged."""
    return [f if f.path else replace(f, anchor=anchor_for(f, configs, exists, fallback)) for f in findings]
