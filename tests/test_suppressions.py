from pathlib import Path

from airlock.pipeline.models import ChangedFile, FileStatus, Suppression
from airlock.pipeline.suppressions import RULE_ID, airlock_ignore, apply
from tests.factories import change, finding, modified

LINES = {
    ("app.py", 2): "import subprocess",
    ("app.py", 3): "subprocess.call(cmd, shell=True)  # nosec",
    ("app.py", 7): "eval(x)  # airlock: ignore[B307] trusted constant",
    ("app.py", 9): "eval(x)  # airlock: ignore[B307]",
}


def read(path: str, n: int) -> str:
    return LINES.get((path, n), "")


NOSEC = Suppression("inline", "nosec comment")


def test_old_bare_comment_is_honoured_for_an_old_finding(tmp_path: Path) -> None:
    out = apply([finding(suppression=NOSEC, new=False)], change(tmp_path, (modified("app.py", (10, 12)),)), read)
    assert [f.suppression for f in out] == [NOSEC]


def test_old_bare_comment_does_not_hide_a_new_finding(tmp_path: Path) -> None:
    out = apply([finding(suppression=NOSEC)], change(tmp_path, (modified("app.py", (10, 12)),)), read)
    assert [(f.rule_id, f.suppression) for f in out] == [("B602", None)]


def test_old_comment_naming_the_rule_hides_a_new_finding_on_an_unchanged_line(tmp_path: Path) -> None:
    lines = {("app.py", 3): "subprocess.call(cmd, shell=True)  # nosec B602"}
    out = apply([finding(suppression=NOSEC)], change(tmp_path, (modified("app.py", (10, 12)),)),
                lambda p, n: lines.get((p, n), ""))
    assert [f.suppression for f in out] == [NOSEC]


def test_old_comment_naming_other_rules_does_not_suppress(tmp_path: Path) -> None:
    lines = {("app.py", 3): "subprocess.call(cmd, shell=True)  # nosec B603,B404"}
    out = apply([finding(suppression=NOSEC, new=False)], change(tmp_path, (modified("app.py", (10, 12)),)),
                lambda p, n: lines.get((p, n), ""))
    assert [f.suppression for f in out] == [None]


def test_old_comment_above_a_rewritten_line_does_not_suppress(tmp_path: Path) -> None:
    lines = {("app.py", 4): "# nosemgrep: airlock.ssrf.requests-user-url", ("app.py", 5): "requests.get(url)"}
    f = finding(tool="semgrep", rule_id="airlock.ssrf.requests-user-url", start_line=5, end_line=5,
                suppression=Suppression("inline", "nosemgrep comment"))
    out = apply([f], change(tmp_path, (modified("app.py", (5, 5)),)), lambda p, n: lines.get((p, n), ""))
    assert [x.suppression for x in out] == [None]  # the comment is old, so no agent.suppression-added either
    ignore = {("app.py", 4): "# airlock: ignore[B602] reviewed", ("app.py", 5): "subprocess.call(c, shell=True)"}
    out = apply([finding(start_line=5, end_line=5)], change(tmp_path, (modified("app.py", (5, 5)),)),
                lambda p, n: ignore.get((p, n), ""))
    assert [x.suppression for x in out] == [None]


def test_every_checkov_skip_syntax_added_by_the_change_is_reported(tmp_path: Path) -> None:
    forms = ("  # bridgecrew:skip=CKV_K8S_20: fine", "  # cortex:skip=CKV_K8S_20", "    checkov.io/skip1: CKV_K8S_20=x")
    for text in forms:
        f = finding(tool="checkov", stage="iac", rule_id="CKV_K8S_20", path="pod.yaml", start_line=1, end_line=9,
                    suppression=Suppression("checkov-skip", "fine"))
        out = apply([f], change(tmp_path, (modified("pod.yaml", (4, 4)),)),
                    lambda p, n, t=text: t if n == 4 else "")
        assert [x.rule_id for x in out] == ["CKV_K8S_20", RULE_ID], text
        assert out[0].suppression is None


def test_comment_added_by_the_change_is_not_honoured_and_is_reported(tmp_path: Path) -> None:
    out = apply([finding(suppression=NOSEC)], change(tmp_path, (modified("app.py", (3, 3)),)), read)
    assert len(out) == 2
    hidden, report = out
    assert hidden.rule_id == "B602" and hidden.suppression is None
    assert report.rule_id == RULE_ID and report.severity.label == "high" and report.stage == "agent"
    assert "B602" in report.message and report.start_line == 3


def test_checkov_skip_in_an_added_file_is_not_honoured(tmp_path: Path) -> None:
    lines = {("main.tf", 4): "  #checkov:skip=CKV_AWS_20: public on purpose"}
    f = finding(tool="checkov", stage="iac", rule_id="CKV_AWS_20", path="main.tf", start_line=1, end_line=9,
                suppression=Suppression("checkov-skip", "public on purpose"))
    ch = change(tmp_path, (ChangedFile("main.tf", FileStatus.ADDED),))
    out = apply([f], ch, lambda p, n: lines.get((p, n), ""))
    assert [x.rule_id for x in out] == ["CKV_AWS_20", RULE_ID] and out[0].suppression is None


def test_full_mode_honours_what_the_tool_would(tmp_path: Path) -> None:
    out = apply([finding(suppression=NOSEC)], change(tmp_path, (), mode="full"), read)
    assert out == [finding(suppression=NOSEC)]
    other = {("app.py", 3): "subprocess.call(cmd, shell=True)  # nosec B101"}
    out = apply([finding(suppression=NOSEC)], change(tmp_path, (), mode="full"), lambda p, n: other.get((p, n), ""))
    assert out == [finding()]


def test_airlock_ignore_needs_matching_rule_and_reason(tmp_path: Path) -> None:
    ch = change(tmp_path, (), mode="full")
    ok = apply([finding(rule_id="B307", start_line=7, end_line=7)], ch, read)[0]
    assert ok.suppression == Suppression("inline", "airlock: ignore: trusted constant")
    other_rule = apply([finding(rule_id="B602", start_line=7, end_line=7)], ch, read)[0]
    assert other_rule.suppression is None
    no_reason = apply([finding(rule_id="B307", start_line=9, end_line=9)], ch, read)[0]
    assert no_reason.suppression is None
    assert airlock_ignore("x  # airlock: ignore[a.b, B1] why not") == ({"a.b", "B1"}, "why not")
