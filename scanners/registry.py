"""Every scanner airlock knows, in one list. Adding a tool means adding a module and a line here."""

from __future__ import annotations

from airlock.scanners.agent.scanner import AgentScanner
from airlock.scanners.agent.vulns import TrivyDepsScanner
from airlock.scanners.bandit import BanditScanner
from airlock.scanners.checkov import CheckovScanner
from airlock.scanners.interface import Scanner
from airlock.scanners.runtime.scanner import RuntimeScanner
from airlock.scanners.semgrep import SemgrepScanner
from airlock.scanners.trivy_image import TrivyImageScanner
from airlock.scanners.trivy_secret import TrivySecretScanner


def all_scanners() -> list[Scanner]:
    return [
        SemgrepScanner(),
        BanditScanner(),
        TrivySecretScanner(),
        CheckovScanner(),
        TrivyImageScanner(),
        RuntimeScanner(),
        AgentScanner(),
        TrivyDepsScanner(),
    ]
