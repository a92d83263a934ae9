from pipeline.merge import dedup, same_weakness
from pipeline.models import Severity, Suppression
from tests.factories import finding, fp

SEMGREP = dict(tool="semgrep", rule_id="airlock.python.subprocess-shell", message="shell=True runs a shell",
               severity=Severity.MEDIUM)


def test_semgrep_and_bandit_on_one_call_become_one_finding_with_both_sources() -> None:
    a, b = fp(finding(), finding(**SEMGREP))
    merged = dedup([a, b])
    assert len(merged) == 1
    m = merged[0]
    assert m.severity is Severity.HIGH and m.tool == "bandit"  # the most severe report leads
    assert [(s.tool, s.rule_id) for s in m.sources] == [("bandit", "B602"), ("semgrep", SEMGREP["rule_id"])]
    assert {s.message for s in m.sources} == {"subprocess call with shell=True", "shell=True runs a shell"}
    assert all(s.fingerprint for s in m.sources)


def test_same_line_different_cwe_stays_two() -> None:
    a, b = fp(finding(), finding(**SEMGREP, cwe=("CWE-95",)))
    assert len(dedup([a, b])) == 2


def test_same_cwe_on_distant_lines_stays_two() -> None:
    a, b = fp(finding(start_line=3, end_line=3), finding(**SEMGREP, start_line=40, end_line=40))
    assert len(dedup([a, b])) == 2


def test_other_file_or_same_tool_stays_apart() -> None:
    assert not same_weakness(finding(), finding(**SEMGREP, path="other.py"))
    assert not same_weakness(finding(), finding(rule_id="B604"))


def test_same_cve_merges_and_overlapping_ranges_merge() -> None:
    a = finding(tool="trivy", rule_id="CVE-2023-1234", cwe=(), path="requirements.txt", start_line=0, end_line=0)
    b = finding(tool="osv", rule_id="PYSEC-1 CVE-2023-1234", cwe=(), path="requirements.txt", start_line=2)
    assert same_weakness(a, b)
    c = finding(start_line=3, end_line=6)
    d = finding(**SEMGREP, start_line=5, end_line=5)
    assert len(dedup(fp(c, d))) == 1


def test_merged_stays_suppressed_only_if_every_source_was() -> None:
    sup = Suppression("inline", "nosec comment")
    a, b = fp(finding(suppression=sup), finding(**SEMGREP))
    assert dedup([a, b])[0].suppression is None
    a, b = fp(finding(suppression=sup), finding(**SEMGREP, suppression=Suppression("inline", "nosemgrep")))
    assert dedup([a, b])[0].suppression == sup


def test_merged_is_new_if_any_source_is_new() -> None:
    a, b = fp(finding(new=False), finding(**SEMGREP, new=True))
    assert dedup([a, b])[0].new is True
