"""Dependencies a manifest or lockfile declares, each with where it comes from and its line.

Parsed with libraries: packaging.requirements (requirement lines), tomllib (pyproject.toml, Pipfile,
poetry.lock), configparser (setup.cfg) and json (package.json, package-lock.json, Pipfile.lock). go.mod and go.sum
have no library here; their small readers (`go_mod`, `go_sum`) are property-tested with hypothesis.
"""

from __future__ import annotations

import configparser
import json
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@dataclass(frozen=True)
class Dep:
    ecosystem: str  # "pypi", "npm" or "go"
    name: str
    version: str  # the specifier or the locked version; "" when none
    source: str  # "registry", "url", "git", "path" or "replace" (go.mod)
    where: str  # the URL, git remote or path for a non-registry source
    line: int

    @property
    def key(self) -> tuple[str, str]:
        return self.ecosystem, normalise(self.ecosystem, self.name)


@dataclass(frozen=True)
class Manifest:
    deps: tuple[Dep, ...]
    indexes: tuple[tuple[str, int], ...] = ()  # package index URLs it names, with their lines
    lockfile: bool = False


class Unparsable(Exception):
    pass


def normalise(ecosystem: str, name: str) -> str:
    """The name the registry itself resolves: PyPI folds case and runs of - _ . (PEP 503); npm and Go do not."""
    return re.sub(r"[-_.]+", "-", name).lower() if ecosystem == "pypi" else name


def _line_of(lines: list[str], needle: str, default: int = 0) -> int:
    if not needle:
        return default
    pat = re.compile(r"(?<![\w.-])" + re.escape(needle) + r"(?![\w.-])", re.IGNORECASE)
    for i, line in enumerate(lines, 1):
        if pat.search(line):
            return i
    return default


def _kind(url: str) -> str:
    if url.startswith(("git+", "git:", "git@", "github:", "gitlab:", "bitbucket:")) or url.endswith(".git"):
        return "git"
    if url.startswith(("http://", "https://")):
        return "url"
    if url.startswith(("file:", "link:", "./", "../", "/", "~")) or url == ".":
        return "path"
    return "registry"


def _pypi_req(text: str, line: int) -> Dep | None:
    try:
        req = Requirement(text)
    except InvalidRequirement:
        return None
    where = req.url or ""
    return Dep("pypi", req.name, str(req.specifier), _kind(where) if where else "registry", where, line)


_REQ_OPTION = re.compile(r"^\s*(-i|--index-url|--extra-index-url|-f|--find-links|--trusted-host)[\s=]+(\S+)")


def requirements_txt(text: str) -> Manifest:
    deps: list[Dep] = []
    indexes: list[tuple[str, int]] = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        m = _REQ_OPTION.match(line)
        if m:
            indexes.append((f"{m.group(1)} {m.group(2)}", n))
            continue
        if line.startswith(("-e ", "--editable ")):
            target = line.split(None, 1)[1]
            egg = re.search(r"#egg=([\w.-]+)", target)
            kind = _kind(target) if _kind(target) != "registry" else "path"  # `-e .` or `-e subdir`
            deps.append(Dep("pypi", egg.group(1) if egg else target, "", kind, target, n))
            continue
        if line.startswith("-"):
            continue  # -r other.txt, -c constraints.txt, --hash lines: no new package named here
        if _kind(line) in ("git", "url", "path"):
            name = re.search(r"#egg=([\w.-]+)", line)
            deps.append(Dep("pypi", name.group(1) if name else line, "", _kind(line), line, n))
            continue
        dep = _pypi_req(re.split(r"\s+--", line)[0], n)  # per-requirement options (--hash) are not part of it
        if dep is not None:
            deps.append(dep)
    return Manifest(tuple(deps), tuple(indexes))


def _dict(v: Any) -> dict[str, Any]:
    return v if isinstance(v, dict) else {}


