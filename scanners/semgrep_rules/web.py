# Test target for web.yaml (semgrep --test). Deliberately insecure code.
import os

import jinja2
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from flask import Flask, render_template_string, request
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape

app = Flask(__name__)

PROFILE_TEMPLATE = "<h1>Hello {{ name }}</h1>"


@app.route("/hello")
def hello():
    name = request.args.get("name", "world")
    # ruleid: airlock.web.template-injection
    return render_template_string(f"<h1>Hello {name}</h1>")


@app.route("/page")
def page():
    body = request.form["body"]
    template = "<html><body>" + body + "</body></html>"
    # ruleid: airlock.web.template-injection
    return render_template_string(template)


@app.route("/custom")
def custom():
    # ruleid: airlock.web.template-injection
    return jinja2.Template(request.args["tpl"]).render()


@app.route("/profile")
def profile():
    name = request.args.get("name", "")
    # ok: airlock.web.template-injection
    return render_template_string(PROFILE_TEMPLATE, name=name)


def environments(template_dir):
    # ruleid: airlock.web.jinja2-autoescape-disabled
    env = Environment(loader=FileSystemLoader(template_dir))
    # ruleid: airlock.web.jinja2-autoescape-disabled
    env2 = jinja2.Environment(loader=FileSystemLoader(template_dir), autoescape=False)
    # ok: airlock.web.jinja2-autoescape-disabled
    env3 = Environment(loader=FileSystemLoader(template_dir), autoescape=select_autoescape(["html", "xml"]))
    # ok: airlock.web.jinja2-autoescape-disabled
    env4 = jinja2.Environment(autoescape=True)
    return env, env2, env3, env4


def html_snippets(username, comment):
    # ruleid: airlock.web.mark-safe-formatted
    greeting = mark_safe(f"<b>Welcome back, {username}</b>")
    html = "<p>" + comment + "</p>"
    # ruleid: airlock.web.mark-safe-formatted
    rendered = Markup(html)
    # ok: airlock.web.mark-safe-formatted
    safe1 = format_html("<b>Welcome back, {}</b>", username)
    # ok: airlock.web.mark-safe-formatted
    safe2 = Markup("<p>{}</p>").format(comment)
    # ok: airlock.web.mark-safe-formatted
    safe3 = Markup("<p>%s</p>") % escape(comment)
    # ok: airlock.web.mark-safe-formatted
    br = mark_safe("<br>")
    # ok: airlock.web.mark-safe-formatted
    escaped = Markup(f"<b>Welcome back, {escape(username)}</b>")
    return greeting, rendered, safe1, safe2, safe3, br, escaped


if __name__ == "__main__":
    # ok: airlock.web.flask-debug-enabled
    app.run(host="127.0.0.1", debug=os.environ.get("FLASK_DEBUG") == "1")
    # ruleid: airlock.web.flask-debug-enabled
    app.run(host="0.0.0.0", port=5000, debug=True)
    # ruleid: airlock.web.flask-debug-enabled
    app.config["DEBUG"] = True
    # ok: airlock.web.flask-debug-enabled
    app.config["DEBUG"] = False
