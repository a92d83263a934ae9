"""The README's demo, end to end: one agent patch through sast, iac and runtime with the real tools."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import FIXTURES, run_airlock


def test_demo_change_is_caught_by_every_stage(tmp_path: Path) -> None:
    demo = FIXTURES / "demo"
    out = tmp_path / "demo.json"
    html = tmp_path / "demo.html"
    done = run_airlock(
        "scan", demo / "project", "--patch", demo / "agent-change.patch", "--json-output", out, "--html-output", html
    )
    assert done.returncode == 1, done.stderr
    report = json.loads(out.read_text())
    assert report["policy"]["source"] == "airlock.toml"
    assert [(s["name"], s["status"]) for s in report["stages"]] == [
        ("sast", "failed"),
        ("iac", "failed"),
        ("runtime", "failed"),
    ]
    # A finding merged across tools keeps every tool's rule id among its sources.
    by_stage = {
        (f["stage"], rid) for f in report["findings"] for rid in [f["rule_id"], *(s["rule_id"] for s in f["sources"])]
    }
    assert {
        ("sast", "airlock.command-injection.subprocess-shell-true"),
        ("sast", "airlock.sql-injection.formatted-sql-execute"),
        ("sast", "github-pat"),
        ("iac", "airlock.docker.curl-pipe-shell"),
        ("runtime", "runtime.fs.canary-read"),
        ("runtime", "runtime.network.egress-denied"),
        ("runtime", "runtime.secret.exfiltration"),
    } <= by_stage
    exfil = next(f for f in report["findings"] if f["rule_id"] == "runtime.secret.exfiltration")
    assert exfil["severity"] == "critical" and exfil["evidence"]
    assert any("dashboard.example.invalid" in e for e in exfil["evidence"])
    everything = done.stdout + done.stderr + out.read_text() + html.read_text()
    assert "ghp_4f9a8c7e6d5b4a3f2e1d0c9b8a7f6e5d4c3b" not in everything
    assert "hunter2-prod-Zq81" not in everything
    assert not (demo / "project" / "Dockerfile").exists()  # the patch went to a throwaway copy
