# Test target for credentials.yaml (semgrep --test). Deliberately insecure code.
# The "secrets" below are fake values that only have the shape of real ones.
import os
import smtplib

import psycopg2
import requests
from sqlalchemy import create_engine

# ruleid: airlock.credentials.hardcoded-credential
DB_PASSWORD = "Sup3rS3cret!2024"
# ruleid: airlock.credentials.hardcoded-credential
SECRET_KEY = "django-insecure-7h#k2@x!q9v$w3m&z8r"
# ok: airlock.credentials.hardcoded-credential
PASSWORD_RESET_URL = "/accounts/password/reset/"
# ok: airlock.credentials.hardcoded-credential
API_KEY_ENV = "OPENAI_API_KEY"
# ok: airlock.credentials.hardcoded-credential
api_key = os.environ["OPENAI_API_KEY"]
# ok: airlock.credentials.hardcoded-credential
admin_password = ""
# ok: airlock.credentials.hardcoded-credential
github_token = "<your-github-token>"
# ok: airlock.credentials.hardcoded-credential
client_secret = "changeme"
# ok: airlock.credentials.hardcoded-credential
API_KEY = "OPENAI_API_KEY"
# ok: airlock.credentials.hardcoded-credential
password_prompt = "Enter password: "
# ok: airlock.credentials.hardcoded-credential
eos_token = "</s>"
# ok: airlock.credentials.hardcoded-credential
token_type = "bearer"
# ok: airlock.credentials.hardcoded-credential
ACCESS_KEY = "aws_access_key_id"
# ok: airlock.credentials.hardcoded-credential
CFN_RESOURCES_TOKEN = "resources"
# ruleid: airlock.credentials.hardcoded-credential
FLASK_SECRET_KEY = "supersecretkey"


class Settings:
    # ruleid: airlock.credentials.hardcoded-credential
    stripe_api_key: str = "rk_test_51Hfake0key0value"
    # ok: airlock.credentials.hardcoded-credential
    jwt_secret: str = os.getenv("JWT_SECRET", "")


def configure(app, config):
    # ruleid: airlock.credentials.hardcoded-credential
    app.secret_key = "f3a9c2e1b7d84a6e"
    # ruleid: airlock.credentials.hardcoded-credential
    config["SMTP_PASSWORD"] = "mailpass123"
    # ruleid: airlock.credentials.hardcoded-credential
    token = os.getenv("SERVICE_TOKEN", "svc-tok-8f2b1c")
    # ok: airlock.credentials.hardcoded-credential
    token = os.getenv("SERVICE_TOKEN")
    settings = {
        "host": "db.internal",
        # ruleid: airlock.credentials.hardcoded-credential
        "password": "pg-pass-991",
    }
    return token, settings


# ruleid: airlock.credentials.hardcoded-credential
def connect_db(host, user="app", password="hunter2!"):
    return psycopg2.connect(host=host, user=user, password=password)


def argument_cases(url, user):
    # ruleid: airlock.credentials.hardcoded-credential-argument
    conn = psycopg2.connect(host="db", user="app", password="Tr0ub4dor&3")
    # ruleid: airlock.credentials.hardcoded-credential-argument
    requests.get(url, auth=("admin", "admin123!"), timeout=5)
    server = smtplib.SMTP("smtp.example.com", 587)
    # ruleid: airlock.credentials.hardcoded-credential-argument
    server.login("alerts@example.com", "mail-pass-2024")
    # ok: airlock.credentials.hardcoded-credential-argument
    conn2 = psycopg2.connect(host="db", user="app", password=os.environ["PGPASSWORD"])
    # ok: airlock.credentials.hardcoded-credential-argument
    requests.get(url, auth=(user, os.environ["API_PASSWORD"]), timeout=5)
    # ok: airlock.credentials.hardcoded-credential-argument
    form = dict(password="", token=None)
    # ok: airlock.credentials.hardcoded-credential-argument
    server.login(user, "${SMTP_PASSWORD}")
    return conn, conn2, form


def connection_strings(pg_password):
    # ruleid: airlock.credentials.connection-string-password
    engine = create_engine("postgresql://app:s3cr3tpw@db.internal:5432/app")
    # ruleid: airlock.credentials.connection-string-password
    conn = psycopg2.connect("host=db dbname=app user=app password=pgpass42")
    # ok: airlock.credentials.connection-string-password
    engine2 = create_engine(f"postgresql://app:{pg_password}@db.internal:5432/app")
    # ok: airlock.credentials.connection-string-password
    engine3 = create_engine("postgresql://app:${DB_PASSWORD}@db/app")
    # ok: airlock.credentials.connection-string-password
    site = "https://docs.example.com:443/path"
    return engine, conn, engine2, engine3, site


# ruleid: airlock.credentials.private-key-literal
SIGNING_KEY = """-----BEGIN RSA PRIVATE KEY-----
MIIEowIBAAKCAQEAFAKEKEYfakekey0FAKEKEYfakekey0FAKEKEYfakekey0FAKEKEYfakekey0
MIIEowIBAAKCAQEAFAKEKEYfakekey0FAKEKEYfakekey0FAKEKEYfakekey0FAKEKEYfakekey0
-----END RSA PRIVATE KEY-----"""
# ok: airlock.credentials.private-key-literal
PEM_HEADER = "-----BEGIN RSA PRIVATE KEY-----"
# ok: airlock.credentials.private-key-literal
PUBLIC_KEY = """-----BEGIN PUBLIC KEY-----
MIIEowIBAAKCAQEAFAKEKEYfakekey0FAKEKEYfakekey0FAKEKEYfakekey0FAKEKEYfakekey0
-----END PUBLIC KEY-----"""

# ruleid: airlock.credentials.known-token-format
AWS_KEY_ID = "AKIAFAKE0000TEST0000"
# ruleid: airlock.credentials.known-token-format
client = requests.Session(); client.headers["Authorization"] = "token ghp_012345678901234567890123456789FAKEAB"
# ruleid: airlock.credentials.known-token-format
slack_bot = "xoxb-000000000000-0000000000000-FAKEfakeFAKEfake"
# ok: airlock.credentials.known-token-format
DOCS_EXAMPLE_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
# ok: airlock.credentials.known-token-format
PREFIX = "ghp_"
# ok: airlock.credentials.known-token-format
MODEL = "task-ask-proj-model"
