"""The policy: airlock.toml, [tool.airlock] in pyproject.toml, or --config FILE. Strictly validated.

Which programs run on the host is never up to the scanned tree: `[tools.*] path` is honoured only from
trusted sources (--config FILE, the user's config file, AIRLOCK_<TOOL>_PATH) and refused in a repository's
own airlock.toml or [tool.airlock].
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from airlock.pipeline.errors import UsageError
from airlock.pipeline.models import STAGES, Severity

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

KNOWN_TOOLS = ("semgrep", "bandit", "trivy", "trivy-secret", "trivy-deps", "checkov", "bwrap", "strace", "airlock")
DEFAULT_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class ToolConfig:
    timeout_s: float = DEFAULT_TIMEOUT_S
    path: str | None = None  # an explicit binary; otherwise PATH, then airlock's own environment
    enabled: bool = True
    rules: tuple[str, ...] = ()  # extra rule files or directories (semgrep), absolute


STAGE_DEFAULT_FAIL_ON = {"runtime": Severity.MEDIUM}


@dataclass(frozen=True)
class GatePolicy:
    fail_on: Severity = Severity.HIGH
    on_error: str = "fail"
    max_new: int = 0
    stage_fail_on: Mapping[str, Severity] = field(default_factory=dict)

    def threshold(self, stage: str) -> Severity:
        if stage in self.stage_fail_on:
            return self.stage_fail_on[stage]
        # The runtime stage fails at medium by default (DNS to unknown names, a download tool, a limit hit), or at
        # the overall threshold when that is stricter.
        return min(self.fail_on, STAGE_DEFAULT_FAIL_ON.get(stage, self.fail_on))


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
    disk_mb: int = 1024  # one tmpfs holds the workspace's and $HOME's changes and /tmp
    max_files: int = 100_000  # inodes on that tmpfs
    trace_mb: int = 256  # strace's logs on the host disk, all processes together
    output_mb: int = 64  # the commands' stdout and stderr
    proxy_connections: int = 64  # open at once
    env: Mapping[str, str] = field(default_factory=dict)
    run_as: str = "auto"  # when airlock is root: the sandbox's unprivileged host uid ("auto", a name, "UID:GID")
    read_paths: tuple[str, ...] = ()  # host paths the sandbox may read beyond its default view
    require_limits: tuple[str, ...] | None = None  # limits whose absence is a stage error; None: pids when root
    venv: str | None = None  # the project's virtualenv: bound read-only, its bin/ first on PATH
    interpreter: str | None = None  # or the project's Python interpreter, as `python`/`python3` on PATH
    compare_base: bool = False  # run the same commands on the base too; behaviour the base shows is not new


@dataclass(frozen=True)
class AgentPolicy:
    """The agent stage's settings. Registry URLs and the cache dir decide where the host connects and writes:
    only a trusted source (--config) sets them."""

    online: bool = False  # registry lookups of added dependencies; also --online
    min_package_age_days: int = 30
    pypi_url: str = "https://pypi.org/pypi"
    npm_url: str = "https://registry.npmjs.org"
    go_url: str = "https://proxy.golang.org"  # a Go module proxy (GOPROXY protocol)
    cache_dir: str | None = None  # registry answers; default: $XDG_CACHE_HOME/airlock/registry


@dataclass(frozen=True)
class Policy:
    stages: tuple[str, ...] = STAGES
    gate: GatePolicy = field(default_factory=GatePolicy)
    tools: Mapping[str, ToolConfig] = field(default_factory=dict)
    image: ImagePolicy = field(default_factory=ImagePolicy)
    runtime: RuntimePolicy = field(default_factory=RuntimePolicy)
    agent: AgentPolicy = field(default_factory=AgentPolicy)
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
    "disk_mb": _int(16, 1_048_576),
    "max_files": _int(1000, 100_000_000),
    "trace_mb": _int(8, 1_048_576),
    "output_mb": _int(1, 1_048_576),
    "proxy_connections": _int(1, 100_000),
    "env": _str_map,
    "run_as": _str,
    "read_paths": _list(_str),
    "require_limits": _list(_choice("pids", "memory", "cpu")),
    "venv": _str,
    "interpreter": _str,
    "compare_base": _bool,
}
_AGENT_KEYS: dict[str, Check] = {
    "online": _bool,
    "min_package_age_days": _int(0, 36_500),
    "pypi_url": _str,
    "npm_url": _str,
    "go_url": _str,
    "cache_dir": _str,
}
# Keys that decide where the host connects or writes: never taken from the scanned tree's own policy.
_TRUSTED_AGENT_KEYS = ("pypi_url", "npm_url", "go_url", "cache_dir")
# Keys that decide what the host exposes to the sandbox: never taken from the scanned tree's own policy.
_HOST_RUNTIME_KEYS = ("run_as", "read_paths", "venv", "interpreter")
_TOP_KEYS = ("stages", "gate", "tools", "image", "runtime", "agent", "paths")


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


def parse_policy(
    data: Mapping[str, Any], *, source: str, base_dir: Path, confine: bool, trusted: bool = False
) -> Policy:
    """Validate a decoded TOML table into a Policy; raise UsageError naming the bad key.

    Only a trusted source (--config FILE) may name programs to run; a repository's own config may not.
    """
    try:
        return _parse(data, source=source, base_dir=base_dir, confine=confine, trusted=trusted)
    except _Untrusted as exc:
        raise UsageError(f"{source}: {exc}") from None
    except _Bad as exc:
        raise UsageError(f"{source}: {exc}; fix it or see the README's configuration section") from None


class _Untrusted(_Bad):
    pass


def _refuse_program(key: str) -> _Untrusted:
    name = key.split(".")[1]
    return _Untrusted(
        f"{key} names a program to run on the host and a repository's own config may not choose it; "
        f"set it with --config FILE, {user_config_path()} or {env_var(name)}"
    )


def _parse(data: Mapping[str, Any], *, source: str, base_dir: Path, confine: bool, trusted: bool) -> Policy:
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
        if name == "strace" and set(fields) - {"path"}:
            # strace is the runtime stage's tracer, not a scanner of its own: it has no timeout, switch or rules.
            raise _Bad(
                f"tools.strace.{sorted(set(fields) - {'path'})[0]} is not a setting: [tools.strace] takes only path "
                "(set timeout_s or enabled under [tools.bwrap], the runtime stage)"
            )
        if "path" in fields and not trusted:
            raise _refuse_program(f"tools.{name}.path")
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
    if not trusted:
        _refuse_host_keys("runtime", runtime_fields, _HOST_RUNTIME_KEYS, "what the host exposes to the sandbox")
    for k in ("read_paths",):
        if k in runtime_fields:
            runtime_fields[k] = tuple(_path(f"runtime.{k}", p, base_dir, False) for p in runtime_fields[k])
    if "venv" in runtime_fields and "interpreter" in runtime_fields:
        raise _Bad("runtime.venv and runtime.interpreter both name the project's Python; keep one")
    for k in ("venv", "interpreter"):
        if k in runtime_fields:
            runtime_fields[k] = _path(f"runtime.{k}", runtime_fields[k], base_dir, False)
    agent_fields = _fields("agent.", _table("agent", data.get("agent", {})), _AGENT_KEYS)
    if not trusted:
        _refuse_host_keys("agent", agent_fields, _TRUSTED_AGENT_KEYS, "where the host connects or writes")
    for k in ("pypi_url", "npm_url", "go_url"):
        if k in agent_fields and not agent_fields[k].startswith(("https://", "http://")):
            raise _Bad(f"agent.{k} must be an http(s) URL (got {agent_fields[k]!r})")
    if "cache_dir" in agent_fields:
        agent_fields["cache_dir"] = _path("agent.cache_dir", agent_fields["cache_dir"], base_dir, False)
    paths = _fields("paths.", _table("paths", data.get("paths", {})), {"exclude": _list(_str)})
    return Policy(
        stages=stages,
        gate=gate,
        tools=tools,
        image=ImagePolicy(**image_fields),
        runtime=RuntimePolicy(**runtime_fields),
        agent=AgentPolicy(**agent_fields),
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


def _refuse_host_keys(section: str, fields: dict[str, Any], keys: Sequence[str], what: str) -> None:
    """Settings that decide what the host does come only from trusted config (--config), never from the scanned
    repository's own policy."""
    hit = [k for k in keys if k in fields]
    if hit:
        raise _Bad(
            f"{section}.{hit[0]} decides {what} and is not taken from the scanned repository's own policy; "
            "pass it with --config"
        )


