from dataclasses import replace

from airlock.pipeline.merge import dedup, same_weakness
from airlock.pipeline.models import Severity, Suppression
from airlock.scanners.bandit import map_severity
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


YAML_BANDIT = dict(tool="bandit", rule_id="B506", message="Use of unsafe yaml load.", severity=Severity.MEDIUM,
                   cwe=("CWE-20",), snippet="yaml.load(text)")
YAML_SEMGREP = dict(tool="semgrep", rule_id="airlock.deserialization.yaml-load-without-safe-loader",
                    message="yaml.load without SafeLoader", severity=Severity.MEDIUM, cwe=("CWE-502",),
                    snippet="yaml.load(text)")


def test_bandit_generic_cwe_and_semgrep_specific_cwe_on_one_sink_become_one_finding() -> None:
    a, b = fp(finding(**YAML_BANDIT), finding(**YAML_SEMGREP))
    merged = dedup([a, b])
    assert len(merged) == 1
    assert [(s.tool, s.rule_id) for s in merged[0].sources] == [
        ("bandit", "B506"), ("semgrep", "airlock.deserialization.yaml-load-without-safe-loader")]
    assert set(merged[0].cwe) == {"CWE-20", "CWE-502"}


def test_taint_finding_of_a_related_cwe_raises_the_merged_severity() -> None:
    taint = dict(YAML_SEMGREP, rule_id="airlock.deserialization.request-data-to-unsafe-deserializer",
                 severity=Severity.CRITICAL)
    merged = dedup(fp(finding(**YAML_BANDIT), finding(**taint)))
    assert len(merged) == 1 and merged[0].severity is Severity.CRITICAL and merged[0].tool == "semgrep"


def test_related_cwes_merge_only_on_the_same_line() -> None:
    a = finding(**YAML_BANDIT, start_line=3, end_line=5)
    b = finding(**YAML_SEMGREP, start_line=4, end_line=4)
    assert not same_weakness(a, b)  # overlapping but not the same sink line
    assert len(dedup(fp(a, b))) == 2


def test_cwe_families_and_rule_aliases() -> None:
    eval_bandit = finding(rule_id="B307", message="Use of possibly insecure function", cwe=("CWE-78",))
    eval_semgrep = finding(tool="semgrep", rule_id="airlock.code-injection.eval-non-literal", cwe=("CWE-95",))
    assert same_weakness(eval_bandit, eval_semgrep)
    md5_bandit = finding(rule_id="B324", cwe=("CWE-327",))
    md5_semgrep = finding(tool="semgrep", rule_id="airlock.crypto.fast-hash-for-password", cwe=("CWE-328",))
    assert same_weakness(md5_bandit, md5_semgrep)
    url_bandit = finding(rule_id="B310", cwe=("CWE-22",))
    ssrf = finding(tool="semgrep", rule_id="airlock.ssrf.request-data-to-http-client", cwe=("CWE-918",))
    assert same_weakness(url_bandit, ssrf)


def test_unrelated_cwes_on_one_line_stay_apart() -> None:
    yaml_bandit = finding(**YAML_BANDIT)
    sql = finding(tool="semgrep", rule_id="airlock.sql-injection.request-data-to-sql", cwe=("CWE-89",))
    assert not same_weakness(yaml_bandit, sql)
    # B602 (a shell) and an eval rule on one line are two flaws: CWE-78 is not an alias of B602
    shell = finding()
    assert not same_weakness(shell, finding(**SEMGREP, cwe=("CWE-95",)))
    # a whole-file finding (line 0) never merges by relation
    assert not same_weakness(finding(**YAML_BANDIT, start_line=0, end_line=0), finding(**YAML_SEMGREP))


def test_taint_and_pattern_rule_of_our_pack_on_one_sink_become_one_finding() -> None:
    taint = finding(tool="semgrep", rule_id="airlock.sql-injection.request-data-to-sql", cwe=("CWE-89",),
                    severity=Severity.HIGH, message="request data reaches SQL")
    pattern = finding(tool="semgrep", rule_id="airlock.sql-injection.formatted-sql-execute", cwe=("CWE-89",),
                      severity=Severity.MEDIUM, message="formatted SQL is executed")
    merged = dedup(fp(pattern, taint))
    assert len(merged) == 1
    assert merged[0].rule_id == "airlock.sql-injection.request-data-to-sql" and merged[0].severity is Severity.HIGH
    assert {s.rule_id for s in merged[0].sources} == {taint.rule_id, pattern.rule_id}
    # another line, or another CWE, stays apart; so do other tools' own rule pairs
    assert not same_weakness(taint, finding(**{**pattern.__dict__, "start_line": 9, "end_line": 9}))
    assert not same_weakness(taint, finding(**{**pattern.__dict__, "cwe": ("CWE-79",)}))
    assert not same_weakness(finding(), finding(rule_id="B604"))


def test_bandit_source_dependent_tests_stop_at_medium_unless_a_taint_rule_confirms_the_flow() -> None:
    assert map_severity("HIGH", "HIGH", "B602") is Severity.MEDIUM  # bandit cannot see the command's source
    assert map_severity("HIGH", "HIGH", "B605") is Severity.MEDIUM
    assert map_severity("LOW", "HIGH", "B602") is Severity.LOW  # a cap, never a raise
    assert map_severity("HIGH", "HIGH", "B501") is Severity.HIGH  # verify=False needs no source
    capped = finding(severity=map_severity("HIGH", "HIGH", "B602"))
    pattern = finding(**SEMGREP)
    # a pattern rule on the same call is no evidence of a flow: the merged finding stays medium
    [alone] = dedup(fp(capped, pattern))
    assert alone.severity is Severity.MEDIUM
    taint = finding(tool="semgrep", rule_id="airlock.command-injection.request-data-to-shell",
                    message="request data reaches a shell", severity=Severity.CRITICAL)
    [confirmed] = dedup(fp(capped, pattern, taint))
    assert confirmed.severity is Severity.CRITICAL and confirmed.rule_id == taint.rule_id
    assert {s.rule_id for s in confirmed.sources} == {"B602", SEMGREP["rule_id"], taint.rule_id}
    # the taint rule on another sink line (or under an unrelated CWE) confirms nothing here
    elsewhere = replace(taint, start_line=30, end_line=30)
    assert {f.severity for f in dedup(fp(capped, elsewhere)) if f.rule_id == "B602"} == {Severity.MEDIUM}
