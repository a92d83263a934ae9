import json
from dataclasses import replace

import pytest

from airlock.pipeline import baseline
from airlock.pipeline.errors import UsageError
from airlock.pipeline.fingerprint import assign
from tests.factories import finding


def test_round_trip_marks_known_findings_not_new() -> None:
    old = assign([finding()])
    doc = baseline.render(old, "2025-01-01T00:00:00+00:00")
    data = json.loads(doc)
    assert data["findings"] == [{"fingerprint": old[0].fingerprint, "rule_id": "B602", "path": "app.py"}]
    b = baseline.parse(doc.encode())
    # Ten lines inserted above: the line moves, the fingerprint does not.
    moved = assign([finding(start_line=13, end_line=13), finding(rule_id="B307", snippet="eval(x)", cwe=())])
    out = baseline.apply(moved, b)
    assert [(f.rule_id, f.new) for f in sorted(out, key=lambda f: f.rule_id)] == [("B307", True), ("B602", False)]


def test_rename_seen_by_git_still_matches() -> None:
    b = baseline.parse(baseline.render(assign([finding(path="old/app.py")]), "t").encode())
    head = assign([finding(path="new/app.py")])
    renamed = baseline.renamed_fingerprints(head, {"new/app.py": "old/app.py"})
    assert baseline.apply(head, b)[0].new is True
    assert baseline.apply(head, b, renamed)[0].new is False


def test_merged_finding_matches_through_any_source() -> None:
    from airlock.pipeline.merge import dedup

    a, s = assign([finding(), finding(tool="semgrep", rule_id="x.shell", severity=finding().severity)])
    b = baseline.parse(baseline.render([s], "t").encode())
    merged = dedup([replace(a), s])
    assert len(merged) == 1 and baseline.apply(merged, b)[0].new is False


@pytest.mark.parametrize("raw", [b"{", b"[]", b'{"version": 1, "findings": [{"rule_id": "x"}]}', b'{"version": 9}'])
def test_damaged_baseline_is_a_usage_error(raw: bytes) -> None:
    with pytest.raises(UsageError):
        baseline.parse(raw)
