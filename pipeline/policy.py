"""The policy: airlock.toml, [tool.airlock] in pyproject.toml, or --config FILE. Strictly validated."""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.errors import UsageError
from pipeline.models import STAGES, Severity

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

KNOWN_TOOLS = ("semgrep", "bandit", "trivy", "trivy-secret", "checkov", "bwrap", "strace")
DEFAULT_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class ToolConfig:
    timeout_s: float = DEFAULT_TIMEOUT_S
    path: str | None = None  # an explicit binary; otherwise PATH, then airlock's own environment
    enabled: bool = True
    rules: tuple[str, ...] = ()  # extra rule files or directories (semgrep), absolute


@dataclass(frozen=True)
class GatePolicy:
    fail_on: Severity = Severity.HIGH
    on_error: str = "fail"
    max_new: int = 0
    stage_fail_on: Mapping[str, Severity] = field(default_factory=dict)

    def threshold(self, stage: str) -> Severity:
        return self.stage_fail_on.get(stage, self.fail_on)


@dataclass(frozen=True)
class ImagePolicy:
    archives: tuple[str, ...] = ()
    refs: tuple[str, ...] = ()
    cache_dir: str | None = None
    offline: bool = False


@dataclass(frozen=True)
class RuntimePolicy:
    commands: tuple[str, ...] = ()
    mode: str = "enforce"
    allow_hosts: tuple[str, ...] = ()
    deny_hosts: tuple[str, ...] = ()
    timeout_s: float = DEFAULT_TIMEOUT_S
    cpu_s: int = 300
    memory_mb: int = 2048
    pids: int = 512
    file_size_mb: int = 512
    env: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Policy:
    stages: tuple[str, ...] = STAGES
    gate: GatePolicy = field(default_factory=GatePolicy)
    tools: Mapping[str, ToolConfig] = field(default_factory=dict)
    image: ImagePolicy = field(default_factory=ImagePolicy)
    runtime: RuntimePolicy = field(default_factory=RuntimePolicy)
    exclude: tuple[str, ...] = ()
    source: str = "defaults"  # where the policy came from, for the report

    def tool(self, name: str) -> ToolConfig:
        return self.tools.get(name, ToolConfig())


# --- validation -------------------------------------------------------------------------------

Check = Callable[[str, Any], Any]


class _Bad(Exception):
    pass


def _severity(key: str, v: Any) -> Severity:
    if not isinstance(v, str):
        raise _Bad(f"{key} must be a severity string")
    try:
        return Severity.parse(v)
    except ValueError:
        raise _Bad(f"{key} must be one of critical, high, medium, low, info (got {v!r})") from None


def _choice(*options: str) -> Check:
    def check(key: str, v: Any) -> str:
        if v not in options:
            raise _Bad(f"{key} must be one of {', '.join(options)} (got {v!r})")
        return str(v)

    return check


def _number(minimum: float, maximum: float = 86_400.0) -> Check:
    """A finite number in [minimum, maximum]: nan and inf would disable the limit they set."""

    def check(key: str, v: Any) -> float:
        if (
            isinstance(v, bool)
            or not isinstance(v, (int, float))
            or not math.isfinite(v)
            or not minimum <= v <= maximum
        ):
            raise _Bad(f"{key} must be a number from {minimum:g} to {maximum:g} (got {v!r})")
        return float(v)

    return check


def _int(minimum: int, maximum: int = 1_000_000) -> Check:
    def check(key: str, v: Any) -> int:
        if isinstance(v, bool) or not isinstance(v, int) or not minimum <= v <= maximum:
            raise _Bad(f"{key} must be a whole number from {minimum} to {maximum} (got {v!r})")
        return v

    return check


def _bool(key: str, v: Any) -> bool:
    if not isinstance(v, bool):
        raise _Bad(f"{key} must be true or false (got {v!r})")
    return v


def _str(key: str, v: Any) -> str:
    if not isinstance(v, str) or not v:
        raise _Bad(f"{key} must be a non-empty string (got {v!r})")
    return v


def _list(item: Check) -> Check:
    def check(key: str, v: Any) -> tuple[Any, ...]:
        if not isinstance(v, list):
            raise _Bad(f"{key} must be a list (got {v!r})")
        return tuple(item(f"{key}[{i}]", x) for i, x in enumerate(v))

    return check


def _str_map(key: str, v: Any) -> dict[str, str]:
    if not isinstance(v, dict) or not all(isinstance(k, str) and isinstance(x, str) for k, x in v.items()):
        raise _Bad(f"{key} must be a table of strings")
    return dict(v)


_TOOL_KEYS: dict[str, Check] = {
    "timeout_s": _number(1),
    "path": _str,
    "enabled": _bool,
    "rules": _list(_str),
}
_GATE_KEYS: dict[str, Check] = {
    "fail_on": _severity,
    "on_error": _choice("fail", "warn"),
    "max_new": _int(0),
}
_IMAGE_KEYS: dict[str, Check] = {
    "archives": _list(_str),
    "refs": _list(_str),
    "cache_dir": _str,
    "offline": _bool,
}
_RUNTIME_KEYS: dict[str, Check] = {
    "commands": _list(_str),
    "mode": _choice("enforce", "audit"),
    "allow_hosts": _list(_str),
    "deny_hosts": _list(_str),
    "timeout_s": _number(1),
    "cpu_s": _int(1, 86_400),
    "memory_mb": _int(16, 1_048_576),
    "pids": _int(8, 1_000_000),
    "file_size_mb": _int(1, 1_048_576),
    "env": _str_map,
}
_TOP_KEYS = ("stages", "gate", "tools", "image", "runtime", "paths")


