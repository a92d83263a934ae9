"""The nightly dashboard in a real browser (Debian's chromium via Playwright, offline): the trend chart is drawn
with one point per night, the tables say what changed, and a hostile branch name or message stays text."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from airlock.pipeline.history.store import default_url
from airlock.pipeline.nightly import BranchOutcome, OpenFinding
from airlock.pipeline.nightly_summary import summarize
from tests.browser import ARGS, CHROMIUM, playwright_sync_api

sync_api = playwright_sync_api()

HOSTILE_BRANCH = 'agent/<img src=x onerror="window.__pwned=1">'
HOSTILE_MESSAGE = "</td></table><script>window.__pwned=1</script><b>bold</b>"
T0 = dt.datetime(2026, 4, 1, 2, 0, tzinfo=dt.timezone.utc)


def _finding(n: int, message: str = "shell=True") -> OpenFinding:
    return OpenFinding(f"{n:032x}", "B602", "high", f"pkg/m{n}.py", n, "subprocess with shell", message)


def _nights(out: Path) -> None:
    """Four nights: findings 1, 2, 2, 3; the last adds the hostile branch and fixes one finding elsewhere."""
    nights = [
        [BranchOutcome("agent/a", "failed", findings=(_finding(1),)), BranchOutcome("agent/gone", "passed")],
        [BranchOutcome("agent/a", "failed", findings=(_finding(1), _finding(2))),
         BranchOutcome("agent/gone", "passed")],
        [BranchOutcome("agent/a", "failed", findings=(_finding(1), _finding(2))),
         BranchOutcome("agent/gone", "passed")],
        [BranchOutcome("agent/a", "failed", findings=(_finding(1),)),
         BranchOutcome(HOSTILE_BRANCH, "failed", findings=(_finding(7, HOSTILE_MESSAGE), _finding(8))),
         BranchOutcome("agent/broken", "error", error="git cat-file failed")],
    ]
    for i, outcomes in enumerate(nights):
        summarize(out, repository="demo", default_branch="main", started_at=T0 + dt.timedelta(days=i),
                  outcomes=outcomes, history_url=default_url(out), shard=None)


def test_dashboard_renders_the_night_and_stays_inert(tmp_path: Path) -> None:
    _nights(tmp_path)
    page_file = tmp_path / "dashboard.html"
    html = page_file.read_text(encoding="utf-8")
    assert "<script" not in html.replace("&lt;script", "")
    requests: list[str] = []
    dialogs: list[str] = []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1200, "height": 1400})

        def route(r: sync_api.Route) -> None:
            requests.append(r.request.url)
            if r.request.url == page_file.as_uri():
                r.continue_()
            else:
                r.abort()

        page.route("**/*", route)
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(page_file.as_uri())
        page.wait_for_load_state("load")

        # Branches with their verdicts and new-by-severity counts.
        rows = page.locator("#branches tbody tr")
        assert rows.count() == 3
        verdicts = dict(zip(page.locator("#branches td.branch").evaluate_all(
            "els => els.map(e => e.firstChild.textContent)"),
            page.locator("#branches td.verdict").all_inner_texts(), strict=True))
        assert {k: v.lower() for k, v in verdicts.items()} == {
            "agent/a": "failed", HOSTILE_BRANCH: "failed", "agent/broken": "error"}
        hostile_row = page.locator("#branches tbody tr").filter(has_text="onerror")
        assert hostile_row.locator("td.sev-high").inner_text() == "2"
        assert hostile_row.locator("td.new").inner_text() == "2"
        assert page.locator("#branches tbody tr").filter(has_text="agent/a").locator("td.fixed").inner_text() == "1"

        # What changed since last night.
        assert page.locator("#branch-changes code.added").all_inner_texts() == sorted([HOSTILE_BRANCH, "agent/broken"])
        assert page.locator("#branch-changes code.gone").all_inner_texts() == ["agent/gone"]
        assert HOSTILE_MESSAGE in page.locator("#new-findings td.msg").all_inner_texts()
        assert page.locator("#fixed-findings tbody tr").count() == 1
        assert "pkg/m2.py" in page.locator("#fixed-findings").inner_text()

        # The trend: one SVG for the repository, one point per night, at the right heights.
        svg = page.locator("svg.chart")
        assert svg.count() == 1 and svg.get_attribute("data-repository") == "demo"
        assert svg.locator("circle").count() == 4
        assert svg.locator("circle").evaluate_all("els => els.map(e => e.dataset.value)") == ["1", "2", "2", "3"]
        ys = svg.locator("circle").evaluate_all("els => els.map(e => e.cy.baseVal.value)")
        assert ys[0] > ys[1] == ys[2] > ys[3]
        assert svg.locator("polyline").evaluate("e => e.points.numberOfItems") == 4
        box = svg.bounding_box()
        assert box is not None and box["width"] > 300 and box["height"] > 100  # it really rendered

        # Nothing from the branch became markup or ran.
        assert page.locator("img").count() == 0 and page.locator("script").count() == 0
        assert page.locator("td.msg b").count() == 0
        assert page.evaluate("typeof window.__pwned") == "undefined"
        shot = tmp_path / "dashboard.png"
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
    assert dialogs == []
    assert requests == [page_file.as_uri()], requests
    assert shot.stat().st_size > 10_000
