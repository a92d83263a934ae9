"""Every scanner airlock knows, in one list. Adding a tool means adding a module and a line here."""

from __future__ import annotations

from scanners.bandit import BanditScanner
from scanners.checkov import CheckovScanner
from scanners.interface import Scanner
from scanners.runtime.scanner import RuntimeScanner
from scanners.semgrep import SemgrepScanner
from scanners.trivy_image import TrivyImageScanner
from scanners.trivy_secret import TrivySecretScanner


def all_scanners() -> list[Scanner]:
    return [
        SemgrepScanner(),
        BanditScanner(),
        TrivySecretScanner(),
        CheckovScanner(),
        TrivyImageScanner(),
        RuntimeScanner(),
    ]
