"""The nightly dashboard: one self-contained HTML page (inline CSS, no script at all, no external request).

Branch names and finding messages come from the agents' branches: untrusted, rendered only through Jinja2
autoescape (and reports/escape.py's clean as finalize). A Content-Security-Policy allows only the inline style.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from markupsafe import Markup

from airlock.pipeline.history.store import NightCount
from airlock.pipeline.models import Severity
from airlock.reports.html import TEMPLATES, _environment, _sha256
from airlock.reports.trend import chart

SEVERITIES = [s.label for s in sorted(Severity, reverse=True)]


def render_dashboard(doc: Mapping[str, Any], trends: Mapping[str, Sequence[NightCount]]) -> str:
    css = (TEMPLATES / "dashboard.css").read_text(encoding="utf-8")
    csp = (
        f"default-src 'none'; style-src '{_sha256(css)}'; script-src 'none'; img-src 'none'; "
        "connect-src 'none'; font-src 'none'; form-action 'none'; base-uri 'none'"
    )
    new_rows = [
        (b["branch"], f)
        for b in doc["branches"]
        for f in b["findings"]
        if f.get("new_since_last_run")
    ]
    fixed_rows = [(b["branch"], f) for b in doc["branches"] for f in b["fixed_findings"]]
    charts = {
        repo: chart([(f"{c.started_at} {c.label}".strip(), c.findings) for c in counts])
        for repo, counts in sorted(trends.items())
    }
    return _environment().get_template("dashboard.html.j2").render(
        doc=doc,
        csp=csp,
        css=Markup(css),  # noqa: S704 - our own static file, hashed into the CSP
        severities=SEVERITIES,
        new_rows=new_rows,
        fixed_rows=fixed_rows,
        charts=charts,
    )
