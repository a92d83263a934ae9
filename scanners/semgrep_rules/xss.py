# Test target for xss.yaml (semgrep --test). Deliberately insecure code.
import html

from django.http import HttpResponse
from django.utils.html import format_html
from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from flask import Flask, jsonify, render_template, request
from markupsafe import escape

app = Flask(__name__)
api = FastAPI()


@app.route("/hello")
def hello():
    name = request.args.get("name", "")
    # ruleid: airlock.xss.request-data-in-html
    return f"<h1>Hello {name}</h1>"


@app.route("/comment", methods=["POST"])
def comment():
    text = request.form["text"]
    # ruleid: airlock.xss.request-data-in-html
    body = "<div class='comment'>%s</div>" % text
    # ok: airlock.xss.request-data-in-html
    safe = f"<div>{escape(text)}</div>"
    # ok: airlock.xss.request-data-in-html
    page = render_template("comment.html", text=text)
    # ok: airlock.xss.request-data-in-html
    data = jsonify({"text": text})
    return body + safe + page + str(data)


def django_view(request):
    name = request.GET.get("name", "")
    # ruleid: airlock.xss.request-data-in-html
    first = HttpResponse("<p>Welcome, {}</p>".format(name))
    # ok: airlock.xss.request-data-in-html
    second = HttpResponse(format_html("<p>Welcome, {}</p>", name))
    return first or second


@api.get("/page")
def page(title: str):
    # ruleid: airlock.xss.request-data-in-html
    unsafe = HTMLResponse(title)
    # ok: airlock.xss.request-data-in-html
    return unsafe or HTMLResponse(f"<h2>{html.escape(title)}</h2>")
