# Test target for network.yaml (semgrep --test). Deliberately insecure code.
import socket
import urllib.request

import requests
import uvicorn
from flask import Flask

app = Flask(__name__)


def servers(api):
    # ruleid: airlock.network.bind-all-interfaces
    app.run(host="0.0.0.0", port=8080)
    # ruleid: airlock.network.bind-all-interfaces
    uvicorn.run(api, host="0.0.0.0", port=8000)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # ruleid: airlock.network.bind-all-interfaces
    sock.bind(("", 9000))
    # ok: airlock.network.bind-all-interfaces
    app.run(host="127.0.0.1", port=8080)
    # ok: airlock.network.bind-all-interfaces
    sock.bind(("localhost", 9001))


def fetch(url, options):
    # ruleid: airlock.network.requests-without-timeout
    r1 = requests.get(url)
    # ruleid: airlock.network.requests-without-timeout
    r2 = requests.post(url, json={"a": 1})
    # ruleid: airlock.network.requests-without-timeout
    body = urllib.request.urlopen(url).read()
    # ok: airlock.network.requests-without-timeout
    r3 = requests.get(url, timeout=10)
    # ok: airlock.network.requests-without-timeout
    r4 = requests.request("GET", url, **options)
    # ok: airlock.network.requests-without-timeout
    body2 = urllib.request.urlopen(url, timeout=5).read()
    # ok: airlock.network.requests-without-timeout
    session = requests.Session()
    return r1, r2, body, r3, r4, body2, session


def resource_limits(container):
    requests = container.get("resources", {}).get("requests", {})
    # ok: airlock.network.requests-without-timeout
    return requests.get("cpu")
