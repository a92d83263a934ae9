"""Registry lookups of added dependencies (only with `[agent] online = true` or `--online`), cached on disk.

PyPI's JSON API (`<pypi_url>/<name>/json`), npm's registry document (`<npm_url>/<name>`) and a Go module
proxy (`<go_url>/<module>/@v/list`, then the lowest version's `.info`) say whether a package exists, when it
was first published and (npm) whether its latest version runs install scripts.
Answers are bounded in size and time; a failed lookup is a note and an `unverified` info finding, never a pass.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MAX_BODY = 16 * 1024 * 1024  # a big npm document (all versions) stays below this
TIMEOUT_S = 10.0
CACHE_TTL_S = 24 * 3600
INSTALL_SCRIPTS = ("preinstall", "install", "postinstall")


@dataclass(frozen=True)
class Info:
    exists: bool
    first_release: dt.datetime | None = None
    install_scripts: tuple[str, ...] = ()
    error: str = ""  # the lookup failed: nothing is known


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "airlock" / "registry"


class Registry:
    def __init__(self, pypi_url: str, npm_url: str, cache_dir: Path | None,
                 go_url: str = "https://proxy.golang.org") -> None:  # fmt: skip
        self.urls = {"pypi": pypi_url.rstrip("/"), "npm": npm_url.rstrip("/"), "go": go_url.rstrip("/")}
        self.cache_dir = cache_dir or default_cache_dir()

    def url(self, ecosystem: str, name: str) -> str | None:
        base = self.urls.get(ecosystem)
        if base is None:
            return None
        if ecosystem == "go":
            return f"{base}/{go_escape(name)}/@v/list"
        quoted = urllib.parse.quote(name, safe="@")
        if ecosystem == "npm":
            quoted = quoted.replace("/", "%2F")  # a scoped name is one path segment
        return f"{base}/{quoted}/json" if ecosystem == "pypi" else f"{base}/{quoted}"

    def lookup(self, ecosystem: str, name: str) -> Info | None:
        url = self.url(ecosystem, name)
        if url is None:
            return None
        if ecosystem == "go":
            return self._go(name, url)
        doc = self._document(url, "registry", name)
        if isinstance(doc, Info):
            return doc
        return _pypi(doc) if ecosystem == "pypi" else _npm(doc)

    def _document(self, url: str, who: str, name: str) -> dict[str, Any] | Info:
        """The JSON object at url, or the Info that says why there is none (404 or 410 Gone: no such package)."""
        status, body = self._cached_get(url)
        if status in (404, 410):
            return Info(exists=False)
        if status != 200 or body is None:
            return Info(exists=True, error=f"{who} answered {status or 'nothing'} for {url}")
        try:
            doc = json.loads(body)
        except (json.JSONDecodeError, RecursionError, UnicodeDecodeError):
            return Info(exists=True, error=f"{who} answer for {name} is not JSON")
        if not isinstance(doc, dict):
            return Info(exists=True, error=f"{who} answer for {name} is not a JSON object")
        return doc

    def _go(self, module: str, list_url: str) -> Info:
        """The lowest listed version's publication time (the proxy keeps no "created"); with no tagged version,
        the time of @latest (a pseudo-version)."""
        status, listing = self._cached_get(list_url)
        if status in (404, 410):  # a Go proxy answers 410 Gone for a module it cannot find
            return Info(exists=False)
        if status != 200 or listing is None:
            return Info(exists=True, error=f"Go module proxy answered {status or 'nothing'} for {list_url}")
        versions = [v for v in listing.decode("utf-8", "replace").split() if _SEMVER.fullmatch(v)]
        base = f"{self.urls['go']}/{go_escape(module)}"
        url = f"{base}/@v/{go_escape(min(versions, key=_semver_key))}.info" if versions else f"{base}/@latest"
        doc = self._document(url, "Go module proxy", module)
        if isinstance(doc, Info):
            if doc.exists or not versions:
                return doc  # listed nothing and has no latest: nothing was ever published
            return Info(exists=True, error=f"Go module proxy lists {module} but has no {url}")
        return Info(exists=True, first_release=_when(doc.get("Time")))

    def _cached_get(self, url: str) -> tuple[int, bytes | None]:
        key = hashlib.sha256(url.encode()).hexdigest()
        path = self.cache_dir / f"{key}.json"
        try:
            if time.time() - path.stat().st_mtime < CACHE_TTL_S:
                cached = json.loads(path.read_text(encoding="utf-8"))
                body = cached.get("body")
                return int(cached["status"]), body.encode("utf-8") if isinstance(body, str) else None
        except (OSError, ValueError, KeyError, TypeError):
            pass
        status, body = _get(url)
        if status in (200, 404, 410):
            try:
                self.cache_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
                tmp = path.with_suffix(".tmp")
                text = body.decode("utf-8", "replace") if body is not None else None
                tmp.write_text(json.dumps({"url": url, "status": status, "body": text}), encoding="utf-8")
                os.replace(tmp, path)
            except OSError:
                pass  # a cache that cannot be written only costs a lookup next time
        return status, body


_SEMVER = re.compile(r"v(\d{1,9})\.(\d{1,9})\.(\d{1,9})(?:-([0-9A-Za-z.-]{1,200}))?(?:\+[0-9A-Za-z.-]{1,200})?")


def _semver_key(v: str) -> tuple[int, int, int, int, str]:
    m = _SEMVER.fullmatch(v)
    assert m is not None  # only called on matching versions
    major, minor, patch, pre = m.groups()
    return int(major), int(minor), int(patch), 0 if pre else 1, pre or ""  # a pre-release sorts first


def go_escape(path: str) -> str:
    """A module path or version as the GOPROXY protocol spells it: each capital letter is '!' and its lower
    case (so paths differing only in case stay apart on case-insensitive disks), then percent-quoted."""
    escaped = "".join(f"!{c.lower()}" if "A" <= c <= "Z" else c for c in path)
    return urllib.parse.quote(escaped, safe="/!@~")


def _get(url: str) -> tuple[int, bytes | None]:
    if not url.startswith(("https://", "http://")):
        return 0, None
    req = urllib.request.Request(url, headers={"Accept": "application/json", "User-Agent": "airlock"})  # noqa: S310
    host = urllib.parse.urlsplit(url).hostname or ""
    # A registry on loopback (a local mirror, the test suite's fake) is never reached through a proxy.
    handlers = [urllib.request.ProxyHandler({})] if host in ("127.0.0.1", "localhost", "::1") else []
    try:
        with urllib.request.build_opener(*handlers).open(req, timeout=TIMEOUT_S) as resp:
            body = resp.read(MAX_BODY + 1)
            if len(body) > MAX_BODY:
                return 0, None
            return int(resp.status), body
    except urllib.error.HTTPError as exc:
        return int(exc.code), None
    except (urllib.error.URLError, OSError, ValueError):
        return 0, None


def _when(text: Any) -> dt.datetime | None:
    if not isinstance(text, str):
        return None
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)


def _pypi(doc: dict[str, Any]) -> Info:
    times = []
    releases = doc.get("releases")
    for files in (releases.values() if isinstance(releases, dict) else []):
        for f in files if isinstance(files, list) else []:
            if isinstance(f, dict) and (t := _when(f.get("upload_time_iso_8601") or f.get("upload_time"))):
                times.append(t)
    return Info(exists=True, first_release=min(times) if times else None)


def _table(doc: dict[str, Any], key: str) -> dict[str, Any]:
    v = doc.get(key)
    return v if isinstance(v, dict) else {}


def _npm(doc: dict[str, Any]) -> Info:
    first = _when(_table(doc, "time").get("created"))
    latest = _table(doc, "dist-tags").get("latest")
    meta = _table(doc, "versions").get(latest) if isinstance(latest, str) else None
    scripts = _table(meta, "scripts") if isinstance(meta, dict) else {}
    found = tuple(s for s in INSTALL_SCRIPTS if s in scripts)
    return Info(exists=True, first_release=first, install_scripts=found)
