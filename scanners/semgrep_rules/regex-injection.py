# Test target for regex-injection.yaml (semgrep --test). Deliberately insecure code.
import re

from fastapi import FastAPI
from flask import Flask, request

app = Flask(__name__)
api = FastAPI()
USERNAME = re.compile(r"^[a-z0-9_]{3,32}$")


@app.route("/search")
def search():
    term = request.args.get("q", "")
    # ruleid: airlock.regex-injection.request-data-to-regex
    hits = [line for line in open("index.txt") if re.search(term, line)]
    # ok: airlock.regex-injection.request-data-to-regex
    literal = re.search(re.escape(term), "alpha beta")
    # ok: airlock.regex-injection.request-data-to-regex
    valid = USERNAME.fullmatch(term)
    # ok: airlock.regex-injection.request-data-to-regex
    digits = re.findall(r"\d+", term)
    return str((hits, literal, valid, digits))


@api.get("/match")
async def match(pattern: str):
    # ruleid: airlock.regex-injection.request-data-to-regex
    rx = re.compile("^" + pattern + "$")
    return {"ok": bool(rx.match("admin"))}
