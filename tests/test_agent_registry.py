"""Online dependency checks against a small fake registry on loopback that this test suite starts."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from airlock.pipeline.models import ChangedFile, FileStatus
from airlock.pipeline.policy import AgentPolicy
from airlock.scanners.agent import dependencies
from tests.conftest import git, make_repo, scan_json
from tests.test_agent_units import _view

NOW = dt.datetime.now(dt.timezone.utc)
OLD = (NOW - dt.timedelta(days=3000)).isoformat()
FRESH = (NOW - dt.timedelta(days=3)).isoformat()

DOCS = {
    "/pypi/requests/json": {"releases": {"0.1": [{"upload_time_iso_8601": OLD}], "2.31.0": [
        {"upload_time_iso_8601": FRESH}]}},
    "/pypi/fresh-thing/json": {"releases": {"0.0.1": [{"upload_time_iso_8601": FRESH}]}},
    "/npm/left-pad": {"time": {"created": OLD}, "dist-tags": {"latest": "1.3.0"},
                      "versions": {"1.3.0": {"scripts": {"postinstall": "node steal.js", "test": "tap"}}}},
    "/npm/@scope%2Fquiet": {"time": {"created": OLD}, "dist-tags": {"latest": "2.0.0"},
                            "versions": {"2.0.0": {"scripts": {"test": "tap"}}}},
}
# A Go module proxy (GOPROXY protocol): @v/list is plain text, a version's .info is JSON; unknown is 410 Gone.
GO = {
    "/go/github.com/old/mod/@v/list": "v1.2.0\nv1.10.0\nv1.0.0-rc.1\nv1.0.0\n",
    "/go/github.com/old/mod/@v/v1.0.0-rc.1.info": {"Version": "v1.0.0-rc.1", "Time": OLD},
    "/go/github.com/!fresh/!mod/@v/list": "v0.1.0\n",
    "/go/github.com/!fresh/!mod/@v/v0.1.0.info": {"Version": "v0.1.0", "Time": FRESH},
    "/go/github.com/pseudo/only/@v/list": "",
    "/go/github.com/pseudo/only/@latest": {"Version": "v0.0.0-20260101000000-abcdefabcdef", "Time": OLD},
}


class _Handler(BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        _Handler.hits.append(self.path)
        doc = DOCS.get(self.path, GO.get(self.path))
        if isinstance(doc, str):
            body = doc.encode()
        else:
            body = json.dumps(doc).encode() if doc is not None else b'{"message": "Not Found"}'
        self.send_response(200 if doc is not None else 410 if self.path.startswith("/go/") else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def registry() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Handler.hits.clear()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


REQS = "requests==2.31.0\nfresh-thing==0.0.1\nno-such-package-xyz==1.0\n"
PKG = '{"dependencies": {\n"left-pad": "^1.3.0",\n"@scope/quiet": "^2.0.0"\n}}\n'


def _policy(url: str, tmp: Path, online: bool = True) -> AgentPolicy:
    return AgentPolicy(online=online, min_package_age_days=30, pypi_url=f"{url}/pypi", npm_url=f"{url}/npm",
                       go_url=f"{url}/go", cache_dir=str(tmp / "cache"))


def test_go_modules_through_a_module_proxy(registry: str, tmp_path: Path) -> None:
    """Exists (its lowest version, a pre-release, is old), too young (a capitalised path, escaped as the
    protocol says), missing (410 Gone), and only pseudo-versions (@latest's time)."""
    mod = ("module example.com/me\n\ngo 1.22\n\nrequire (\n\tgithub.com/old/mod v1.2.0\n"
           "\tgithub.com/Fresh/Mod v0.1.0\n\tgithub.com/no/such v1.0.0\n"
           "\tgithub.com/pseudo/only v0.0.0-20260101000000-abcdefabcdef\n)\n")
    v = _view(tmp_path, {}, {"go.mod": mod}, ChangedFile("go.mod", FileStatus.ADDED))
    got = sorted((f.rule_id, f.start_line) for f in dependencies.check(v, _policy(registry, tmp_path)))
    assert got == [("agent.dependency-missing", 8), ("agent.dependency-young", 7)], got
    assert "/go/github.com/old/mod/@v/v1.0.0-rc.1.info" in _Handler.hits  # the lowest version, not the first
    assert "/go/github.com/pseudo/only/@latest" in _Handler.hits


def test_exists_missing_young_and_install_scripts(registry: str, tmp_path: Path) -> None:
    v = _view(tmp_path, {}, {"requirements.txt": REQS, "package.json": PKG},
              ChangedFile("requirements.txt", FileStatus.ADDED), ChangedFile("package.json", FileStatus.ADDED))
    got = sorted((f.rule_id, f.path, f.start_line) for f in dependencies.check(v, _policy(registry, tmp_path)))
    assert got == [
        ("agent.dependency-install-script", "package.json", 2),
        ("agent.dependency-missing", "requirements.txt", 3),
        ("agent.dependency-young", "requirements.txt", 2),
    ]
    assert "/npm/@scope%2Fquiet" in _Handler.hits
    # Cached on disk: the same lookups again make no request.
    before = len(_Handler.hits)
    assert len(dependencies.check(v, _policy(registry, tmp_path))) == 3
    assert len(_Handler.hits) == before


def test_offline_makes_no_request_and_says_unverified(registry: str, tmp_path: Path) -> None:
    v = _view(tmp_path, {}, {"requirements.txt": REQS}, ChangedFile("requirements.txt", FileStatus.ADDED))
    out = dependencies.check(v, _policy(registry, tmp_path, online=False))
    assert {(f.rule_id, f.severity.label) for f in out} == {("agent.dependency-unverified", "info")}
    assert len(out) == 3 and _Handler.hits == []


def test_unreachable_registry_is_unverified_not_a_pass(tmp_path: Path) -> None:
    v = _view(tmp_path, {}, {"requirements.txt": "fresh-thing==1\n"}, ChangedFile("requirements.txt", FileStatus.ADDED))
    (f,) = dependencies.check(v, _policy("http://127.0.0.1:9", tmp_path))
    assert f.rule_id == "agent.dependency-unverified" and "registry answered nothing" in f.message


def test_cli_online_flag_with_trusted_registry_config(registry: str, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"README.md": "x\n"})
    git(repo, "checkout", "-q", "-b", "agent")
    (repo / "requirements.txt").write_text("no-such-package-xyz==1.0\n")
    git(repo, "add", "requirements.txt")
    git(repo, "commit", "-q", "-m", "dep")
    cfg = tmp_path / "airlock.toml"
    # trivy-deps off: this test is about the registry, and without a vulnerability DB it would give no verdict.
    cfg.write_text('stages = ["agent"]\n[tools.trivy-deps]\nenabled = false\n'
                   f'[agent]\npypi_url = "{registry}/pypi"\nnpm_url = "{registry}/npm"\n'
                   f'cache_dir = "{tmp_path / "cache"}"\n')
    code, report, done = scan_json(repo, "--base", "main", "--config", cfg, tmp_path=tmp_path)
    assert code == 0, done.stderr
    assert [f["rule_id"] for f in report["findings"]] == ["agent.dependency-unverified"] and _Handler.hits == []
    code, report, done = scan_json(repo, "--base", "main", "--config", cfg, "--online", tmp_path=tmp_path)
    assert code == 1, done.stderr
    assert [(f["rule_id"], f["path"], f["start_line"]) for f in report["findings"]] == [
        ("agent.dependency-missing", "requirements.txt", 1)
    ]
    code, _report, done = scan_json(repo, "--base", "main", "--online", "--offline", tmp_path=tmp_path)
    assert code == 2 and "--online and --offline" in done.stderr
