# Test target for deserialization.yaml (semgrep --test). Deliberately insecure code.
import base64
import json
import marshal
import pickle
import shelve

import dill
import jsonpickle
import joblib
import numpy as np
import pandas as pd
import torch
import yaml
from flask import Flask, request

app = Flask(__name__)


def pickle_cases(path, blob, obj):
    with open(path, "rb") as fh:
        # ruleid: airlock.deserialization.pickle-load
        state = pickle.load(fh)
    # ruleid: airlock.deserialization.pickle-load
    obj2 = dill.loads(blob)
    # ruleid: airlock.deserialization.pickle-load
    model = joblib.load(path)
    # ruleid: airlock.deserialization.pickle-load
    frame = pd.read_pickle(path)
    # ruleid: airlock.deserialization.pickle-load
    arr = np.load(path, allow_pickle=True)
    # ok: airlock.deserialization.pickle-load
    data = pickle.dumps(obj)
    # ok: airlock.deserialization.pickle-load
    arr2 = np.load(path)
    # ok: airlock.deserialization.pickle-load
    clone = pickle.loads(pickle.dumps(obj))
    # ok: airlock.deserialization.pickle-load
    cfg = json.loads(blob)
    return state, obj2, model, frame, arr, data, arr2, clone, cfg


def marshal_cases(blob, code):
    # ruleid: airlock.deserialization.marshal-load
    obj = marshal.loads(blob)
    # ok: airlock.deserialization.marshal-load
    raw = marshal.dumps(code)
    return obj, raw


def shelve_cases(path):
    # ruleid: airlock.deserialization.shelve-open
    with shelve.open(path) as db:
        value = db.get("k")
    # ok: airlock.deserialization.shelve-open
    with open(path) as fh:
        text = fh.read()
    return value, text


def jsonpickle_cases(payload, obj):
    # ruleid: airlock.deserialization.jsonpickle-decode
    restored = jsonpickle.decode(payload)
    # ok: airlock.deserialization.jsonpickle-decode
    encoded = jsonpickle.encode(obj)
    return restored, encoded


def yaml_cases(text, stream):
    # ruleid: airlock.deserialization.yaml-load-without-safe-loader
    a = yaml.load(text)
    # ruleid: airlock.deserialization.yaml-load-without-safe-loader
    b = yaml.load(text, Loader=yaml.Loader)
    # ruleid: airlock.deserialization.yaml-load-without-safe-loader
    c = yaml.unsafe_load(stream)
    # ruleid: airlock.deserialization.yaml-load-without-safe-loader
    docs = list(yaml.load_all(stream, yaml.UnsafeLoader))
    # ok: airlock.deserialization.yaml-load-without-safe-loader
    d = yaml.load(text, Loader=yaml.SafeLoader)
    # ok: airlock.deserialization.yaml-load-without-safe-loader
    e = yaml.safe_load(text)
    # ok: airlock.deserialization.yaml-load-without-safe-loader
    f = yaml.load(text, Loader=yaml.CSafeLoader)
    # ruleid: airlock.deserialization.yaml-full-load
    g = yaml.full_load(text)
    # ruleid: airlock.deserialization.yaml-full-load
    h = yaml.load(text, Loader=yaml.FullLoader)
    # ok: airlock.deserialization.yaml-full-load
    i = yaml.safe_load_all(stream)
    return a, b, c, docs, d, e, f, g, h, i


def torch_cases(path, model):
    # ruleid: airlock.deserialization.torch-load-unsafe
    ckpt = torch.load(path)
    # ruleid: airlock.deserialization.torch-load-unsafe
    ckpt2 = torch.load(path, map_location="cpu", weights_only=False)
    # ok: airlock.deserialization.torch-load-unsafe
    weights = torch.load(path, map_location="cpu", weights_only=True)
    # ok: airlock.deserialization.torch-load-unsafe
    torch.save(model.state_dict(), path)
    return ckpt, ckpt2, weights


@app.post("/session")
def restore_session():
    blob = base64.b64decode(request.form["state"])
    # ruleid: airlock.deserialization.request-data-to-unsafe-deserializer, airlock.deserialization.pickle-load
    state = pickle.loads(blob)
    doc = request.get_data()
    # ok: airlock.deserialization.request-data-to-unsafe-deserializer
    cfg = yaml.load(doc, Loader=yaml.SafeLoader)
    # ok: airlock.deserialization.request-data-to-unsafe-deserializer
    body = json.loads(doc)
    return {"state": str(state), "cfg": cfg, "body": body}


def django_view(request):
    # ruleid: airlock.deserialization.request-data-to-unsafe-deserializer, airlock.deserialization.yaml-load-without-safe-loader
    config = yaml.load(request.body)
    return config
