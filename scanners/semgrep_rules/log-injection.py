# Test target for log-injection.yaml (semgrep --test). Deliberately insecure code.
import json
import logging

from flask import Flask, request

app = Flask(__name__)
logger = logging.getLogger(__name__)


@app.route("/login", methods=["POST"])
def login():
    user = request.form.get("user", "")
    # ruleid: airlock.log-injection.request-data-to-log
    logger.warning(f"login failed for {user}")
    # ruleid: airlock.log-injection.request-data-to-log
    app.logger.info("login attempt: " + user)
    # ruleid: airlock.log-injection.request-data-to-log
    logging.error("bad user %s", user)
    # ok: airlock.log-injection.request-data-to-log
    logger.info("login failed for %r", user)
    # ok: airlock.log-injection.request-data-to-log
    logger.info("login failed for " + json.dumps(user))
    # ok: airlock.log-injection.request-data-to-log
    logger.info("login failed for %s", user.replace("\n", "\\n"))
    # ok: airlock.log-injection.request-data-to-log
    logger.info("name of %d chars", len(user))
    return "denied"


@app.route("/fake-cleaning")
def fake_cleaning():
    user = request.args.get("user", "")
    # ruleid: airlock.log-injection.request-data-to-log
    logger.info("user %s", user.replace("\n", "\r\n"))
    return "ok"
