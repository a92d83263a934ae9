"""Writer behaviour beyond the golden files: escaping, caps, splitting, hostile input (hypothesis)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import replace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airlock.pipeline.fingerprint import assign
from airlock.pipeline.models import Finding, Severity
from airlock.reports.github import GithubWriter, escape_data, escape_property
from airlock.reports.markdown import MarkdownWriter, md_text
from airlock.reports.registry import FORMATS, writer_for
from airlock.reports.sarif import SarifWriter, sarif_dict, split_sarif
from tests.report_fixture import sample_report


def test_markdown_escaping_cannot_break_tables_links_or_mention() -> None:
    out = md_text("a | b [x](https://evil.example) @admin #12 <b>`code`</b> www.evil.example\nnext")
    assert "|" not in out.replace("\\|", "")
    assert "](" not in out and "\n" not in out and "<b>" not in out
    assert "@admin" not in out and "#12" not in out and "https://" not in out and "www.evil" not in out


def test_markdown_is_capped_with_a_more_line() -> None:
    many = assign(
        Finding("sast", "bandit", "B602", "x" * 400, Severity.HIGH, f"src/f{i}.py", i + 1, i + 1) for i in range(2000)
    )
    report = sample_report(list(many))
    text = MarkdownWriter(top_n=5000).render(report)
    assert len(text) <= 60_000
    shown = text.count("| high | B602 |")
    assert 0 < shown < 2000
    assert f"_{2000 - shown} more in the full report._" in text


def test_github_escaping() -> None:
    # A lone CR is a control character: shown as \x0d by the shared policy (reports/escape.py), never sent.
    assert escape_data("a%b\r\nc") == "a%25b\\x0d%0Ac"
    assert escape_property("x,y:z\n") == "x%2Cy%3Az%0A"
    text = GithubWriter().render(sample_report())
    assert all(line.startswith("::") for line in text.splitlines())


def test_sarif_split_respects_result_and_size_limits(sarif_validator) -> None:  # type: ignore[no-untyped-def]
    many = assign(
        Finding("sast", "bandit", "B602", f"m{i}", Severity.HIGH, f"f{i}.py", 1, 1) for i in range(25)
    )
    doc = sarif_dict(sample_report(list(many)))
    parts = split_sarif(doc, max_results=10)
    assert len(parts) == 1  # three runs of 10, 10, 5 fit one file
    assert [len(r["results"]) for r in parts[0]["runs"] if r["tool"]["driver"]["name"] == "bandit"] == [10, 10, 5]
    ids = [r["automationDetails"]["id"] for r in parts[0]["runs"]]
    assert len(ids) == len(set(ids))
    tiny = split_sarif(doc, max_results=10, max_gzip_bytes=1500)
    assert len(tiny) > 1
    assert sum(len(r["results"]) for p in tiny for r in p["runs"]) == sum(len(r["results"]) for r in doc["runs"])
    for p in tiny:
        sarif_validator.validate(p)
    assert len(SarifWriter().render_files(sample_report(list(many)), max_results=10, max_runs=1)) >= 3


def test_split_sarif_is_written_as_parts_and_every_report_says_so(tmp_path, sarif_validator) -> None:  # type: ignore[no-untyped-def]
    from airlock.pipeline.cli import _emit, build_parser

    many = assign(Finding("sast", "bandit", "B602", f"m{i}", Severity.HIGH, f"f{i}.py", 1, 1) for i in range(30))
    args = build_parser().parse_args(
        ["scan", "--output", str(tmp_path / "r.txt"), "--sarif-output", str(tmp_path / "r.sarif"),
         "--html-output", str(tmp_path / "r.html"), "--markdown-output", str(tmp_path / "r.md")]
    )
    _emit(args, sample_report(list(many)), {"max_results": 10, "max_runs": 2})
    parts = sorted(p.name for p in tmp_path.glob("r*.sarif"))
    assert parts[0] == "r.part2.sarif" and "r.sarif" in parts and len(parts) >= 3
    for p in tmp_path.glob("r*.sarif"):
        sarif_validator.validate(json.loads(p.read_text()))
    note = f"SARIF exceeded GitHub's upload limits and was split into {len(parts)} files"
    assert note in (tmp_path / "r.txt").read_text()
    assert note.replace("'", "&#39;") in (tmp_path / "r.html").read_text()
    assert "split into" in (tmp_path / "r.md").read_text()


text_st = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=80)
path_st = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=40)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(message=text_st, path=path_st, snippet=text_st, rule=text_st)
def test_no_format_breaks_on_arbitrary_text(message: str, path: str, snippet: str, rule: str) -> None:
    base = sample_report()
    hostile = assign([Finding("sast", "semgrep", rule or "r", message, Severity.HIGH, path, 3, 4, snippet=snippet,
                              cwe=("CWE-78",), evidence=(f"process: {message}", f"blocked: {snippet}"))])
    report = replace(base, findings=(*base.findings, *hostile))
    for fmt in FORMATS:
        out = writer_for(fmt).render(report)
        assert isinstance(out, str) and out
    json.loads(writer_for("json").render(report))
    doc = json.loads(writer_for("sarif").render(report))
    assert any(r["message"]["text"] == (message or r["ruleId"]) for run in doc["runs"] for r in run["results"])
    ET.fromstring(writer_for("junit").render(report).encode("utf-8"))
    for line in writer_for("github").render(report).splitlines():
        assert line.startswith("::")
    md = writer_for("markdown").render(report)
    for row in (line for line in md.splitlines() if line.startswith("| ")):
        assert row.replace("\\|", "").count("|") in (5, 6)  # every row keeps its columns
    html = writer_for("html").render(report)
    assert "<script>" not in html.replace("<script>(function", "")
    assert html.count("<script") == 1
