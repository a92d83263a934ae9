"""The HTML report: one self-contained file (inline CSS and JS, no external request), Jinja2 with autoescape.

Every string from a scanned file or a tool is untrusted and reaches the page only through
autoescaped template variables. A Content-Security-Policy allows exactly the inline style and
script shipped here (by hash), so even a slip in escaping could not run injected script or fetch anything.
"""

from __future__ import annotations

import base64
import functools
import hashlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import jinja2
from markupsafe import Markup

from airlock.pipeline.models import Finding, Report, Severity
from airlock.reports import view
from airlock.reports.escape import clean_value

TEMPLATES = Path(__file__).parent / "templates"
SCOPES = {"full": "whole tree", "patch": "patch", "staged": "staged changes"}
PROCESS_PREFIXES = ("process:", "proc:")
REQUEST_PREFIXES = ("proxy:", "dns query", "blocked:", "request:", "net:", "dns:")


@dataclass(frozen=True)
class Evidence:
    process: tuple[str, ...]
    requests: tuple[str, ...]
    other: tuple[str, ...]


def split_evidence(f: Finding) -> Evidence:
    """Runtime evidence lines by their prefix: a process tree, blocked requests, anything else."""
    process, requests, other = [], [], []
    for line in f.evidence:
        low = line.lower()
        if low.startswith(PROCESS_PREFIXES):
            # The runtime stage writes a chain "a -> b -> c": draw it as an indented tree.
            chain = line.split(":", 1)[1].strip().split(" -> ")
            process += [("  " * depth + ("└─ " if depth else "") + step) for depth, step in enumerate(chain)]
        elif low.startswith(REQUEST_PREFIXES):
            requests.append(line)
        else:
            other.append(line)
    return Evidence(tuple(process), tuple(requests), tuple(other))


def snippet_lines(f: Finding) -> list[tuple[int, str]]:
    first = f.start_line if f.start_line > 0 else 1
    return [(first + i, line) for i, line in enumerate(f.snippet.splitlines())]


def _sha256(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")


@functools.lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    """One per process: compiling the template is most of a render's cost (a nightly writes one per branch)."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,  # every template, whatever its extension
        finalize=clean_value,  # and before escaping: no control, bidi or invisible characters (reports/escape.py)
        undefined=jinja2.StrictUndefined,
        trim_blocks=False,
        keep_trailing_newline=True,
    )


class HtmlWriter:
    name = "html"

    def render(self, report: Report) -> str:
        css = (TEMPLATES / "report.css").read_text(encoding="utf-8")
        js = (TEMPLATES / "report.js").read_text(encoding="utf-8")
        csp = (
            "default-src 'none'; "
            f"style-src '{_sha256(css)}'; script-src '{_sha256(js)}'; "
            "img-src 'none'; connect-src 'none'; font-src 'none'; form-action 'none'; base-uri 'none'"
        )
        t = report.target
        scope = SCOPES.get(t.mode, t.mode)
        if t.mode == "diff":
            scope = f"diff {(t.base or '')[:12]}..{(t.head or '')[:12]}"
        template = _environment().get_template("report.html.j2")
        # Counted from the merged findings (a finding seen by two tools counts once, for its reporting tool),
        # so the stage table adds up to the findings total.
        tool_counts = Counter((f.stage, f.tool) for f in report.findings)
        listed = {(s.name, t.tool) for s in report.stages for t in s.tools}
        return template.render(
            report=report,
            scope=scope,
            csp=csp,
            css=Markup(css),  # noqa: S704 - our own static file, hashed into the CSP
            js=Markup(js),  # noqa: S704 - our own static file, hashed into the CSP
            counts=view.count_table(report.findings),
            states=view.STATES,
            severities=[s.label for s in sorted(Severity, reverse=True)],
            groups=view.by_stage_and_file(report.findings),
            state=view.state,
            is_gating=lambda f: view.is_gating(report, f),
            snippet_lines=snippet_lines,
            evidence=split_evidence,
            tool_counts=tool_counts,
            other_counts=sorted((k, n) for k, n in tool_counts.items() if k not in listed),
            next_steps=view.next_steps(report),
        )
