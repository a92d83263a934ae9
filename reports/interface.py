"""The one interface every report writer implements. Writers render; they never decide."""

from __future__ import annotations

from typing import Protocol

from airlock.pipeline.models import Report


class ReportWriter(Protocol):
    name: str  # the --format value

    def render(self, report: Report) -> str: ...
