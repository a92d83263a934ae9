# Test target for path-traversal.yaml (semgrep --test). Deliberately insecure code.
import os
import shutil
import tarfile
from pathlib import Path

from django.http import FileResponse, HttpResponse
from flask import Flask, abort, request, send_file, send_from_directory
from werkzeug.utils import secure_filename

app = Flask(__name__)
BASE_DIR = "/srv/app/files"
UPLOAD_DIR = Path("/srv/app/uploads")


@app.route("/download")
def download():
    name = request.args.get("file")
    # ruleid: airlock.path-traversal.request-data-to-file
    return send_file(os.path.join(BASE_DIR, name))


@app.route("/read")
def read():
    name = request.values["name"]
    # ruleid: airlock.path-traversal.request-data-to-file
    with open(BASE_DIR + "/" + name) as fh:
        return fh.read()


@app.route("/docs/<path:page>")
def docs(page):
    # ruleid: airlock.path-traversal.request-data-to-file
    return (UPLOAD_DIR / page).read_text()


@app.post("/upload")
def upload():
    f = request.files["document"]
    # ruleid: airlock.path-traversal.request-data-to-file
    f.save(os.path.join(UPLOAD_DIR, f.filename))
    # ok: airlock.path-traversal.request-data-to-file
    f.save(os.path.join(UPLOAD_DIR, secure_filename(f.filename)))
    return "ok"


@app.route("/safe")
def safe_download():
    name = request.args.get("file", "")
    # ok: airlock.path-traversal.request-data-to-file
    send_from_directory(BASE_DIR, name)
    # ok: airlock.path-traversal.request-data-to-file
    open(os.path.join(BASE_DIR, os.path.basename(name))).close()
    full = os.path.realpath(os.path.join(BASE_DIR, name))
    if not full.startswith(BASE_DIR + os.sep):
        abort(404)
    # ok: airlock.path-traversal.request-data-to-file
    return send_file(full)


@app.route("/delete", methods=["POST"])
def delete():
    target = request.form.get("path")
    if target.startswith("/"):
        abort(400)
    # ruleid: airlock.path-traversal.request-data-to-file
    os.remove(os.path.join(BASE_DIR, target))
    # ok: airlock.path-traversal.request-data-to-file
    shutil.copy(os.path.join(BASE_DIR, "template.txt"), "/tmp/out.txt")
    return "deleted"


def django_view(request):
    report = request.GET["report"]
    # ruleid: airlock.path-traversal.request-data-to-file
    return FileResponse(open(f"/var/reports/{report}.pdf", "rb"))


def django_detail(request, slug):
    # ruleid: airlock.path-traversal.request-data-to-file
    shutil.rmtree(os.path.join("/srv/cache", slug))
    return HttpResponse("ok")


def not_a_view(config):
    # ok: airlock.path-traversal.request-data-to-file
    with open(config["log_path"]) as fh:
        return fh.read()


def tar_cases(archive_path, dest):
    with tarfile.open(archive_path) as tar:
        # ruleid: airlock.path-traversal.tarfile-extractall
        tar.extractall(dest)
    tf = tarfile.open(archive_path, "r:gz")
    # ruleid: airlock.path-traversal.tarfile-extractall
    tf.extractall(path=dest, filter="fully_trusted")
    with tarfile.open(archive_path) as tar:
        # ok: airlock.path-traversal.tarfile-extractall
        tar.extractall(dest, filter="data")
    with tarfile.open(archive_path) as tar:
        for member in tar.getmembers():
            # ok: airlock.path-traversal.tarfile-extractall
            tar.extract(member, dest, filter=tarfile.data_filter)
