# Test target for ssrf.yaml (semgrep --test). Deliberately insecure code.
import urllib.request

import aiohttp
import httpx
import requests
import urllib3
from django.http import JsonResponse
from flask import Flask, request

app = Flask(__name__)
API_BASE = "https://api.internal.example.com"


@app.route("/fetch")
def fetch():
    url = request.args.get("url")
    # ruleid: airlock.ssrf.request-data-to-http-client
    resp = requests.get(url, timeout=5)
    return resp.text


@app.post("/webhook-test")
def webhook_test():
    target = request.json["callback"]
    # ruleid: airlock.ssrf.request-data-to-http-client
    httpx.post(target, json={"ping": True})
    # ruleid: airlock.ssrf.request-data-to-http-client
    with urllib.request.urlopen(target) as fh:
        return fh.read()


@app.route("/proxy/<host>")
def proxy(host):
    with requests.Session() as session:
        # ruleid: airlock.ssrf.request-data-to-http-client
        return session.get(f"http://{host}/status").text


@app.route("/user")
def user():
    user_id = request.args.get("id", "")
    q = request.args.get("q", "")
    # ok: airlock.ssrf.request-data-to-http-client
    r1 = requests.get(f"https://api.example.com/users/{user_id}", timeout=5)
    # ok: airlock.ssrf.request-data-to-http-client
    r2 = requests.get("https://search.example.com/api", params={"q": q}, timeout=5)
    # ok: airlock.ssrf.request-data-to-http-client
    r3 = requests.get(f"{API_BASE}/items/{user_id}", timeout=5)
    # ok: airlock.ssrf.request-data-to-http-client
    r4 = requests.get("https://api.example.com/users/" + user_id, timeout=5)
    return {"a": r1.json(), "b": r2.json(), "c": r3.json(), "d": r4.json()}


async def django_view(request):
    feed = request.GET["feed"]
    async with aiohttp.ClientSession() as client:
        # ruleid: airlock.ssrf.request-data-to-http-client
        async with client.get(feed) as resp:
            body = await resp.text()
    pool = urllib3.PoolManager()
    # ruleid: airlock.ssrf.request-data-to-http-client
    pool.request("GET", request.POST.get("image_url"))
    return JsonResponse({"body": body})


def not_a_view(config_url):
    # ok: airlock.ssrf.request-data-to-http-client
    return requests.get(config_url, timeout=5)
