"""Unit tests of the pieces that stand between hostile input and airlock's outputs."""

from airlock.pipeline.git import _unquote
from airlock.pipeline.models import Finding, Severity
from airlock.pipeline.redact import redact
from airlock.pipeline.workspace import safe_relpath
from airlock.reports.escape import terminal


def test_git_quoted_names_are_decoded() -> None:
    assert _unquote(b'"b/we\\"ird\\tname.py"') == b'b/we"ird\tname.py'
    assert _unquote(b'"b/caf\\303\\251.py"') == "b/café.py".encode()
    assert _unquote(b"b/plain.py") == b"b/plain.py"


def test_unsafe_relative_paths_are_refused() -> None:
    for bad in ("../x", "/etc/passwd", "a/../../b", "", "a\0b"):
        assert safe_relpath(bad) is None, bad
    assert safe_relpath("a/b.py") == "a/b.py"


def test_terminal_escaping_neutralises_escape_sequences_and_bidi() -> None:
    assert terminal("a\x1b[2Jb\u202ec\nd") == "a\\x1b[2Jb\\u202ec\\nd"
    assert terminal("x\ny", keep_newlines=True) == "x\ny"


def test_credentials_are_masked_in_snippets_and_messages() -> None:
    f = Finding(
        "sast",
        "bandit",
        "B105",
        "Possible hardcoded password: 'hunter2-prod'",
        Severity.LOW,
        "a.py",
        1,
        1,
        snippet='PASSWORD = "hunter2-prod"',
        cwe=("CWE-259",),
    )
    r = redact(f)
    assert "hunter2-prod" not in r.snippet + r.message
    assert r.snippet == 'PASSWORD = "hu**********"'
    other = Finding("sast", "bandit", "B602", "shell", Severity.HIGH, "a.py", 1, 1, snippet='run("ls -la")')
    assert redact(other) is other
