"""trivy's secret scanner in the sast stage: found, and masked in every report format."""

from __future__ import annotations

from pathlib import Path

from conftest import FIXTURES, run_airlock, write_files

AWS_SECRET = "Zq8vN3xR7tL2mK9pW4sB6yH1cF5jD0gA3eU8iO2n"
AWS_ID = "AKIAZ7Q3N5R2X4W6Y8T1"
GH_TOKEN = "ghp_R7tL2mK9pW4sB6yH1cF5jD0gA3eU8iO2nXq1"


def test_secrets_found_and_never_printed(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    write_files(tree, FIXTURES / "iac" / "vulnerable" / "docker")
    # Agents hide keys in tests too; trivy's built-in test-path allow rule is switched off.
    write_files(tree, {"tests/data/settings.env": f"GITHUB_TOKEN={GH_TOKEN}\n", "README.md": "hello\n"})
    out = {fmt: tmp_path / f"report.{fmt}" for fmt in ("json", "sarif", "text")}
    done = run_airlock("scan", tree, "--stages", "sast,iac", "--json-output", out["json"],
                       "--sarif-output", out["sarif"], "--output", out["text"])
    assert done.returncode == 1, done.stderr
    import json

    report = json.loads(out["json"].read_text())
    secrets = sorted((f["rule_id"], f["path"], f["start_line"], f["severity"])
                     for f in report["findings"] if f["tool"] == "trivy-secret")
    assert secrets == [("aws-access-key-id", "Dockerfile", 2, "critical"),
                       ("aws-secret-access-key", "Dockerfile", 2, "critical"),
                       ("github-pat", "tests/data/settings.env", 1, "critical")]
    assert all(f["cwe"] == ["CWE-798"] for f in report["findings"] if f["tool"] == "trivy-secret")
    texts = [p.read_text() for p in out.values()] + [done.stdout, done.stderr]
    for value in (AWS_SECRET, AWS_ID, GH_TOKEN):
        assert not any(value in t for t in texts), value
        assert not any(value[:12] in t for t in texts), value  # not even a long prefix
