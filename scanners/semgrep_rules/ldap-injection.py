# Test target for ldap-injection.yaml (semgrep --test). Deliberately insecure code.
import ldap
from flask import Flask, request
from ldap.filter import escape_filter_chars, filter_format
from ldap3 import Connection, Server

app = Flask(__name__)


@app.route("/user")
def user():
    uid = request.args.get("uid", "")
    conn = ldap.initialize("ldap://ldap.example.com")
    # ruleid: airlock.ldap-injection.request-data-to-ldap-filter
    found = conn.search_s("dc=example,dc=com", ldap.SCOPE_SUBTREE, f"(uid={uid})")
    # ok: airlock.ldap-injection.request-data-to-ldap-filter
    safe = conn.search_s("dc=example,dc=com", ldap.SCOPE_SUBTREE, f"(uid={escape_filter_chars(uid)})")
    # ok: airlock.ldap-injection.request-data-to-ldap-filter
    fmt = conn.search_s("dc=example,dc=com", ldap.SCOPE_SUBTREE, filter_format("(uid=%s)", [uid]))
    return str((found, safe, fmt))


@app.route("/group")
def group():
    cn = request.form["cn"]
    conn = Connection(Server("ldap://ldap.example.com"), auto_bind=True)
    # ruleid: airlock.ldap-injection.request-data-to-ldap-filter
    conn.search("dc=example,dc=com", "(&(objectClass=group)(cn=" + cn + "))")
    # ok: airlock.ldap-injection.request-data-to-ldap-filter
    conn.search("dc=example,dc=com", "(objectClass=group)", attributes=["cn"])
    return str(conn.entries)
