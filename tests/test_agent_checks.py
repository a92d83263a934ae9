from pathlib import Path

from airlock.pipeline.agent_checks import POLICY_CHANGE, policy_change_findings
from airlock.pipeline.models import ChangedFile, FileStatus
from tests.factories import change, modified


def reader(files: dict[str, bytes]):  # type: ignore[no-untyped-def]
    return lambda rel: files.get(rel)


def test_edits_to_guarded_files_are_findings(tmp_path: Path) -> None:
    files = (
        modified("airlock.toml", (2, 2)),
        ChangedFile(".airlock-waivers.toml", FileStatus.ADDED, None, ((1, 6),)),
        ChangedFile(".airlock-baseline.json", FileStatus.DELETED),
        modified("app.py", (1, 1)),
    )
    out = policy_change_findings(change(tmp_path, files), reader({}), reader({}))
    assert sorted((f.rule_id, f.path, f.severity.label) for f in out) == [
        (POLICY_CHANGE, ".airlock-baseline.json", "high"),
        (POLICY_CHANGE, ".airlock-waivers.toml", "high"),
        (POLICY_CHANGE, "airlock.toml", "high"),
    ]
    assert all(f.fingerprint for f in out)


def test_pyproject_counts_only_when_tool_airlock_changes(tmp_path: Path) -> None:
    base = b'[project]\nname="x"\n[tool.airlock.gate]\nfail_on="high"\n'
    same = b'[project]\nname="y"\n[tool.airlock.gate]\nfail_on="high"\n'
    looser = b'[project]\nname="x"\n[tool.airlock.gate]\nfail_on="critical"\n'
    ch = change(tmp_path, (modified("pyproject.toml", (2, 2)),))
    assert policy_change_findings(ch, reader({"pyproject.toml": base}), reader({"pyproject.toml": same})) == []
    out = policy_change_findings(ch, reader({"pyproject.toml": base}), reader({"pyproject.toml": looser}))
    assert [f.rule_id for f in out] == [POLICY_CHANGE] and "[tool.airlock]" in out[0].message


def test_full_mode_has_no_change_to_judge(tmp_path: Path) -> None:
    assert policy_change_findings(change(tmp_path, (modified("airlock.toml"),), mode="full"), reader({}),
                                  reader({})) == []
