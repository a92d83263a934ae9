"""The HTML report's layout in a real browser (Debian's chromium via Playwright): every number sits under its
own column header, long evidence wraps inside the page, and the stage table adds up to the findings total."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from airlock.pipeline.models import StageResult, ToolRun, ToolStatus
from airlock.reports.html import HtmlWriter
from tests.browser import ARGS, CHROMIUM, playwright_sync_api
from tests.report_fixture import sample_report

sync_api = playwright_sync_api()

LONG = "GET evil.example:443/" + "a" * 600 + "?token=" + "b" * 300


def _report() -> Any:
    """The sample report with a tool error in the middle of a stage and evidence far wider than the page."""
    report = sample_report()
    stages = list(report.stages)
    sast = stages[0]
    errored = ToolRun("trivy-secret", ToolStatus.ERROR, "0.76.0", 0.4, "trivy crashed: " + "x" * 400, (), 0)
    stages[0] = StageResult(sast.name, sast.status, sast.duration_s, (sast.tools[0], errored, *sast.tools[1:]))
    findings = tuple(
        replace(f, evidence=(*f.evidence, "proxy: " + LONG, "other: " + "c" * 900)) if f.stage == "runtime" else f
        for f in report.findings
    )
    return replace(report, stages=tuple(stages), findings=findings)


def _cells(page: Any) -> list[dict[str, Any]]:
    """Each body cell of the stage table with its box and the header it must sit under (by x position)."""
    return page.evaluate("""() => {
        const heads = [...document.querySelectorAll('#stages thead th')].map(th => {
            const r = th.getBoundingClientRect(); return {text: th.innerText.trim(), left: r.left, right: r.right};
        });
        return [...document.querySelectorAll('#stages tbody td.num')].map(td => {
            const r = td.getBoundingClientRect();
            const mid = (r.left + r.right) / 2;
            const head = heads.find(h => h.left <= mid && mid <= h.right);
            return {text: td.innerText.trim(), head: head ? head.text : null};
        });
    }""")


def test_numbers_sit_under_their_headers_long_evidence_wraps_and_counts_add_up(tmp_path: Path) -> None:
    report = _report()
    page_file = tmp_path / "report.html"
    page_file.write_text(HtmlWriter().render(report), encoding="utf-8")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1000, "height": 1200})
        page.route("**/*", lambda r: r.continue_() if r.request.url == page_file.as_uri() else r.abort())
        page.goto(page_file.as_uri())
        page.wait_for_load_state("load")

        cells = _cells(page)
        times = [c for c in cells if c["text"].endswith(" s")]
        counts = [c for c in cells if not c["text"].endswith(" s")]
        assert len(times) == 5, cells  # semgrep, trivy-secret, bandit, checkov, sandbox
        assert {c["head"] for c in times} == {"time"}, cells
        assert {c["head"] for c in counts} == {"findings"}, cells

        # The per-tool counts (merged findings, plus airlock's own checks on the change) add up to the total.
        assert sum(int(c["text"]) for c in counts) == len(report.findings)
        assert page.locator("#stages-total").inner_text() == str(len(report.findings))
        assert page.locator("article.finding").count() == len(report.findings)

        # Nothing runs off the page: no horizontal scrolling, and the evidence stays inside its finding.
        width = page.evaluate("() => document.documentElement.clientWidth")
        assert page.evaluate("() => document.documentElement.scrollWidth") <= width
        for sel in ("table.requests", "ul.evidence", "#stages"):
            box = page.locator(sel).first.bounding_box()
            assert box is not None and box["x"] + box["width"] <= width, (sel, box, width)
        assert "a" * 50 in page.locator("table.requests").inner_text()  # wrapped, not cut

        # The verdict says what to do next, with the exact waiver command.
        nxt = page.locator("#next").inner_text()
        assert "airlock waive /repo --fingerprint " in nxt and "airlock baseline create /repo" in nxt
        browser.close()
