# Test target for session.yaml (semgrep --test). Deliberately insecure code.
import secrets

from django.http import HttpResponse
from flask import Flask, make_response, request, session

app = Flask(__name__)
COOKIE = {"secure": True, "httponly": True, "samesite": "Lax"}


@app.route("/role")
def set_role():
    role = request.args.get("role", "user")
    # ok: airlock.session.request-data-in-session
    session["visits"] = session.get("visits", 0) + 1
    # ruleid: airlock.session.request-data-in-session
    session["role"] = role
    # ok: airlock.session.request-data-in-session
    session["page_size"] = int(request.args.get("size", "20"))
    return "ok"


def django_view(request):
    # ruleid: airlock.session.request-data-in-session
    request.session["cart_owner"] = request.POST["owner"]
    response = HttpResponse("ok")
    # ruleid: airlock.session.cookie-without-secure-flags
    response.set_cookie("sid", secrets.token_hex(16))
    # ruleid: airlock.session.cookie-without-secure-flags
    response.set_cookie("pref", "dark", secure=True)
    # ok: airlock.session.cookie-without-secure-flags
    response.set_cookie("sid2", secrets.token_hex(16), secure=True, httponly=True, samesite="Strict")
    return response


@app.route("/login")
def login():
    resp = make_response("welcome")
    # ok: airlock.session.cookie-without-secure-flags
    resp.set_cookie("session", secrets.token_urlsafe(), httponly=True, secure=True)
    # ok: airlock.session.cookie-without-secure-flags
    resp.set_cookie("theme", "dark", **COOKIE)
    return resp
