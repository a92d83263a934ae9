from airlock.pipeline.gate import evaluate
from airlock.pipeline.models import Severity, Suppression, ToolRun, ToolStatus
from airlock.pipeline.policy import GatePolicy
from tests.factories import finding, fp

RUNS = {"sast": [ToolRun("bandit", ToolStatus.OK, "1", 0.1, "", (), 1)], "runtime": []}


def test_per_stage_threshold() -> None:
    gate = GatePolicy(fail_on=Severity.HIGH, stage_fail_on={"runtime": Severity.MEDIUM})
    medium_sast = fp(finding(severity=Severity.MEDIUM))
    assert evaluate(gate, medium_sast, RUNS).verdict == "passed"
    medium_runtime = fp(finding(stage="runtime", tool="sandbox", rule_id="runtime.net.egress",
                                severity=Severity.MEDIUM))
    result = evaluate(gate, medium_runtime, RUNS)
    assert result.verdict == "failed" and result.reasons == ("1 new medium finding in runtime",)
    assert result.gating == frozenset({medium_runtime[0].fingerprint})


def test_max_new_tolerates_that_many() -> None:
    two = fp(finding(), finding(rule_id="B605"))
    assert evaluate(GatePolicy(max_new=2), two, RUNS).verdict == "passed"
    assert evaluate(GatePolicy(max_new=1), two, RUNS).verdict == "failed"


def test_baselined_and_waived_do_not_gate() -> None:
    findings = fp(finding(new=False), finding(rule_id="B605", suppression=Suppression("waiver", "ok")))
    assert evaluate(GatePolicy(), findings, RUNS).verdict == "passed"
