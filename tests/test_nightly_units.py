"""Pure parts of the nightly: shards, the DefectDojo format, the trend chart, the union run's split, usage errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airlock.pipeline.batch import _Member, _split
from airlock.pipeline.cli import main
from airlock.pipeline.errors import UsageError
from airlock.pipeline.models import Finding, ScanResult, Severity, Suppression, ToolStatus
from airlock.pipeline.nightly import slug
from airlock.pipeline.shard import Shard, parse, resolve
from airlock.reports.defectdojo import DefectDojoWriter
from airlock.reports.trend import HEIGHT, PAD, chart
from tests.report_fixture import sample_report

# DefectDojo's Generic Findings Import (JSON), as its parser documents and enforces: these are required,
# and a finding carrying any key outside ALLOWED is rejected ("Not allowed fields are present").
REQUIRED = {"title", "severity", "description"}
ALLOWED = REQUIRED | {
    "date", "cwe", "cve", "epss_score", "epss_percentile", "cvssv3", "cvssv3_score", "cvssv4", "cvssv4_score",
    "mitigation", "impact", "steps_to_reproduce", "severity_justification", "references", "active", "verified",
    "false_p", "out_of_scope", "risk_accepted", "under_review", "is_mitigated", "thread_id", "mitigated",
    "numerical_severity", "param", "payload", "line", "file_path", "component_name", "component_version",
    "static_finding", "dynamic_finding", "scanner_confidence", "unique_id_from_tool", "vuln_id_from_tool",
    "sast_source_object", "sast_sink_object", "sast_source_line", "sast_source_file_path", "nb_occurences",
    "publish_date", "service", "planned_remediation_date", "planned_remediation_version", "effort_for_fixing",
    "tags", "kev_date", "known_exploited", "ransomware_used", "fix_available", "fix_version", "endpoints", "files",
    "vulnerability_ids", "cwes",
}
SEVERITIES = {"Critical", "High", "Medium", "Low", "Info"}


@given(st.lists(st.text(min_size=1, max_size=12), max_size=40, unique=True), st.integers(1, 7))
def test_shards_partition_the_branches(branches: list[str], n: int) -> None:
    parts = [Shard(k, n).pick(branches) for k in range(1, n + 1)]
    assert sorted(b for p in parts for b in p) == sorted(branches)
    assert all(p == Shard(k, n).pick(list(reversed(branches))) for k, p in enumerate(parts, 1))  # order-free


def test_shard_sources() -> None:
    assert resolve("2/3", {"CI_NODE_INDEX": "1", "CI_NODE_TOTAL": "9"}) == Shard(2, 3)  # --shard wins
    assert resolve(None, {"JOB_COMPLETION_INDEX": "0", "JOB_COMPLETIONS": "4"}) == Shard(1, 4)  # 0-based
    assert resolve(None, {"CI_NODE_INDEX": "4", "CI_NODE_TOTAL": "4"}) == Shard(4, 4)  # 1-based
    assert resolve(None, {}) == Shard(1, 1)
    for bad in ("0/3", "4/3", "3", "a/b", "1/0", "-1/2"):
        with pytest.raises(UsageError, match="K/N"):
            parse(bad)
    with pytest.raises(UsageError, match="CI_NODE_INDEX"):
        resolve(None, {"CI_NODE_INDEX": "", "CI_NODE_TOTAL": "3"})


def test_slugs_are_file_names_and_distinct() -> None:
    names = ["agent/a", "agent_a", "agent/../../etc", "agent/<img src=x>", "é/ü", "-x"]
    slugs = [slug(n) for n in names]
    assert len(set(slugs)) == len(names)
    assert all("/" not in s and s not in (".", "..") and not s.startswith((".", "-")) for s in slugs)


def test_defectdojo_generic_findings_import_fields() -> None:
    report = sample_report()
    doc = json.loads(DefectDojoWriter().render(report))
    assert doc["findings"], "the sample report has findings"
    assert len(doc["findings"]) == len(report.findings)
    for out, f in zip(doc["findings"], report.findings, strict=True):
        assert REQUIRED <= set(out) <= ALLOWED, set(out) - ALLOWED
        assert out["severity"] in SEVERITIES
        assert isinstance(out["title"], str) and out["title"] and isinstance(out["description"], str)
        assert out["unique_id_from_tool"] == f.fingerprint and out["vuln_id_from_tool"] == f.rule_id
        assert out.get("file_path", "") == f.path and out.get("line", 0) == max(f.start_line, 0)
        assert out["active"] is (f.suppression is None)
        if "cwe" in out:
            assert isinstance(out["cwe"], int) and f"CWE-{out['cwe']}" in f.cwe
    assert {"name", "type", "findings"} <= set(doc)


def test_defectdojo_ids_survive_a_line_move() -> None:
    f = Finding("sast", "bandit", "B602", "shell", Severity.HIGH, "a.py", 10, fingerprint="f" * 32,
                cwe=("CWE-78",), suppression=Suppression("waiver", "accepted by sec"))
    moved = Finding("sast", "bandit", "B602", "shell", Severity.HIGH, "a.py", 40, fingerprint="f" * 32,
                    cwe=("CWE-78",))
    from dataclasses import replace

    base = sample_report()
    a = json.loads(DefectDojoWriter().render(replace(base, findings=(f,))))["findings"][0]
    b = json.loads(DefectDojoWriter().render(replace(base, findings=(moved,))))["findings"][0]
    assert a["unique_id_from_tool"] == b["unique_id_from_tool"] and a["line"] != b["line"]
    assert a["cwe"] == 78 and a["active"] is False and "accepted by sec" in a["description"]


def test_trend_chart_points() -> None:
    c = chart([("n1", 0), ("n2", 5), ("n3", 10)])
    assert [p.value for p in c.points] == [0, 5, 10]
    assert c.points[0].y == HEIGHT - PAD and c.points[2].y == PAD  # 0 at the bottom, the max at the top
    assert c.points[0].x < c.points[1].x < c.points[2].x
    assert c.polyline.count(",") == 3
    assert len(chart([("only", 3)]).points) == 1 and chart([]).points == ()


def test_split_gives_each_member_its_own_files_only() -> None:
    def f(path: str) -> Finding:
        return Finding("sast", "bandit", "B602", f"in {path}", Severity.HIGH, path, 3)

    union = ScanResult("bandit", "sast", ToolStatus.OK, (
        f("slot-0000-airlock/a.py"), f("slot-0001-airlock/a.py"), f("slot-0002-airlock/b.py"), f(""),
    ), notes=("could not parse slot-0001-airlock/a.py", "general note"))
    slots = {"slot-0000-airlock/": ("a.py", "d1"), "slot-0001-airlock/": ("a.py", "d2"),
             "slot-0002-airlock/": ("b.py", "d3")}
    mine = _split(union, slots, _Member(0, 0, {"a.py": "d2", "b.py": "d3"}))
    assert [(x.path, x.message) for x in mine.findings] == [("a.py", "in a.py"), ("b.py", "in b.py"), ("", "in ")]
    assert mine.notes == ("could not parse a.py", "general note")
    other = _split(union, slots, _Member(1, 0, {"a.py": "d1"}))
    assert [x.path for x in other.findings] == ["a.py", ""] and other.notes == ("general note",)


@pytest.mark.parametrize(("argv", "needle"), [
    (["nightly", "--repo", "."], "--branches"),
    (["nightly", "--branches", "agent/*", "--shard", "5/3"], "--shard"),
    (["nightly", "--branches", "agent/*", "--stages", "sast,bogus"], "unknown stage"),
    (["nightly", "--branches", "agent/*", "--repo", "/nonexistent-dir"], "not a git repository"),
    (["nightly", "--branches", "agent/*", "--fail-on", "severe"], "--fail-on"),
    (["history"], "history needs a question"),
    (["history", "first-seen", "zz", "--history-db", "sqlite:///:memory:"], "not a fingerprint"),
])
def test_usage_errors_are_one_line_exit_2(argv: list[str], needle: str, capsys: pytest.CaptureFixture[str],
                                          tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_shipped_ci_templates_shard_the_same_way() -> None:
    import yaml

    ci = Path(__file__).resolve().parent.parent / "ci" / "nightly"
    gha = yaml.safe_load((ci / "github-actions.yml").read_text(encoding="utf-8"))
    matrix = gha["jobs"]["shard"]["strategy"]["matrix"]["shard"]
    runs = " ".join(step.get("run", "") for step in gha["jobs"]["shard"]["steps"])
    assert f"--shard ${{{{ matrix.shard }}}}/{len(matrix)}" in runs and matrix == list(range(1, len(matrix) + 1))
    assert "airlock nightly merge" in " ".join(s.get("run", "") for s in gha["jobs"]["merge"]["steps"])
    gl = yaml.safe_load((ci / "gitlab-ci.yml").read_text(encoding="utf-8"))
    assert isinstance(gl["airlock-nightly"]["parallel"], int) and "--shard" not in str(gl["airlock-nightly"])
    job, merge = yaml.safe_load_all((ci / "k8s-indexed-job.yaml").read_text(encoding="utf-8"))
    assert job["spec"]["completionMode"] == "Indexed" and job["spec"]["completions"] == job["spec"]["parallelism"]
    assert "$JOB_COMPLETION_INDEX" in str(job) and "airlock nightly merge" in str(merge)


@pytest.mark.parametrize("live", [True, False])
def test_progress_bar_on_a_terminal_lines_elsewhere(live: bool) -> None:
    import io

    from airlock.reports.nightly_progress import NightlyProgress

    stream = io.StringIO()
    with NightlyProgress(2, stream, live=live) as p:
        p.on_event("semgrep", "sast", "batch", "running")
        p.on_branch("agent/\u202eevil", "failed", 1, 2)
        p.on_event("semgrep", "sast", "batch", "ok")
        p.on_branch("agent/ok", "passed", 2, 2)
    text = stream.getvalue()
    assert "\u202e" not in text and "\\u202eevil" in text and "agent/ok" in text
    if not live:
        assert text.splitlines() == ["airlock nightly: [1/2] agent/\\u202eevil: failed",
                                     "airlock nightly: [2/2] agent/ok: passed"]


class _FakePerFile:
    """A stand-in at airlock's own Scanner boundary: one finding per target; errors on any file named poison.py."""

    name = "bandit"  # a per-file tool, so its jobs are shared
    stage = "sast"

    def __init__(self) -> None:
        self.runs: list[tuple[str, ...]] = []

    def targets(self, ctx):  # type: ignore[no-untyped-def]
        return tuple(p for p in ctx.paths if p.endswith(".py"))

    def run(self, ctx, targets):  # type: ignore[no-untyped-def]
        self.runs.append(tuple(targets))
        if any(t.endswith("poison.py") for t in targets):
            return ScanResult(self.name, self.stage, ToolStatus.ERROR, error="tool crashed")
        found = tuple(Finding("sast", "bandit", "B1", (ctx.workspace / t).read_text(), Severity.LOW, t, 1)
                      for t in targets)
        return ScanResult(self.name, self.stage, ToolStatus.OK, found)


