"""airlock.gha.pr-target-checkout: pull_request_target plus a checkout of the pull request's head.

pull_request_target runs with the base repository's secrets and a write token; checking out the PR head
then runs the attacker's code with them ("pwn request").
"""

from __future__ import annotations

import re
from typing import Any

from checkov.common.models.enums import CheckResult
from checkov.github_actions.checks.base_github_action_check import BaseGithubActionsCheck
from checkov.yaml_doc.enums import BlockType

HEAD_REF = re.compile(
    r"github\.event\.pull_request\.head\.(?:sha|ref)|github\.head_ref|github\.event\.pull_request\.merge_commit_sha"
    r"|refs/pull/"
)


def _triggers(workflow: dict[Any, Any]) -> set[str]:
    on = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` key as true
    if isinstance(on, str):
        return {on}
    if isinstance(on, list):
        return {str(x) for x in on}
    if isinstance(on, dict):
        return {str(k) for k in on}
    return set()


class PullRequestTargetCheckout(BaseGithubActionsCheck):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__(
            name="Do not check out the pull request head in a pull_request_target workflow",
            id="airlock.gha.pr-target-checkout",
            block_type=BlockType.ARRAY,
            supported_entities=("[@]",),  # the whole workflow: the trigger and the steps together
        )

    def scan_conf(self, conf: dict[str, Any]) -> tuple[CheckResult, dict[str, Any]]:
        if not isinstance(conf, dict) or "pull_request_target" not in _triggers(conf):
            return CheckResult.PASSED, conf
        jobs = conf.get("jobs") or {}
        for job in jobs.values() if isinstance(jobs, dict) else []:
            steps = job.get("steps") if isinstance(job, dict) else None
            for step in steps if isinstance(steps, list) else []:
                if not isinstance(step, dict) or "actions/checkout" not in str(step.get("uses", "")):
                    continue
                ref = (step.get("with") or {}).get("ref", "") if isinstance(step.get("with"), dict) else ""
                if HEAD_REF.search(str(ref)):
                    return CheckResult.FAILED, step
        return CheckResult.PASSED, conf


check = PullRequestTargetCheckout()
