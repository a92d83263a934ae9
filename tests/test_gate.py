from airlock.pipeline.gate import evaluate
from airlock.pipeline.models import Finding, Severity, Suppression, ToolRun, ToolStatus
from airlock.pipeline.policy import GatePolicy

OK = {"sast": [ToolRun("semgrep", ToolStatus.OK, "1", 1.0, "", (), 0)]}


def _f(sev: Severity, stage: str = "sast", new: bool = True, suppressed: bool = False) -> Finding:
    return Finding(
        stage,
        "t",
        "r",
        "m",
        sev,
        "a.py",
        1,
        1,
        new=new,
        suppression=Suppression("inline", "why") if suppressed else None,
    )


def test_new_finding_at_threshold_fails() -> None:
    g = evaluate(GatePolicy(), [_f(Severity.HIGH), _f(Severity.HIGH), _f(Severity.MEDIUM)], OK)
    assert g.verdict == "failed" and g.exit_code == 1
    assert g.reasons == ("2 new high findings in sast",)


def test_below_threshold_old_and_suppressed_findings_pass() -> None:
    g = evaluate(
        GatePolicy(), [_f(Severity.MEDIUM), _f(Severity.CRITICAL, new=False), _f(Severity.HIGH, suppressed=True)], OK
    )
    assert g.verdict == "passed" and g.exit_code == 0


def test_per_stage_threshold_and_max_new() -> None:
    gate = GatePolicy(fail_on=Severity.HIGH, stage_fail_on={"runtime": Severity.MEDIUM}, max_new=1)
    runs = {**OK, "runtime": []}
    assert evaluate(gate, [_f(Severity.MEDIUM, "runtime")], runs).verdict == "passed"  # 1 tolerated
    g = evaluate(gate, [_f(Severity.MEDIUM, "runtime"), _f(Severity.MEDIUM, "runtime")], runs)
    assert g.verdict == "failed" and g.reasons == ("2 new medium findings in runtime",)
    assert evaluate(gate, [_f(Severity.MEDIUM, "sast"), _f(Severity.MEDIUM, "sast")], runs).verdict == "passed"


def test_stage_error_fails_closed_unless_warn() -> None:
    runs = {"iac": [ToolRun("checkov", ToolStatus.ERROR, "", 0.1, "checkov not found: install it", (), 0)]}
    g = evaluate(GatePolicy(), [], runs)
    assert g.verdict == "error" and g.exit_code == 2
    assert g.reasons == ("stage iac errored: checkov not found: install it",)
    w = evaluate(GatePolicy(on_error="warn"), [], runs)
    assert w.verdict == "passed" and w.warnings == ("stage iac errored: checkov not found: install it",)


def test_error_wins_over_failure() -> None:
    runs = {"sast": [ToolRun("bandit", ToolStatus.ERROR, "", 0.1, "bandit crashed", (), 0)]}
    g = evaluate(GatePolicy(), [_f(Severity.HIGH)], runs)
    assert g.verdict == "error" and len(g.reasons) == 2
