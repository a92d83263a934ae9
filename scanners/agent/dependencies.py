"""Dependencies the change adds: look-alike names, unusual sources, package index changes and, online,
whether the package exists, how old it is and whether it runs install scripts.

Only what the change added is judged: a dependency the base already declared (same name, same source) is old.
In full mode nothing is old: every declared dependency counts as added.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from airlock.pipeline.models import ChangedFile, FileStatus, Finding, Severity
from airlock.pipeline.policy import AgentPolicy
from airlock.scanners.agent import lookalike, manifests
from airlock.scanners.agent.registry import Registry
from airlock.scanners.agent.view import ChangeView, finding

LOOKALIKE = "agent.dependency-lookalike"
SOURCE = "agent.dependency-source"
INDEX = "agent.package-index"
UNVERIFIED = "agent.dependency-unverified"
MISSING = "agent.dependency-missing"
YOUNG = "agent.dependency-young"
INSTALL_SCRIPTS = "agent.dependency-install-script"
UNCHECKED = "agent.unchecked"


def _parse(parser: manifests.Parser, text: str | None) -> manifests.Manifest | None:
    if text is None:
        return None
    try:
        return parser(text)
    except (manifests.Unparsable, RecursionError, ValueError):
        return None


def added_deps(view: ChangeView, f: ChangedFile) -> tuple[manifests.Manifest, list[manifests.Dep], list[Finding]]:
    parser = manifests.parser_for(f.path)
    empty = manifests.Manifest(())
    if parser is None:
        return empty, [], []
    head_text = view.head_text(f.path)
    head = _parse(parser, head_text.text if head_text else None)
    if head is None:
        if head_text is None and f.path not in view.too_large:
            return empty, [], []
        why = "too large" if f.path in view.too_large else "not parsable"
        return empty, [], [
            finding(
                UNCHECKED, Severity.HIGH, f.path, 0,
                f"the agent stage could not read the dependencies in {f.path} ({why}), so what it adds is unknown",
                "dependency manifest not checked",
            )
        ]  # fmt: skip
    base_text = view.base_text(f) if view.has_base else None
    base = _parse(parser, base_text.text if base_text else None) or empty
    old = {(d.key, d.source, d.where) for d in base.deps}
    return head, [d for d in head.deps if (d.key, d.source, d.where) not in old], []


def check(view: ChangeView, policy: AgentPolicy, today: dt.date | None = None) -> list[Finding]:
    out: list[Finding] = []
    registry = (
        Registry(policy.pypi_url, policy.npm_url, Path(policy.cache_dir) if policy.cache_dir else None,
                 go_url=policy.go_url)
        if policy.online else None
    )  # fmt: skip
    today = today or dt.datetime.now(dt.timezone.utc).date()
    for f in view.live():
        head, added, problems = added_deps(view, f)
        out += problems
        if f.status is not FileStatus.ADDED and view.has_base:
            base_text = view.base_text(f)
            parser = manifests.parser_for(f.path)
            base = _parse(parser, base_text.text if base_text else None) if parser else None
            old_indexes = {i for i, _n in base.indexes} if base else set()
        else:
            old_indexes = set()
        for index, line in head.indexes:
            if index not in old_indexes:
                out.append(
                    finding(
                        INDEX, Severity.HIGH, f.path, line,
                        f"the change adds a package index ({index}): packages may now come from somewhere else "
                        "than the public registry", "package index added",
                    )
                )  # fmt: skip
        for dep in added:
            out += _judge(f.path, dep, head.lockfile, registry, policy, today)
    return out


def _judge(
    path: str, dep: manifests.Dep, lockfile: bool, registry: Registry | None, policy: AgentPolicy, today: dt.date
) -> list[Finding]:
    label = f"{dep.name} ({dep.ecosystem})"
    like = lookalike.resembles(dep.ecosystem, dep.name)
    if like:
        return [
            finding(
                LOOKALIKE, Severity.HIGH, path, dep.line,
                f"the change adds {label}, a name close to the popular {like}: a typo or a typosquat",
                "dependency name imitates a popular package", evidence=(f"resembles: {like}",),
            )
        ]  # fmt: skip
    if dep.source != "registry":
        return [
            finding(
                SOURCE, Severity.MEDIUM, path, dep.line,
                f"the change adds {label} from a {dep.source} source ({dep.where[:200]}), outside the registry's "
                "review and pinning", "dependency from an unusual source",
            )
        ]  # fmt: skip
    if lockfile:
        return []  # a locked transitive package: its manifest entry carries the verdict
    info = registry.lookup(dep.ecosystem, dep.name) if registry else None
    if info is None or info.error:
        why = info.error if info else ("offline: set [agent] online = true or pass --online to look it up"
                                       if registry is None else f"no registry lookup for {dep.ecosystem}")
        return [
            finding(
                UNVERIFIED, Severity.INFO, path, dep.line, f"the change adds {label}; not verified ({why})",
                "dependency not verified",
            )
        ]  # fmt: skip
    if not info.exists:
        return [
            finding(
                MISSING, Severity.HIGH, path, dep.line,
                f"the change adds {label}, which does not exist in the registry: a hallucinated name anyone could "
                "register (slopsquatting)", "dependency does not exist",
            )
        ]  # fmt: skip
    out = []
    if info.first_release is not None:
        age = (today - info.first_release.date()).days
        if age < policy.min_package_age_days:
            out.append(
                finding(
                    YOUNG, Severity.MEDIUM, path, dep.line,
                    f"the change adds {label}, first published {age} day(s) ago (policy minimum "
                    f"{policy.min_package_age_days})", "dependency younger than the minimum age",
                )
            )  # fmt: skip
    if info.install_scripts:
        out.append(
            finding(
                INSTALL_SCRIPTS, Severity.MEDIUM, path, dep.line,
                f"the change adds {label}, whose latest version runs {', '.join(info.install_scripts)} scripts "
                "at install time", "dependency runs install scripts",
            )
        )  # fmt: skip
    return out
