import datetime as dt

import pytest

from airlock.pipeline import waivers
from airlock.pipeline.errors import UsageError
from airlock.pipeline.fingerprint import assign
from tests.factories import finding

GOOD = b'''
[[waiver]]
rule = "B602"
path = "tools/*.py"
reason = "constant argv"
owner = "alice"
expires = 2030-01-31

[[waiver]]
fingerprint = "deadbeef"
reason = "old"
owner = "bob"
expires = "2020-01-01"
'''
TODAY = dt.date(2025, 6, 1)


def test_live_waiver_marks_finding_waived_with_reason() -> None:
    ws = waivers.parse(GOOD)
    out, expired = waivers.apply(assign([finding(path="tools/run.py"), finding(path="app.py")]), ws, TODAY)
    by_path = {f.path: f for f in out}
    assert by_path["tools/run.py"].suppression is not None
    assert by_path["tools/run.py"].suppression.kind == "waiver"
    assert "constant argv" in by_path["tools/run.py"].suppression.justification
    assert by_path["app.py"].suppression is None
    assert [(e.rule_id, e.severity.label) for e in expired] == [("agent.waiver-expired", "low")]
    assert "waiver #2" in expired[0].message


def test_expired_waiver_no_longer_applies() -> None:
    ws = waivers.parse(GOOD)
    out, expired = waivers.apply(assign([finding(path="tools/run.py")]), ws, dt.date(2030, 2, 1))
    assert out[0].suppression is None and len(expired) == 2
    # The expiry day itself still counts.
    out, _ = waivers.apply(assign([finding(path="tools/run.py")]), ws, dt.date(2030, 1, 31))
    assert out[0].suppression is not None


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ('[[waiver]]\nrule="B1"\nowner="a"\nexpires=2030-01-01\n', "'reason' is required"),
        ('[[waiver]]\nrule="B1"\nreason="r"\nexpires=2030-01-01\n', "'owner' is required"),
        ('[[waiver]]\nrule="B1"\nreason="r"\nowner="a"\n', "'expires' is required"),
        ('[[waiver]]\nreason="r"\nowner="a"\nexpires=2030-01-01\n', "name a 'rule'"),
        ('[[waiver]]\nrule="B1"\nreason="r"\nowner="a"\nexpires="soon"\n', "expires must be a date"),
        ('[[waiver]]\nrule="B1"\nreason="r"\nowner="a"\nexpires=2030-01-01\ncolour=1\n', "unknown key 'colour'"),
        ("waiver = 3\n", "array of tables"),
        ("[[waiver]\n", "not valid TOML"),
    ],
)
def test_bad_entries_are_one_line_usage_errors(text: str, needle: str) -> None:
    with pytest.raises(UsageError) as exc:
        waivers.parse(text.encode())
    assert needle in str(exc.value) and "\n" not in str(exc.value)
