"""Edits to the files that decide who or what checks the code: CI, hooks, code owners, agent instructions.

Like edits to airlock's own policy, a change to these is for a human to review: the agent that wrote the
change must not also rewrite its reviewers, its CI or the instructions the next agent reads.
"""

from __future__ import annotations

import fnmatch

from airlock.pipeline.models import ChangedFile, FileStatus, Finding, Severity
from airlock.scanners.agent.view import ChangeView, finding

CI_EDIT = "agent.ci-edit"
REVIEW_EDIT = "agent.review-config-edit"
INSTRUCTIONS_EDIT = "agent.instructions-edit"

_CI = (
    ".github/workflows/*", ".github/actions/*", ".gitlab-ci.yml", ".gitlab-ci/*", ".circleci/*", "Jenkinsfile",
    "azure-pipelines.yml", ".travis.yml", "bitbucket-pipelines.yml", ".buildkite/*", ".pre-commit-config.yaml",
    ".pre-commit-hooks.yaml",
)  # fmt: skip
_REVIEW = (
    "CODEOWNERS", ".github/CODEOWNERS", "docs/CODEOWNERS", ".gitlab/CODEOWNERS", ".github/settings.yml",
    ".github/rulesets/*", ".github/branch-protection*", ".github/dependabot.yml", "renovate.json",
)  # fmt: skip
_INSTRUCTIONS = (
    "AGENTS.md", "*/AGENTS.md", "CLAUDE.md", "*/CLAUDE.md", "GEMINI.md", ".cursorrules", ".cursor/rules/*",
    ".cursor/mcp.json", ".windsurfrules", ".clinerules", ".clinerules/*", ".github/copilot-instructions.md",
    ".github/instructions/*", ".github/prompts/*", ".mcp.json", ".vscode/mcp.json", ".vscode/tasks.json",
    ".vscode/launch.json", ".vscode/settings.json", ".claude/*", ".aider.conf.yml", ".continue/*",
)  # fmt: skip

_FAMILIES = (
    (CI_EDIT, _CI, "a CI definition or hook config", "CI definition edited"),
    (REVIEW_EDIT, _REVIEW, "the code owners or branch protection", "code owners or branch protection edited"),
    (INSTRUCTIONS_EDIT, _INSTRUCTIONS, "agent instructions or agent tool configuration", "agent instructions edited"),
)


def family(rel: str) -> tuple[str, str, str] | None:
    for rule, patterns, what, title in _FAMILIES:
        if any(fnmatch.fnmatchcase(rel, p) for p in patterns):
            return rule, what, title
    return None


def _verb(f: ChangedFile) -> str:
    return {FileStatus.ADDED: "adds", FileStatus.DELETED: "deletes", FileStatus.RENAMED: "renames"}.get(
        f.status, "edits"
    )


def check(view: ChangeView) -> list[Finding]:
    if not view.has_base:
        return []
    out = []
    for f in view.files:
        hit = family(f.path) or (family(f.old_path) if f.old_path else None)
        if hit is None:
            continue
        rule, what, title = hit
        line = f.added_lines[0][0] if f.added_lines and f.status is not FileStatus.DELETED else 0
        out.append(
            finding(
                rule, Severity.MEDIUM, f.path, line,
                f"the change {_verb(f)} {f.path}, {what}: a human should review who or what checks the code",
                title,
            )
        )  # fmt: skip
    return out
