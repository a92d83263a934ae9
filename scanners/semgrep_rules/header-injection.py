# Test target for header-injection.yaml (semgrep --test). Deliberately insecure code.
import re
from urllib.parse import quote

from django.http import HttpResponse
from flask import Flask, Response, make_response, request

app = Flask(__name__)


@app.route("/name")
def name_header():
    resp = make_response("ok")
    # ruleid: airlock.header-injection.request-data-to-header
    resp.headers["X-Name"] = request.args.get("name", "")
    return resp


@app.route("/download")
def download():
    filename = request.args["file"]
    # ruleid: airlock.header-injection.request-data-to-header
    return Response("data", headers={"Content-Disposition": "attachment; filename=" + filename})


def django_view(request):
    response = HttpResponse("done")
    # ruleid: airlock.header-injection.request-data-to-header
    response["X-Tracking"] = request.GET["t"]
    # ok: airlock.header-injection.request-data-to-header
    response["X-Clean"] = re.sub(r"[\r\n]", "", request.GET["t"])
    return response


@app.route("/safe")
def safe_headers():
    value = request.args.get("v", "")
    resp = make_response("ok")
    # ok: airlock.header-injection.request-data-to-header
    resp.headers["X-Value"] = value.replace("\r", "").replace("\n", "")
    # ok: airlock.header-injection.request-data-to-header
    resp.headers["X-Quoted"] = quote(value)
    # ok: airlock.header-injection.request-data-to-header
    resp.headers["X-Length"] = str(len(value))
    return resp


@app.route("/fake-cleaning")
def fake_cleaning():
    value = request.args.get("v", "")
    resp = make_response("ok")
    # ruleid: airlock.header-injection.request-data-to-header
    resp.headers["X-Value"] = value.replace("\n", "\n")
    return resp
