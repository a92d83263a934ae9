# Test target for filesystem.yaml (semgrep --test). Deliberately insecure code.
import logging
import os
import stat
import tempfile
from pathlib import Path


def temp_files(data: bytes):
    # ruleid: airlock.filesystem.tempfile-mktemp
    name = tempfile.mktemp(suffix=".json")
    with open(name, "wb") as fh:
        fh.write(data)
    # ok: airlock.filesystem.tempfile-mktemp
    fd, safe_name = tempfile.mkstemp(suffix=".json")
    # ok: airlock.filesystem.tempfile-mktemp
    with tempfile.NamedTemporaryFile(delete=False) as tmp:
        tmp.write(data)
    return fd, safe_name


def permissions(path: str, script: Path):
    # ruleid: airlock.filesystem.world-writable-permissions
    os.chmod(path, 0o777)
    # ruleid: airlock.filesystem.world-writable-permissions
    os.chmod(path, 0o666)
    # ruleid: airlock.filesystem.world-writable-permissions
    script.chmod(511)
    # ruleid: airlock.filesystem.world-writable-permissions
    os.chmod(path, stat.S_IRWXU | stat.S_IRWXG | stat.S_IWOTH)
    # ruleid: airlock.filesystem.world-writable-permissions
    os.umask(0)
    # ok: airlock.filesystem.world-writable-permissions
    os.chmod(path, 0o755)
    # ok: airlock.filesystem.world-writable-permissions
    os.chmod(path, 0o600)
    # ok: airlock.filesystem.world-writable-permissions
    os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
    # ok: airlock.filesystem.world-writable-permissions
    os.umask(0o077)
    # ok: airlock.filesystem.world-writable-permissions
    current = os.umask(0)
    os.umask(current)


def tmp_paths(report: str):
    # ruleid: airlock.filesystem.hardcoded-tmp-path
    with open("/tmp/report.txt", "w") as fh:
        fh.write(report)
    # ruleid: airlock.filesystem.hardcoded-tmp-path
    handler = logging.FileHandler("/tmp/app.log")
    # ok: airlock.filesystem.hardcoded-tmp-path
    with open(os.path.join(tempfile.gettempdir(), "x"), "w") as fh:
        fh.write(report)
    # ok: airlock.filesystem.hardcoded-tmp-path
    with open("/etc/app/tmp/settings.ini") as fh:
        settings = fh.read()
    return handler, settings
