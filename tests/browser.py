"""Headless Chromium for the HTML tests: Debian's binary driven by playwright, with the flags a closed network needs
(without the background-networking ones Chromium keeps trying to reach Google's hosts)."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]


def playwright_sync_api() -> ModuleType:
    """playwright's sync API; call at module level: a missing browser or playwright skips the module loudly."""
    api = pytest.importorskip(
        "playwright.sync_api", reason="LOUD: playwright is missing; install the 'test' extra (.ci/run does)"
    )
    if not Path(CHROMIUM).exists():  # pragma: no cover - .ci/run installs it
        pytest.skip(f"LOUD: {CHROMIUM} is missing; apt-get install chromium (.ci/run does)", allow_module_level=True)
    return api
