"""Test and airlock steps of CI definitions and the pre-commit config, base against head.

YAML is read with yaml.safe_load under a size cap, and walked with a node budget: an alias bomb that
safe_load shares cheaply must not make the walk exponential. A cap hit is agent.unchecked (high).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml

from airlock.pipeline.models import FileStatus, Finding, Severity
from airlock.scanners.agent.view import ChangeView, Text, finding

TEST_REMOVED = "agent.ci-test-removed"
AIRLOCK_WEAKENED = "agent.airlock-step-weakened"
UNCHECKED = "agent.unchecked"

MAX_YAML_BYTES = 512 * 1024
MAX_NODES = 50_000

_TEST_CMD = re.compile(
    r"\b(pytest|py\.test|tox|nox|unittest|make\s+(?:test|check)|(?:npm|yarn|pnpm)\s+(?:run\s+)?test"
    r"|go\s+test|cargo\s+test|mvn\s+(?:test|verify)|gradle\w*\s+test|ctest|phpunit|rspec|jest|vitest)\b"
)
_AIRLOCK = re.compile(r"\bairlock\b|agent-airlock", re.IGNORECASE)
_SWALLOW = re.compile(r"\|\|\s*(?:true|:|exit\s+0)\b|;\s*(?:true|exit\s+0)\s*$|\bset\s+\+e\b", re.MULTILINE)


class Unchecked(Exception):
    pass


@dataclass(frozen=True)
class Step:
    kind: str  # "test" or "airlock"
    command: str  # normalised: whitespace collapsed
    weakened: tuple[str, ...]  # why it no longer gates: continue-on-error, `|| true`, if: false, ...


def is_ci_file(rel: str) -> bool:
    name = rel.rsplit("/", 1)[-1]
    return (
        (rel.startswith(".github/workflows/") and name.endswith((".yml", ".yaml")))
        or rel in (".gitlab-ci.yml", ".pre-commit-config.yaml")
    )


def load_yaml(text: Text) -> Any:
    if len(text.raw) > MAX_YAML_BYTES:
        raise Unchecked(f"larger than {MAX_YAML_BYTES // 1024} KiB")
    try:
        return yaml.safe_load(text.text)
    except yaml.YAMLError as exc:
        raise Unchecked(f"not valid YAML ({str(exc).splitlines()[0][:100]})") from None
    except RecursionError:
        raise Unchecked("nested too deeply") from None


class _Budget:
    def __init__(self) -> None:
        self.left = MAX_NODES

    def spend(self) -> None:
        self.left -= 1
        if self.left < 0:
            raise Unchecked(f"more than {MAX_NODES} YAML nodes to walk (an alias bomb?)")


def _strings(obj: Any, budget: _Budget) -> list[str]:
    budget.spend()
    if isinstance(obj, str):
        return [obj]
    if isinstance(obj, list):
        return [s for v in obj for s in _strings(v, budget)]
    if isinstance(obj, dict):
        return [s for v in obj.values() for s in _strings(v, budget)]
    return []


def _off(cond: Any) -> bool:
    return cond is False or (isinstance(cond, str) and cond.replace(" ", "") in ("false", "${{false}}", "0"))


def _kinds(cmd: str) -> list[str]:
    return [k for k, rx in (("airlock", _AIRLOCK), ("test", _TEST_CMD)) if rx.search(cmd)]


def _mk(cmd: str, why: list[str]) -> list[Step]:
    if _SWALLOW.search(cmd):
        why = [*why, "its failure is swallowed (|| true, set +e)"]
    norm = " ".join(cmd.split())
    return [Step(k, norm, tuple(why)) for k in _kinds(cmd)]


def steps(rel: str, data: Any) -> list[Step]:
    budget = _Budget()
    out: list[Step] = []
    if not isinstance(data, dict):
        return out
    if rel == ".pre-commit-config.yaml":
        for repo in data.get("repos") or []:
            for hook in (repo.get("hooks") or []) if isinstance(repo, dict) else []:
                if isinstance(hook, dict):
                    text = " ".join(_strings([hook.get("id"), hook.get("entry")], budget))
                    out += _mk(text, ["manual stage only"] if "manual" in _strings(hook.get("stages"), budget) else [])
        return out
    if rel == ".gitlab-ci.yml":
        for name, job in data.items():
            if not isinstance(job, dict) or str(name).startswith("."):
                continue
            why = ["allow_failure: true"] if job.get("allow_failure") is True else []
            if job.get("when") in ("manual", "never"):
                why.append(f"when: {job.get('when')}")
            for key in ("before_script", "script", "after_script"):
                for cmd in _strings(job.get(key), budget):
                    out += _mk(cmd, why)
        return out
    jobs = data.get("jobs")
    for job in jobs.values() if isinstance(jobs, dict) else []:
        if not isinstance(job, dict):
            continue
        job_why = ["job continue-on-error"] if job.get("continue-on-error") not in (None, False) else []
        if _off(job.get("if")):
            job_why.append("job if: false")
        for step in job.get("steps") or []:
            if not isinstance(step, dict):
                continue
            why = list(job_why)
            if step.get("continue-on-error") not in (None, False):
                why.append("continue-on-error")
            if _off(step.get("if")):
                why.append("if: false")
            text = " ".join(_strings([step.get("run"), step.get("uses"), step.get("with")], budget))
            out += _mk(text, why)
    return out


def triggers(data: Any) -> dict[str, str]:
    """A workflow's events and their filters, as comparable text. PyYAML reads the key `on` as True."""
    if not isinstance(data, dict):
        return {}
    on = data.get("on", data.get(True))
    if isinstance(on, str):
        return {on: ""}
    if isinstance(on, list):
        return {str(e): "" for e in on}
    if isinstance(on, dict):
        return {str(k): repr(v) if v else "" for k, v in on.items()}
    return {}


