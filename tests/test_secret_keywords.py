"""Hard-coded passwords and keys beyond token formats: airlock's own trivy rules, parity with checkov."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import FIXTURES, scan_json, write_files

from airlock.scanners.checkov import checkov_env
from airlock.scanners.trivy_secret_rules import high_entropy, looks_like_key

PASSWORD = "changeme123"
KEY = "Zk3lQp9Xw2vB7nT4"
ENTROPY = "Q2hhbmdlTWVQbGVhc2UxMjM0NTY3ODkwQUJDREVGRw"
AGENT_FILES = {
    "main.tf": f'resource "aws_db_instance" "db" {{\n  engine   = "postgres"\n  username = "admin"\n'
               f'  password = "{PASSWORD}"\n}}\n',
    "values.yaml": f'db:\n  user: app\n  password: "{PASSWORD}"\n  api_key: {KEY}\n',
    ".env": f"DB_PASSWORD={PASSWORD}\nDEBUG=true\n",
    "web/app.js": f'const config = {{ password: "{PASSWORD}", apiKey: "{KEY}" }};\n',
    "config.json": f'{{"name": "svc", "signature": "{ENTROPY}"}}\n',
}
BENIGN_FILES = {
    "infra.tf": 'resource "x" "y" {\n  password = var.db_password\n  secret_name = "my-app-db-credentials"\n'
                '  token_url = "https://auth.example.com/oauth/token"\n'
                '  source_hash = "9f8e7d6c5b4a39281706f5e4d3c2b1a0"\n}\n',
    "deploy.yaml": "env:\n  password: ${DB_PASSWORD}\n  secretName: db-credentials\n  token: '{{ .Values.token }}'\n",
    "package.json": '{"integrity": "sha512-AbCdEfGh0123456789AbCdEfGh0123456789"}\n',
    "i18n/en.json": '{"password": "Password:", "new_password": "New password"}\n',
    "forms.js": 'const PASSWORD_FIELD = "password";\n',
}


def _secrets(report: dict) -> set[tuple[str, str, int]]:
    return {(f["rule_id"], f["path"], f["start_line"]) for f in report["findings"] if f["tool"] == "trivy-secret"}


def test_passwords_and_keys_in_config_iac_env_and_js(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    write_files(tree, AGENT_FILES)
    # iac too: checkov's snippet of the RDS resource quotes the password line, and must mask it as well.
    code, report, done = scan_json(tree, "--stages", "sast,iac", tmp_path=tmp_path)
    assert code == 1, done.stderr
    assert any(f["tool"] == "checkov" and f["path"] == "main.tf" for f in report["findings"])
    assert _secrets(report) == {
        ("airlock.secrets.hardcoded-password", "main.tf", 4),
        ("airlock.secrets.hardcoded-password", "values.yaml", 3),
        ("airlock.secrets.hardcoded-key", "values.yaml", 4),
        ("airlock.secrets.hardcoded-password", ".env", 1),
        ("airlock.secrets.hardcoded-password", "web/app.js", 1),
        ("airlock.secrets.hardcoded-key", "web/app.js", 1),
        ("airlock.secrets.high-entropy-string", "config.json", 1),
    }
    assert all(f["severity"] == "high" for f in report["findings"] if f["tool"] == "trivy-secret")
    texts = [json.dumps(report), done.stdout, done.stderr]
    for value in (PASSWORD, KEY, ENTROPY):
        assert not any(value in t for t in texts), value


def test_names_references_urls_and_digests_are_not_secrets(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    write_files(tree, BENIGN_FILES)
    code, report, done = scan_json(tree, "--stages", "sast", tmp_path=tmp_path)
    assert code == 0, done.stderr
    assert _secrets(report) == set()


def test_parity_with_checkovs_secrets_framework(tmp_path: Path) -> None:
    """Every line checkov's own secrets framework flags in the IaC files, airlock flags too."""
    tree = tmp_path / "tree"
    write_files(tree, FIXTURES / "iac")
    write_files(tree, {k: v for k, v in AGENT_FILES.items() if k.endswith((".tf", ".yaml"))})
    files = sorted(p.relative_to(tree).as_posix() for p in tree.rglob("*") if p.is_file())
    home = tmp_path / "home"
    home.mkdir()
    argv = [str(Path(sys.executable).parent / "checkov"), "-o", "json", "--compact", "--skip-download",
            "--framework", "secrets"] + [a for f in files for a in ("-f", str(tree / f))]  # fmt: skip
    done = subprocess.run(argv, cwd=home, env=checkov_env(home), capture_output=True, text=True, timeout=300)
    data = json.loads(done.stdout)
    checkov = {(c["file_path"].split("/tree/", 1)[-1], c["file_line_range"][0])
               for rep in (data if isinstance(data, list) else [data])
               for c in rep["results"]["failed_checks"]}  # fmt: skip
    expected = {("main.tf", 4), ("values.yaml", 3), ("values.yaml", 4), ("vulnerable/docker/Dockerfile", 2)}
    assert checkov == expected, checkov
    _, report, _ = scan_json(tree, "--stages", "sast", tmp_path=tmp_path)
    assert checkov <= {(p, line) for _, p, line in _secrets(report)}


def test_value_checks() -> None:
    assert looks_like_key(KEY) and looks_like_key("hunter2hunter2")
    assert not looks_like_key("my-app-db-credentials") and not looks_like_key("https://x.example/token")
    assert high_entropy(ENTROPY) and not high_entropy("9f8e7d6c5b4a39281706f5e4d3c2b1a0")
