"""airlock.unscanned fails the gate whatever fail_on, max_new or the baseline say; only a waiver accepts it."""

from dataclasses import replace

from airlock.pipeline.gate import evaluate
from airlock.pipeline.models import Severity, Suppression, ToolRun, ToolStatus
from airlock.pipeline.policy import GatePolicy
from airlock.scanners.tooling import unscanned

OK = {"sast": [ToolRun("bandit", ToolStatus.OK, "1", 1.0, "", (), 1)]}
MISSED = unscanned("bandit", "sast", "big.py", "it is too large")


def test_unscanned_fails_even_when_fail_on_is_critical_and_max_new_tolerates() -> None:
    g = evaluate(GatePolicy(fail_on=Severity.CRITICAL, max_new=10), [MISSED], OK)
    assert g.verdict == "failed" and g.exit_code == 1
    assert "1 file not scanned (airlock.unscanned): big.py" in g.reasons
    assert MISSED.severity is Severity.HIGH and MISSED.rule_id == "airlock.unscanned"
    assert "bandit" in MISSED.message and "big.py" in MISSED.message and "too large" in MISSED.message


def test_unscanned_fails_when_baselined_but_a_waiver_accepts_it() -> None:
    assert evaluate(GatePolicy(), [replace(MISSED, new=False)], OK).verdict == "failed"
    waived = replace(MISSED, suppression=Suppression("waiver", "vendored blob, reviewed"))
    assert evaluate(GatePolicy(), [waived], OK).verdict == "passed"
