# Test target for open-redirect.yaml (semgrep --test). Deliberately insecure code.
from urllib.parse import urlparse

from django.http import HttpResponseRedirect
from django.utils.http import url_has_allowed_host_and_scheme
from fastapi import Depends, FastAPI, Request
from fastapi.responses import RedirectResponse
from flask import Flask, make_response, redirect, request, url_for

app = Flask(__name__)
api = FastAPI()
ALLOWED = {"/home", "/settings"}


def get_settings():
    return Settings()


class Settings:
    login_url = "/login"


@app.route("/login")
def after_login():
    target = request.args.get("next", "/")
    # ruleid: airlock.open-redirect.request-data-to-redirect
    return redirect(target)


@app.route("/go")
def go_header():
    resp = make_response("", 302)
    # ruleid: airlock.open-redirect.request-data-to-redirect
    resp.headers["Location"] = request.form["to"]
    return resp


def django_view(request):
    nxt = request.GET.get("next", "/")
    if url_has_allowed_host_and_scheme(nxt, allowed_hosts={request.get_host()}):
        # ok: airlock.open-redirect.request-data-to-redirect
        return HttpResponseRedirect(nxt)
    # ruleid: airlock.open-redirect.request-data-to-redirect
    return HttpResponseRedirect("https://" + nxt)


@api.get("/out")
async def out(url: str):
    # ruleid: airlock.open-redirect.request-data-to-redirect
    return RedirectResponse(url)


@app.route("/safe")
def safe_forms():
    name = request.args.get("name", "")
    # ok: airlock.open-redirect.request-data-to-redirect
    first = redirect(url_for("profile", name=name))
    # ok: airlock.open-redirect.request-data-to-redirect
    second = redirect("/search?q=" + name)
    parsed = urlparse(name)
    if parsed.netloc or parsed.scheme:
        return redirect("/")
    # ok: airlock.open-redirect.request-data-to-redirect
    return first or second or redirect(name)


@api.get("/menu")
def menu(page: str):
    if page not in ALLOWED:
        page = "/home"
    # ok: airlock.open-redirect.request-data-to-redirect
    return RedirectResponse(page)


@app.route("/fixed")
def fixed():
    target = request.args.get("next", "/")
    target = "/dashboard"
    # ok: airlock.open-redirect.request-data-to-redirect
    return redirect(target)


@api.get("/login-done")
async def login_done(next_page: str, request: Request, settings: Settings = Depends(get_settings)):
    # ok: airlock.open-redirect.request-data-to-redirect
    home = RedirectResponse(request.url_for("home"))
    # ok: airlock.open-redirect.request-data-to-redirect
    login = RedirectResponse(settings.login_url)
    # ruleid: airlock.open-redirect.request-data-to-redirect
    return home or login or RedirectResponse(next_page)


@app.route("/checks-that-do-not-check")
def checks_that_do_not_check():
    nxt = request.args.get("next", "/")
    if nxt not in ALLOWED:
        print("unexpected target")
    parsed = urlparse(nxt)
    if parsed.netloc:
        print("absolute target")
    # ruleid: airlock.open-redirect.request-data-to-redirect
    return redirect(nxt)


def django_inverted(request):
    nxt = request.GET.get("next", "/")
    if not url_has_allowed_host_and_scheme(nxt, allowed_hosts={request.get_host()}):
        # ruleid: airlock.open-redirect.request-data-to-redirect
        return HttpResponseRedirect(nxt)
    return HttpResponseRedirect("/")
