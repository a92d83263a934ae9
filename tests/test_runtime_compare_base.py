"""[runtime] compare_base: the head's commands also run on the base, in the real sandbox, and behaviour the base
shows too is not new. The switch itself comes from the base's policy (git objects) or --config, never the head."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import commit, git, make_repo, scan_json, write_files

CONNECT = "import socket\nfor addr in {addrs!r}:\n    try:\n        socket.create_connection(addr, timeout=2)\n" \
          "    except OSError as exc:\n        print('blocked:', exc)\n"  # fmt: skip
OLD = ("203.0.113.7", 443)
NEW = ("198.51.100.9", 8443)
POLICY = '[runtime]\ncommands = ["python3 net.py"]\ncompare_base = true\n'


@pytest.fixture(scope="module", autouse=True)
def _needs_sandbox() -> None:
    assert shutil.which("strace"), "strace is required (apt package strace; .ci/run installs it)"


def _egress(report: dict) -> dict[str, bool]:
    """Destination -> new, for each direct-connection finding."""
    out = {}
    for f in report["findings"]:
        if f["rule_id"] == "runtime.network.egress-denied":
            dest = next(d for d in (f"{OLD[0]}:{OLD[1]}", f"{NEW[0]}:{NEW[1]}") if d in f["message"])
            out[dest] = f["new"]
    return out


def _repo(tmp_path: Path, policy: str, addrs: list[tuple[str, int]]) -> Path:
    repo = make_repo(tmp_path / "repo", {"airlock.toml": policy, "net.py": CONNECT.format(addrs=addrs)})
    git(repo, "checkout", "-q", "-b", "agent")
    return repo


def test_behaviour_the_base_shows_too_is_not_new(tmp_path: Path) -> None:
    repo = _repo(tmp_path, POLICY, [OLD])
    write_files(repo, {"README.md": "a docs-only change\n"})
    commit(repo, "docs")
    code, report, done = scan_json(repo, "--base", "main", "--stages", "runtime", tmp_path=tmp_path)
    assert report, done.stderr
    assert _egress(report) == {"203.0.113.7:443": False}
    assert any("compare_base ran the same commands on the base" in n for n in report["notes"]), report["notes"]
    assert code == 0  # the project's tests touching the network do not block every change


def test_new_behaviour_of_the_head_still_gates(tmp_path: Path) -> None:
    repo = _repo(tmp_path, POLICY, [OLD])
    write_files(repo, {"net.py": CONNECT.format(addrs=[OLD, NEW])})
    commit(repo, "agent adds a connection")
    code, report, done = scan_json(repo, "--base", "main", "--stages", "runtime", tmp_path=tmp_path)
    assert report, done.stderr
    assert _egress(report) == {"203.0.113.7:443": False, "198.51.100.9:8443": True}
    assert code == 1


def test_the_head_cannot_turn_compare_base_on(tmp_path: Path) -> None:
    repo = _repo(tmp_path, '[runtime]\ncommands = ["python3 net.py"]\n', [OLD])
    write_files(repo, {"airlock.toml": POLICY, "README.md": "x\n"})
    commit(repo, "agent excuses its own behaviour")
    code, report, done = scan_json(repo, "--base", "main", "--stages", "runtime", tmp_path=tmp_path)
    assert report, done.stderr
    assert _egress(report) == {"203.0.113.7:443": True}
    assert not any("compare_base" in n for n in report["notes"])
    assert code == 1


def test_compare_base_from_trusted_config(tmp_path: Path) -> None:
    repo = _repo(tmp_path, '[runtime]\ncommands = ["python3 net.py"]\n', [OLD])
    write_files(repo, {"README.md": "x\n"})
    commit(repo, "docs")
    config = tmp_path / "trusted.toml"
    config.write_text(POLICY)
    code, report, done = scan_json(
        repo, "--base", "main", "--stages", "runtime", "--config", config, tmp_path=tmp_path
    )
    assert report, done.stderr
    assert _egress(report) == {"203.0.113.7:443": False}
    assert code == 0


def test_compare_base_without_a_base_says_everything_is_new(tmp_path: Path) -> None:
    project = tmp_path / "p"
    project.mkdir()
    (project / "airlock.toml").write_text(POLICY)
    (project / "net.py").write_text(CONNECT.format(addrs=[OLD]))
    code, report, done = scan_json(project, "--stages", "runtime", tmp_path=tmp_path)
    assert report, done.stderr
    assert _egress(report) == {"203.0.113.7:443": True}
    assert any("compare_base needs a base revision" in n for n in report["notes"]), report["notes"]
    assert code == 1
