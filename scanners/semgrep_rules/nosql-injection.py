# Test target for nosql-injection.yaml (semgrep --test). Deliberately insecure code.
import json

from bson import ObjectId
from flask import Flask, request
from pymongo import MongoClient

app = Flask(__name__)
db = MongoClient().app


@app.route("/login", methods=["POST"])
def login():
    body = request.get_json()
    # ruleid: airlock.nosql-injection.request-data-to-mongo-query
    user = db.users.find_one({"user": body["user"], "password": body["password"]})
    # ok: airlock.nosql-injection.request-data-to-mongo-query
    same = db.users.find_one({"user": str(body["user"]), "password": str(body["password"])})
    return str(user or same)


@app.route("/where")
def where():
    name = request.args.get("name", "")
    # ruleid: airlock.nosql-injection.request-data-to-mongo-query
    found = list(db.users.find({"$where": "this.name == '" + name + "'"}))
    # ruleid: airlock.nosql-injection.request-data-to-mongo-query
    db.users.update_one({"_id": 1}, json.loads(request.data))
    # ok: airlock.nosql-injection.request-data-to-mongo-query
    order = db.orders.find_one({"_id": ObjectId(name)})
    # ok: airlock.nosql-injection.request-data-to-mongo-query
    index = "alpha beta".find(name)
    return str((found, order, index))