def _table(key: str, v: Any) -> dict[str, Any]:
    if not isinstance(v, dict):
        raise _Bad(f"{key} must be a table")
    return v


def _check_keys(prefix: str, table: Mapping[str, Any], known: tuple[str, ...] | Mapping[str, Any]) -> None:
    for k in table:
        if k not in known:
            raise _Bad(f"unknown key '{prefix}{k}' (known: {', '.join(known)})")


def _fields(prefix: str, table: Mapping[str, Any], checks: Mapping[str, Check]) -> dict[str, Any]:
    _check_keys(prefix, table, checks)
    return {k: checks[k](prefix + k, v) for k, v in table.items()}


def parse_policy(data: Mapping[str, Any], *, source: str, base_dir: Path, confine: bool) -> Policy:
    """Validate a decoded TOML table into a Policy; raise UsageError naming the bad key."""
    try:
        return _parse(data, source=source, base_dir=base_dir, confine=confine)
    except _Bad as exc:
        raise UsageError(f"{source}: {exc}; fix it or see the README's configuration section") from None


def _parse(data: Mapping[str, Any], *, source: str, base_dir: Path, confine: bool) -> Policy:
    _check_keys("", data, _TOP_KEYS)
    stages = _list(_choice(*STAGES))("stages", data.get("stages", list(STAGES)))
    if not stages:
        raise _Bad(f"stages is empty, so nothing would be scanned; name at least one of {', '.join(STAGES)}")

    gate_raw = _table("gate", data.get("gate", {}))
    per_stage = {k: _table(f"gate.{k}", v) for k, v in gate_raw.items() if k in STAGES}
    gate_fields = _fields("gate.", {k: v for k, v in gate_raw.items() if k not in STAGES}, _GATE_KEYS)
    stage_fail_on = {}
    for st, tbl in per_stage.items():
        _check_keys(f"gate.{st}.", tbl, ("fail_on",))
        if "fail_on" in tbl:
            stage_fail_on[st] = _severity(f"gate.{st}.fail_on", tbl["fail_on"])
    gate = GatePolicy(**gate_fields, stage_fail_on=stage_fail_on)

    tools: dict[str, ToolConfig] = {}
    for name, tbl in _table("tools", data.get("tools", {})).items():
        if name not in KNOWN_TOOLS:
            raise _Bad(f"unknown tool 'tools.{name}' (known: {', '.join(KNOWN_TOOLS)})")
        fields = _fields(f"tools.{name}.", _table(f"tools.{name}", tbl), _TOOL_KEYS)
        if "rules" in fields:
            fields["rules"] = tuple(_path(f"tools.{name}.rules", r, base_dir, confine) for r in fields["rules"])
        if "path" in fields and ("/" in fields["path"]):
            fields["path"] = _path(f"tools.{name}.path", fields["path"], base_dir, confine=False)
        tools[name] = ToolConfig(**fields)

    image_fields = _fields("image.", _table("image", data.get("image", {})), _IMAGE_KEYS)
    if "archives" in image_fields:
        image_fields["archives"] = tuple(
            _path("image.archives", a, base_dir, confine) for a in image_fields["archives"]
        )
    if "cache_dir" in image_fields:
        image_fields["cache_dir"] = _path("image.cache_dir", image_fields["cache_dir"], base_dir, False)
    runtime_fields = _fields("runtime.", _table("runtime", data.get("runtime", {})), _RUNTIME_KEYS)
    paths = _fields("paths.", _table("paths", data.get("paths", {})), {"exclude": _list(_str)})
    return Policy(
        stages=stages,
        gate=gate,
        tools=tools,
        image=ImagePolicy(**image_fields),
        runtime=RuntimePolicy(**runtime_fields),
        exclude=paths.get("exclude", ()),
        source=source,
    )


def _path(key: str, value: str, base_dir: Path, confine: bool) -> str:
    resolved = (base_dir / value).resolve()
    if confine and not resolved.is_relative_to(base_dir.resolve()):
        raise _Bad(f"{key} {value!r} points outside the repository")
    return str(resolved)


# --- loading ----------------------------------------------------------------------------------


def _decode_toml(raw: bytes, source: str) -> dict[str, Any]:
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"{source} is not valid TOML: {exc}") from None


def load_config_file(path: Path) -> Policy:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read config {path}: {exc.strerror}; check the --config path") from None
    return parse_policy(_decode_toml(raw, str(path)), source=str(path), base_dir=path.parent.resolve(), confine=False)


def load_repo_policy(read: Callable[[str], bytes | None], root: Path, where: str = "") -> Policy:
    """The policy a repository carries: airlock.toml first, then pyproject's [tool.airlock]."""
    label = f" ({where})" if where else ""
    raw = read("airlock.toml")
    if raw is not None:
        return parse_policy(
            _decode_toml(raw, "airlock.toml"), source=f"airlock.toml{label}", base_dir=root, confine=True
        )
    raw = read("pyproject.toml")
    if raw is not None:
        table = _decode_toml(raw, "pyproject.toml").get("tool", {}).get("airlock")
        if isinstance(table, dict):
            return parse_policy(table, source=f"pyproject.toml [tool.airlock]{label}", base_dir=root, confine=True)
    return Policy()


def file_reader(root: Path) -> Callable[[str], bytes | None]:
    def read(rel: str) -> bytes | None:
        p = root / rel
        if p.is_symlink() or not p.is_file():
            return None
        return p.read_bytes()

    return read
