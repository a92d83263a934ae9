"""airlock.docker.curl-pipe-shell: a Dockerfile RUN that pipes a download straight into a shell."""

from __future__ import annotations

import re
from typing import Any

from checkov.common.models.enums import CheckCategories, CheckResult
from checkov.dockerfile.base_dockerfile_check import BaseDockerfileCheck

# curl/wget output piped (possibly through sudo/env) into sh, bash, zsh, dash, ash, ksh or python.
PIPE_TO_SHELL = re.compile(
    r"\b(?:curl|wget)\b[^|;&]*\|\s*(?:sudo\s+(?:-\S+\s+)*)?(?:env\s+)?(?:/\S*/)?(?:ba|z|da|a|k)?sh\b"
    r"|\b(?:curl|wget)\b[^|;&]*\|\s*(?:sudo\s+)?(?:/\S*/)?python[0-9.]*\b"
)


class CurlPipeShell(BaseDockerfileCheck):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__(
            name="Do not pipe a download into a shell in a Dockerfile (unverified remote code at build time)",
            id="airlock.docker.curl-pipe-shell",
            categories=(CheckCategories.SUPPLY_CHAIN,),
            supported_instructions=("RUN",),
        )

    # checkov takes its line range from the instruction returned, so one instruction, not the list.
    def scan_resource_conf(  # type: ignore[override]
        self, conf: list[dict[str, Any]]
    ) -> tuple[CheckResult, dict[str, Any] | None]:
        for instruction in conf:
            if PIPE_TO_SHELL.search(str(instruction.get("value", ""))):
                return CheckResult.FAILED, instruction
        return CheckResult.PASSED, None


check = CurlPipeShell()