def load_config_file(path: Path) -> Policy:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read config {path}: {exc.strerror}; check the --config path") from None
    return parse_policy(
        _decode_toml(raw, str(path)), source=str(path), base_dir=path.parent.resolve(), confine=False, trusted=True
    )


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


# --- trusted tool paths -----------------------------------------------------------------------


def user_config_path(environ: Mapping[str, str] | None = None) -> Path:
    """$XDG_CONFIG_HOME/airlock/config.toml (default ~/.config/airlock/config.toml): the user's, never the repo's."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME") or Path.home()) / ".config")
    return Path(base) / "airlock" / "config.toml"


def env_var(tool: str) -> str:
    """AIRLOCK_SEMGREP_PATH, AIRLOCK_TRIVY_SECRET_PATH, ..."""
    return "AIRLOCK_" + tool.upper().replace("-", "_") + "_PATH"


def _program(key: str, value: Any, base_dir: Path) -> str:
    text = _str(key, value)
    return str((base_dir / text).resolve()) if "/" in text else text


def load_user_tool_paths(path: Path) -> dict[str, str]:
    """The user's config file: only `[tools.<name>] path` entries, which it is trusted to set."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise UsageError(f"cannot read user config {path}: {exc.strerror}; fix its permissions") from None
    data = _decode_toml(raw, str(path))
    try:
        _check_keys("", data, ("tools",))
        out = {}
        for name, tbl in _table("tools", data.get("tools", {})).items():
            if name not in KNOWN_TOOLS:
                raise _Bad(f"unknown tool 'tools.{name}' (known: {', '.join(KNOWN_TOOLS)})")
            table = _table(f"tools.{name}", tbl)
            _check_keys(f"tools.{name}.", table, ("path",))
            if "path" in table:
                out[name] = _program(f"tools.{name}.path", table["path"], path.parent.resolve())
        return out
    except _Bad as exc:
        raise UsageError(f"{path}: {exc}; the user config holds only [tools.<name>] path entries") from None