def _toml(text: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise Unparsable(str(exc)) from None


def _poetry_like(table: dict[str, Any], lines: list[str], ecosystem: str = "pypi") -> list[Dep]:
    out = []
    for name, spec in table.items():
        if name.lower() == "python":
            continue
        line = _line_of(lines, name)
        if isinstance(spec, str):
            out.append(Dep(ecosystem, name, spec if spec != "*" else "", "registry", "", line))
        elif isinstance(spec, dict):
            for key, kind in (("git", "git"), ("url", "url"), ("path", "path"), ("file", "path")):
                if isinstance(spec.get(key), str):
                    out.append(Dep(ecosystem, name, "", kind, spec[key], line))
                    break
            else:
                out.append(Dep(ecosystem, name, str(spec.get("version", "")), "registry", "", line))
    return out


def pyproject(text: str) -> Manifest:
    data = _toml(text)
    lines = text.splitlines()
    deps: list[Dep] = []
    project = _dict(data.get("project"))
    reqs = list(project.get("dependencies") or [])
    for extra in _dict(project.get("optional-dependencies")).values():
        reqs += list(extra or [])
    for group in _dict(data.get("dependency-groups")).values():
        reqs += [r for r in group or [] if isinstance(r, str)]
    for r in reqs:
        if isinstance(r, str) and (dep := _pypi_req(r, _line_of(lines, _req_name(r)))):
            deps.append(dep)
    poetry = _dict(_dict(data.get("tool")).get("poetry"))
    deps += _poetry_like(_dict(poetry.get("dependencies")), lines)
    deps += _poetry_like(_dict(poetry.get("dev-dependencies")), lines)
    for group in _dict(poetry.get("group")).values():
        deps += _poetry_like(_dict(_dict(group).get("dependencies")), lines)
    indexes = [
        (f"poetry source {s.get('url')}", _line_of(lines, str(s.get("url"))))
        for s in poetry.get("source") or [] if isinstance(s, dict) and s.get("url")
    ]  # fmt: skip
    uv = _dict(_dict(data.get("tool")).get("uv"))
    indexes += [(f"uv index {i.get('url')}", _line_of(lines, str(i.get("url"))))
                for i in uv.get("index") or [] if isinstance(i, dict) and i.get("url")]
    return Manifest(tuple(deps), tuple(indexes))


def _req_name(r: str) -> str:
    m = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", r)
    return m.group(1) if m else ""


def setup_cfg(text: str) -> Manifest:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read_string(text)
    except configparser.Error as exc:
        raise Unparsable(str(exc).splitlines()[0]) from None
    lines = text.splitlines()
    reqs: list[str] = []
    if parser.has_option("options", "install_requires"):
        reqs += parser.get("options", "install_requires").splitlines()
    if parser.has_section("options.extras_require"):
        for _k, v in parser.items("options.extras_require"):
            reqs += v.splitlines()
    deps = [d for r in reqs if r.strip() and (d := _pypi_req(r.strip(), _line_of(lines, _req_name(r.strip()))))]
    return Manifest(tuple(deps))


def pipfile(text: str) -> Manifest:
    data = _toml(text)
    lines = text.splitlines()
    deps = _poetry_like(_dict(data.get("packages")), lines) + _poetry_like(_dict(data.get("dev-packages")), lines)
    indexes = [(f"Pipfile source {s.get('url')}", _line_of(lines, str(s.get("url"))))
               for s in data.get("source") or [] if isinstance(s, dict) and s.get("url")]
    return Manifest(tuple(deps), tuple(i for i in indexes if "pypi.org/simple" not in i[0]))


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise Unparsable(str(exc)[:100]) from None


def package_json(text: str) -> Manifest:
    data = _dict(_json(text))
    lines = text.splitlines()
    deps = []
    for section in ("dependencies", "devDependencies", "optionalDependencies", "peerDependencies"):
        for name, spec in _dict(data.get(section)).items():
            spec = spec if isinstance(spec, str) else ""
            kind = _kind(spec)
            if re.match(r"^[\w-]+/[\w.-]+(#.*)?$", spec):
                kind = "git"  # "user/repo": a GitHub shorthand
            deps.append(Dep("npm", name, spec if kind == "registry" else "", kind, "" if kind == "registry" else spec,
                            _line_of(lines, name)))
    return Manifest(tuple(deps))


def package_lock(text: str) -> Manifest:
    data = _dict(_json(text))
    lines = text.splitlines()
    deps = []
    for path, meta in _dict(data.get("packages")).items():
        if not path or not isinstance(meta, dict):
            continue
        name = path.rsplit("node_modules/", 1)[-1]
        resolved = str(meta.get("resolved") or "")
        kind = _kind(resolved) if resolved and "registry.npmjs.org" not in resolved else "registry"
        deps.append(Dep("npm", name, str(meta.get("version", "")), kind, resolved if kind != "registry" else "",
                        _line_of(lines, path)))
    return Manifest(tuple(deps), lockfile=True)


def pipfile_lock(text: str) -> Manifest:
    data = _dict(_json(text))
    lines = text.splitlines()
    deps = []
    for section in ("default", "develop"):
        for name, meta in _dict(data.get(section)).items():
            meta = _dict(meta)
            kind = "git" if "git" in meta else "path" if "path" in meta or "file" in meta else "registry"
            deps.append(Dep("pypi", name, str(meta.get("version", "")), kind, str(meta.get(kind, "")),
                            _line_of(lines, name)))
    return Manifest(tuple(deps), lockfile=True)


def poetry_lock(text: str) -> Manifest:
    data = _toml(text)
    lines = text.splitlines()
    deps = []
    for pkg in data.get("package") or []:
        if not isinstance(pkg, dict) or not isinstance(pkg.get("name"), str):
            continue
        src = _dict(pkg.get("source"))
        kind = {"git": "git", "url": "url", "file": "path", "directory": "path"}.get(str(src.get("type")), "registry")
        deps.append(Dep("pypi", pkg["name"], str(pkg.get("version", "")), kind, str(src.get("url", "")),
                        _line_of(lines, pkg["name"])))
    return Manifest(tuple(deps), lockfile=True)


_GO_REQ = re.compile(r"^\s*([^\s()]+)\s+(v[^\s/]+)(?:\s*//.*)?$")
_GO_REPLACE = re.compile(r"^\s*(\S+)(?:\s+v\S+)?\s*=>\s*(\S+)(?:\s+(v\S+))?\s*(?://.*)?$")


def go_mod(text: str) -> Manifest:
    """`require` and `replace` directives, single-line or in blocks. A replacement by a local path is a path dep."""
    deps: list[Dep] = []
    block = ""
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.split("//", 1)[0].strip() if not raw.strip().startswith("//") else ""
        if not line:
            continue
        if block:
            if line == ")":
                block = ""
                continue
            _go_line(block, line, n, deps)
            continue
        m = re.match(r"^(require|replace)\s*\(\s*$", line)
        if m:
            block = m.group(1)
            continue
        m = re.match(r"^(require|replace)\s+(.*)$", line)
        if m:
            _go_line(m.group(1), m.group(2), n, deps)
    return Manifest(tuple(deps))


def _go_line(kind: str, line: str, n: int, deps: list[Dep]) -> None:
    if kind == "require":
        m = _GO_REQ.match(line)
        if m:
            deps.append(Dep("go", m.group(1), m.group(2), "registry", "", n))
        return
    m = _GO_REPLACE.match(line)
    if m:
        target = m.group(2)
        local = target.startswith(("./", "../", "/"))
        # Either way the module's code comes from somewhere other than the module path it claims.
        deps.append(Dep("go", m.group(1), m.group(3) or "", "path" if local else "replace", target, n))


def go_sum(text: str) -> Manifest:
    """go.sum: `MODULE VERSION[/go.mod] h1:HASH` a line; each module once, at its first line."""
    deps: dict[str, Dep] = {}
    for n, line in enumerate(text.splitlines(), 1):
        parts = line.split()
        if len(parts) != 3 or not parts[1].startswith("v") or not parts[2].startswith("h1:"):
            continue
        version = parts[1].removesuffix("/go.mod")
        if parts[0] not in deps:
            deps[parts[0]] = Dep("go", parts[0], version, "registry", "", n)
    return Manifest(tuple(deps.values()), lockfile=True)


Parser = Callable[[str], Manifest]


def parser_for(rel: str) -> Parser | None:
    name = rel.rsplit("/", 1)[-1]
    if re.match(r"^requirements.*\.(txt|in)$", name) or (name.endswith(".txt") and "/requirements/" in f"/{rel}"):
        return requirements_txt
    return {
        "pyproject.toml": pyproject,
        "setup.cfg": setup_cfg,
        "Pipfile": pipfile,
        "Pipfile.lock": pipfile_lock,
        "poetry.lock": poetry_lock,
        "package.json": package_json,
        "package-lock.json": package_lock,
        "go.mod": go_mod,
        "go.sum": go_sum,
    }.get(name)


def by_key(deps: Iterable[Dep]) -> dict[tuple[str, str], Dep]:
    return {d.key: d for d in deps}