def check(view: ChangeView) -> list[Finding]:
    if not view.has_base:
        return []
    out: list[Finding] = []
    for f in view.files:
        old = f.old_path or f.path
        if not (is_ci_file(old) or is_ci_file(f.path)) or f.status is FileStatus.ADDED:
            continue
        base_text = view.base_text(f)
        if base_text is None:
            continue
        head_text = view.head_text(f.path) if f.status is not FileStatus.DELETED else None
        try:
            base_data = load_yaml(base_text)
            base_steps = steps(old, base_data)
        except Unchecked:
            continue  # the base was already unreadable: nothing this change removed can be told
        try:
            head_data = load_yaml(head_text) if head_text is not None else None
            head_steps = steps(f.path, head_data) if head_text is not None else []
        except Unchecked as exc:
            out.append(
                finding(
                    UNCHECKED, Severity.HIGH, f.path, 0, f"the agent stage could not read {f.path}: {exc}",
                    "file not checked",
                )
            )  # fmt: skip
            continue
        out += _compare(f.path, head_text, base_steps, head_steps)
        base_airlock = any(s.kind == "airlock" and not s.weakened for s in base_steps)
        if base_airlock and f.path.startswith(".github/workflows/") and head_text is not None:
            before, after = triggers(base_data), triggers(head_data)
            lost = [e for e in before if e not in after]
            narrowed = [e for e in before if e in after and after[e] != before[e]]
            if lost or narrowed:
                what = ", ".join([*(f"no longer on {e}" for e in lost), *(f"filters on {e} changed" for e in narrowed)])
                out.append(
                    finding(
                        AIRLOCK_WEAKENED, Severity.HIGH, f.path, _line(head_text, "on:"),
                        f"the change narrows when the workflow running airlock triggers: {what}",
                        "airlock step weakened", evidence=tuple(f"trigger: {e}" for e in lost + narrowed),
                    )
                )  # fmt: skip
    return out


def _compare(path: str, head_text: Text | None, base: list[Step], head: list[Step]) -> list[Finding]:
    out: list[Finding] = []
    live_head = {(s.kind, s.command) for s in head if not s.weakened}
    live_kinds = [s.kind for s in head if not s.weakened]
    for kind in ("airlock", "test"):
        lost = [s for s in base if s.kind == kind and not s.weakened and (s.kind, s.command) not in live_head]
        spare = live_kinds.count(kind) - sum(1 for s in base if s.kind == kind and not s.weakened) + len(lost)
        # A step whose command was only reworded still runs: count it as kept when head has as many live steps.
        lost = lost[max(0, spare) :]
        for s in lost:
            weak = next((h for h in head if h.kind == kind and s.command in h.command and h.weakened), None)
            how = f"weakens ({', '.join(weak.weakened)})" if weak else "removes"
            rule, title = (
                (AIRLOCK_WEAKENED, "airlock step removed or weakened") if kind == "airlock"
                else (TEST_REMOVED, "test step removed from CI")
            )  # fmt: skip
            line = (_line(head_text, s.command[:30]) or _line(head_text, s.command.split()[0])) if weak else 0
            out.append(
                finding(
                    rule, Severity.HIGH, path, line, f"the change {how} the {kind} step `{s.command[:120]}` in {path}",
                    title, snippet=s.command,
                )
            )  # fmt: skip
    return out


def _line(text: Text | None, needle: str) -> int:
    if text is None:
        return 0
    for i, line in enumerate(text.lines, 1):
        if needle in line:
            return i
    return 0