def _plans(tmp_path: Path, trees: list[dict[str, str]], scanner: _FakePerFile):  # type: ignore[no-untyped-def]
    from airlock.pipeline.policy import ToolConfig
    from airlock.pipeline.review import Trusted
    from airlock.pipeline.runner import Job
    from airlock.pipeline.scan import Plan
    from airlock.scanners.interface import ScanContext

    plans = []
    for i, files in enumerate(trees):
        ws = tmp_path / f"ws{i}"
        for rel, text in files.items():
            (ws / rel).parent.mkdir(parents=True, exist_ok=True)
            (ws / rel).write_text(text)
        ctx = ScanContext(workspace=ws, paths=tuple(files), tool=ToolConfig())
        plans.append(Plan((Job(scanner, ctx),), tuple(files), {}, Trusted()))
    return plans


def test_shared_run_serves_each_plan_its_own_files(tmp_path: Path) -> None:
    from airlock.pipeline.batch import run_plans

    s = _FakePerFile()
    trees = [{"a.py": "same", "b.py": "one"}, {"a.py": "same", "b.py": "two"}, {"c.py": "three"}]
    results = run_plans(_plans(tmp_path, trees, s))
    assert len(s.runs) == 1 and len(s.runs[0]) == 4  # a.py once (same content), b.py twice, c.py
    got = [sorted((f.path, f.message) for f in r[0].findings) for r in results]
    assert got == [[("a.py", "same"), ("b.py", "one")], [("a.py", "same"), ("b.py", "two")], [("c.py", "three")]]


def test_a_failing_shared_run_falls_back_to_one_run_per_plan(tmp_path: Path) -> None:
    from airlock.pipeline.batch import run_plans

    s = _FakePerFile()
    trees = [{"a.py": "fine"}, {"poison.py": "boom"}, {"c.py": "also fine"}]
    results = run_plans(_plans(tmp_path, trees, s))
    assert len(s.runs) == 4  # the union, then each plan alone
    assert [r[0].status for r in results] == [ToolStatus.OK, ToolStatus.ERROR, ToolStatus.OK]
    assert [f.path for f in results[0][0].findings] == ["a.py"] and results[1][0].error == "tool crashed"
