"""One escaping policy (reports/escape.py) holds in every writer, for any text from the scanned tree.

For a report whose file names, messages, snippets, evidence, tool errors and notes are arbitrary text:
- no output line starts (after blanks) with `::`, `##[` or `##vso[` unless it is airlock's own GitHub command;
- no raw C0/C1 control (other than the format's own newlines and tabs), bidi control, line separator or
  invisible character appears in text, github, markdown, junit or html output;
- JSON and SARIF stay valid, ASCII-only, and give back the exact text.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET  # noqa: S405 - parsing our own output in a test
from dataclasses import replace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airlock.pipeline.fingerprint import assign
from airlock.pipeline.models import Finding, Severity, Source, Suppression, ToolRun, ToolStatus
from airlock.reports.escape import clean
from airlock.reports.registry import FORMATS, writer_for
from tests.report_fixture import sample_report

DANGER = ["::", "::warning file=x::pwned", "::error::x", "::stop-commands::tok", "##vso[task.setvariable]",
          "##[group]", "\n", "\r", "\r\n", "\t", "\x1b[31m", "\x1b]8;;http://x\x07", "\x00", "\x7f", "\x85",
          "\x9b", "\u202e", "\u202a", "\u2066", "\u2069", "\u200e", "\u061c", "\u2028", "\u2029", "\u200b",
          "\ufeff", "\u2060", " ", ":", "#", "<", "&", "|", "%", "%0A"]  # fmt: skip
_chars = st.characters(codec="utf-8", exclude_categories=("Cs",))
hostile_text = st.lists(st.one_of(st.sampled_from(DANGER), st.text(alphabet=_chars, max_size=6)), max_size=12).map(
    "".join
)

LINE_BREAK = re.compile(r"\r\n|\r|\n")  # how CI runners split a log into lines
COMMAND = re.compile(r"^[ \t]*(::|##\[|##vso\[)")
OWN_GITHUB = re.compile(r"^::(error|warning|notice) [^\r\n]*::")
BIDI_OR_INVISIBLE = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029\u00ad\u034f\u180e"
                               "\u200b-\u200d\u2060-\u2064\ufeff]")  # fmt: skip
RAW_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _report(path: str, message: str, snippet: str, other: str):  # type: ignore[no-untyped-def]
    base = sample_report()
    hostile = assign([
        Finding("sast", "semgrep", "airlock.python.x", message, Severity.HIGH, path or "p", 3, 4,
                title=other, snippet=snippet, help_url=other,
                sources=(Source("semgrep", "airlock.python.x", message), Source("bandit", "B1", other)),
                evidence=(f"process: {message} -> {other}", f"blocked: {snippet}", other)),
        Finding("sast", "bandit", "B105", other, Severity.LOW, other or "q", 1, 1, snippet=other,
                suppression=Suppression("inline", other)),
    ])  # fmt: skip
    stages = tuple(
        replace(s, tools=(*s.tools, ToolRun("semgrep", ToolStatus.ERROR, other, 1.0, other, (other,), 0)), error=other)
        for s in base.stages
    )
    gate = replace(base.gate, gating=base.gate.gating | {f.fingerprint for f in hostile},
                   reasons=(*base.gate.reasons, other), warnings=(other,))  # fmt: skip
    return replace(base, findings=(*base.findings, *hostile), stages=stages, gate=gate, notes=(other, message),
                   target=replace(base.target, root=other or "/r"), policy_source=other)  # fmt: skip


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(path=hostile_text, message=hostile_text, snippet=hostile_text, other=hostile_text)
def test_every_writer_neutralises_untrusted_text(path: str, message: str, snippet: str, other: str) -> None:
    report = _report(path, message, snippet, other)
    for fmt in FORMATS:
        out = writer_for(fmt).render(report)
        for line in LINE_BREAK.split(out):
            if COMMAND.match(line):
                assert fmt == "github" and OWN_GITHUB.match(line), (fmt, line)
        if fmt in ("json", "sarif"):
            assert out.isascii(), fmt
            continue
        assert not RAW_CONTROL.search(out.replace("\n", "").replace("\t", "")), (fmt, out)
        bidi = BIDI_OR_INVISIBLE.search(out.replace("\u200b", "") if fmt == "markdown" else out)  # md's own ZWSP
        assert bidi is None, (fmt, bidi)
    for line in LINE_BREAK.split(writer_for("github").render(report).rstrip("\n")):
        assert OWN_GITHUB.match(line), line
    ET.fromstring(writer_for("junit").render(report).encode("utf-8"))  # noqa: S314 - our own output
    doc = json.loads(writer_for("json").render(report))
    mine = next(f for f in doc["findings"] if f["rule_id"] == "airlock.python.x")
    assert (mine["path"], mine["message"], mine["snippet"]) == (path or "p", message, snippet)
    assert mine["evidence"][2] == other
    sarif = json.loads(writer_for("sarif").render(report))
    texts = {r["message"]["text"] for run in sarif["runs"] for r in run["results"]}
    assert (message or "airlock.python.x") in texts


def test_a_file_named_like_a_workflow_command_is_not_one_in_the_text_report() -> None:
    report = _report("::warning file=x::pwned", "::error::also not", "x", "ok")
    text = writer_for("text").render(report)
    assert "\\x3a:warning file=x::pwned" in text
    assert not any(line.lstrip().startswith("::") for line in text.splitlines())


def test_github_passes_no_raw_escape_or_bidi_override() -> None:
    report = _report("a.py", "\x1b[2Jcleared \u202eevil", "x", "ok")
    out = writer_for("github").render(report)
    assert "\\x1b[2Jcleared \\u202eevil" in out
    assert "\x1b" not in out and "\u202e" not in out


def test_html_and_junit_pass_no_bidi_override() -> None:
    report = _report("a\u202e.py", "m\u2066x", "s\u202e", "o")
    for fmt in ("html", "junit"):
        out = writer_for(fmt).render(report)
        assert "\u202e" not in out and "\u2066" not in out, fmt
        assert "a\\u202e.py" in out, fmt


def test_clean_keeps_blocks_and_escapes_each_line_start() -> None:
    assert clean("ok\n  ::set-output x\n##vso[x]", keep_newlines=True) == "ok\n  \\x3a:set-output x\n\\x23#vso[x]"
    assert clean("a\nb\tc") == "a\\nb c"
    assert clean("# a comment") == "# a comment"