def env_tool_paths(environ: Mapping[str, str]) -> dict[str, str]:
    """AIRLOCK_<TOOL>_PATH variables: set by whoever runs airlock, so trusted."""
    out = {}
    for name in KNOWN_TOOLS:
        value = environ.get(env_var(name))
        if value:
            out[name] = str(Path(value).resolve()) if "/" in value else value
    return out


def with_project_venv(policy: Policy, environ: Mapping[str, str] | None = None) -> Policy:
    """Without [runtime] venv or interpreter, the virtualenv active where airlock was started ($VIRTUAL_ENV, set by
    whoever runs airlock, so trusted) is the project's toolchain in the sandbox."""
    env = os.environ if environ is None else environ
    rt = policy.runtime
    active = env.get("VIRTUAL_ENV", "")
    if rt.venv or rt.interpreter or not active.startswith("/"):
        return policy
    return replace(policy, runtime=replace(rt, venv=str(Path(active).resolve())))


def with_trusted_tool_paths(policy: Policy, environ: Mapping[str, str] | None = None) -> Policy:
    """The user config fills paths the policy (only --config may set one) left unset; the environment wins."""
    env = os.environ if environ is None else environ
    user = load_user_tool_paths(user_config_path(env))
    from_env = env_tool_paths(env)
    tools = dict(policy.tools)
    for name in KNOWN_TOOLS:
        cfg = tools.get(name, ToolConfig())
        path = from_env.get(name) or cfg.path or user.get(name)
        if path != cfg.path:
            tools[name] = replace(cfg, path=path)
    return replace(policy, tools=tools)
