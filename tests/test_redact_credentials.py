"""Credential shapes are masked in every finding's text, whichever tool quoted them. Pure, no tools."""

from __future__ import annotations

from airlock.pipeline.models import Finding, Severity
from airlock.pipeline.redact import mask_credentials, redact

AWS_ID = "AKIAZ7Q3N5R2X4W6Y8T1"
AWS_SECRET = "Zq8vN3xR7tL2mK9pW4sB6yH1cF5jD0gA3eU8iO2n"
GH = "ghp_R7tL2mK9pW4sB6yH1cF5jD0gA3eU8iO2nXq1"


def test_env_line_in_an_iac_snippet_is_masked() -> None:
    line = f"ENV AWS_ACCESS_KEY_ID={AWS_ID} AWS_SECRET_ACCESS_KEY={AWS_SECRET}"
    f = Finding("iac", "checkov", "CKV_DOCKER_3", "no user", Severity.HIGH, "Dockerfile", 1, 5,
                snippet=f"FROM debian:12\n{line}", evidence=(f"token {GH}",))
    out = redact(f)
    text = out.snippet + out.message + "".join(out.evidence)
    assert AWS_ID not in text and AWS_SECRET not in text and GH not in text
    assert out.snippet.startswith("FROM debian:12\nENV AWS_ACCESS_KEY_ID=AK")


def test_code_that_only_names_a_secret_is_left_alone() -> None:
    for text in ("password = get_password()", "token: ${{ secrets.DEPLOY }}", "api_key = os.environ['KEY']",
                 "x = 1", 'cidr_blocks = ["0.0.0.0/0"]'):
        assert mask_credentials(text) == text


def test_private_key_block_is_masked() -> None:
    pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA7\n-----END RSA PRIVATE KEY-----"
    assert "MIIEpAIBAAKCAQEA7" not in mask_credentials(f"key = '''{pem}'''")


def test_unchanged_finding_is_returned_as_is() -> None:
    f = Finding("sast", "bandit", "B602", "shell=True", Severity.HIGH, "a.py", 1, 1, snippet="run(x, shell=True)")
    assert redact(f) is f
