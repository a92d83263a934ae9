"""The iac stage with the real checkov: fixtures, severity mapping, skip comments, hostile config."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from conftest import FIXTURES, scan_json

from airlock.pipeline.models import Severity
from airlock.scanners.checkov import checkov_args, checkov_env, map_severity

IAC = FIXTURES / "iac"
CHECKOV = shutil.which("checkov") or str(Path(sys.executable).parent / "checkov")


def checkov_by_hand(directory: Path, tmp_path: Path) -> Counter[tuple[str, str, int, int]]:
    """checkov run by hand over the directory (-d, not airlock's -f list): the honest reference."""
    config = tmp_path / "by-hand.yaml"
    config.write_text("skip-download: true\n")
    done = subprocess.run([CHECKOV, *checkov_args(config), "-d", str(directory)], cwd=tmp_path,
                          env=checkov_env(tmp_path), capture_output=True, text=True, timeout=600)
    assert done.returncode in (0, 1), done.stderr[-2000:]
    data = json.loads(done.stdout)
    out: Counter[tuple[str, str, int, int]] = Counter()
    for rep in data if isinstance(data, list) else [data]:
        for c in (rep.get("results") or {}).get("failed_checks") or []:
            rel = Path(c["file_abs_path"]).resolve().relative_to(directory.resolve()).as_posix()
            start, end = c["file_line_range"]
            out[(c["check_id"], rel, max(start, 1) if end else start, end)] += 1
    return out


def airlock_failed(report: dict[str, Any]) -> Counter[tuple[str, str, int, int]]:
    return Counter((f["rule_id"], f["path"], f["start_line"], f["end_line"])
                   for f in report["findings"] if f["tool"] == "checkov" and not f["suppressed"])


@pytest.fixture(scope="module")
def vulnerable(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("vuln")
    tree = tmp / "tree"
    shutil.copytree(IAC / "vulnerable", tree)
    code, report, done = scan_json(tree, "--stages", "iac", tmp_path=tmp)
    assert report, done.stderr
    return tree, code, report


def test_vulnerable_fixtures_match_checkov_by_hand(vulnerable: tuple[Path, int, dict[str, Any]],
                                                   tmp_path: Path) -> None:
    tree, code, report = vulnerable
    assert code == 1
    ours = airlock_failed(report)
    assert ours == checkov_by_hand(tree, tmp_path)  # nothing lost, nothing invented in merging
    ids = {rid for rid, *_ in ours}
    # public bucket, SSH from 0.0.0.0/0, privileged pod, Dockerfile without a user, workflow injection
    assert {"CKV_AWS_20", "CKV_AWS_24", "CKV_K8S_16", "CKV_DOCKER_3", "CKV_GHA_2", "CKV2_GHA_1"} <= ids
    # airlock's own checkov checks for what checkov lacks: curl|sh, hostPath, pwn-request checkout
    own = {"airlock.docker.curl-pipe-shell", "airlock.k8s.host-path-volume", "airlock.gha.pr-target-checkout"}
    assert own <= ids
    by_id = {f["rule_id"]: f for f in report["findings"]}
    assert by_id["CKV_AWS_24"]["path"] == "terraform/main.tf" and by_id["CKV_AWS_24"]["start_line"] == 19
    assert {by_id[i]["severity"] for i in ("CKV_AWS_20", "CKV_AWS_24", "CKV_K8S_16", "CKV_GHA_2")} == {"high"}
    assert by_id["CKV_K8S_37"]["severity"] == "medium"  # unmapped -> medium
    assert {by_id[i]["severity"] for i in own} == {"high"}
    assert by_id["airlock.docker.curl-pipe-shell"]["start_line"] == 3
    assert by_id["airlock.gha.pr-target-checkout"]["start_line"] == 10
    assert by_id["CKV_DOCKER_3"]["message"].endswith("(docker/Dockerfile)")  # no temp workspace path


def test_clean_fixtures_give_zero_findings(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    shutil.copytree(IAC / "clean", tree)
    code, report, done = scan_json(tree, "--stages", "sast,iac", tmp_path=tmp_path)
    assert code == 0, done.stdout
    assert report["findings"] == []
    checkov = [t for s in report["stages"] for t in s["tools"] if t["name"] == "checkov"]
    assert checkov[0]["status"] == "ok" and checkov[0]["findings"] == 0


def test_checkov_skip_is_honoured_and_visible(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    shutil.copytree(IAC / "suppressed", tree)
    _, report, _ = scan_json(tree, "--stages", "iac", tmp_path=tmp_path)
    skipped = [f for f in report["findings"] if f["rule_id"] == "CKV_AWS_20"]
    assert len(skipped) == 1
    assert skipped[0]["suppressed"] is True
    assert skipped[0]["suppression"] == {"kind": "checkov-skip",
                                         "justification": "static website content is public by design"}


def test_hostile_config_in_the_change_cannot_silence_checkov_or_trivy(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    shutil.copytree(IAC / "vulnerable", tree)
    (tree / ".checkov.yaml").write_text("skip-check:\n  - CKV_AWS_20\n  - CKV_AWS_24\nsoft-fail: true\n")
    (tree / "terraform" / ".checkov.yaml").write_text("skip-check:\n  - CKV_AWS_20\n")
    (tree / "trivy.yaml").write_text("scan:\n  scanners: []\n")
    (tree / ".trivyignore").write_text("aws-access-key-id\naws-secret-access-key\n")
    (tree / "trivy-secret.yaml").write_text("disable-rules:\n  - aws-access-key-id\n  - aws-secret-access-key\n")
    code, report, _ = scan_json(tree, "--stages", "sast,iac", tmp_path=tmp_path)
    assert code == 1
    ids = {f["rule_id"] for f in report["findings"] if not f["suppressed"]}
    assert {"CKV_AWS_20", "CKV_AWS_24", "aws-access-key-id", "aws-secret-access-key"} <= ids


def test_severity_mapping_is_data() -> None:
    assert map_severity("CKV_AWS_20") is Severity.HIGH  # public exposure
    assert map_severity("CKV_AWS_19") is Severity.HIGH  # encryption disabled
    assert map_severity("CKV_AWS_1") is Severity.HIGH  # wildcard IAM
    assert map_severity("CKV_K8S_16") is Severity.HIGH  # privileged container
    assert map_severity("CKV_SECRET_6") is Severity.HIGH  # secrets family
    assert map_severity("CKV_DOCKER_2") is Severity.LOW
    assert map_severity("CKV_NEW_999") is Severity.MEDIUM  # unmapped falls back to medium
    assert map_severity("airlock.k8s.host-path-volume") is Severity.HIGH


def test_every_mapped_check_is_documented() -> None:
    from airlock.scanners.checkov import HIGH_CHECKS, LOW_CHECKS

    doc = (FIXTURES.parent / "docs" / "rules" / "iac.md").read_text()
    assert not [i for i in HIGH_CHECKS | LOW_CHECKS if f"`{i}`" not in doc]
    own = [p.stem for p in (FIXTURES.parent / "scanners" / "checkov_checks").glob("*.py") if p.stem != "__init__"]
    assert len(own) == 3
    import re

    ids = re.findall(r'id="(airlock\.[a-z0-9.-]+)"', "".join(
        p.read_text() for p in (FIXTURES.parent / "scanners" / "checkov_checks").glob("*.py")))
    assert len(ids) == 3 and not [i for i in ids if f"`{i}`" not in doc]


def test_diff_mode_marks_only_the_agents_iac_findings_new(tmp_path: Path) -> None:
    from conftest import commit, make_repo, write_files

    vuln = IAC / "vulnerable"
    repo = make_repo(tmp_path / "repo", {"k8s/pod.yaml": (vuln / "k8s" / "pod.yaml").read_text()})
    write_files(repo, {
        "k8s/pod.yaml": (vuln / "k8s" / "pod.yaml").read_text() + "# touched by the agent\n",
        "terraform/main.tf": (vuln / "terraform" / "main.tf").read_text(),
    })
    commit(repo, "agent change")
    code, report, done = scan_json(repo, "--base", "HEAD~1", "--stages", "iac", tmp_path=tmp_path, cwd=repo)
    assert code == 1, done.stderr
    new = {(f["path"], f["rule_id"]) for f in report["findings"] if f["new"]}
    old = {(f["path"], f["rule_id"]) for f in report["findings"] if not f["new"]}
    assert ("terraform/main.tf", "CKV_AWS_24") in new
    assert ("k8s/pod.yaml", "CKV_K8S_16") in old and not any(p == "k8s/pod.yaml" for p, _ in new)
