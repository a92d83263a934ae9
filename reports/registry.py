"""Every report format, by its --format name."""

from __future__ import annotations

from reports.interface import ReportWriter
from reports.json import JsonWriter
from reports.sarif import SarifWriter
from reports.text import TextWriter

FORMATS = ("text", "json", "sarif")


def writer_for(name: str, *, color: bool = False) -> ReportWriter:
    if name == "text":
        return TextWriter(color=color)
    if name == "json":
        return JsonWriter()
    if name == "sarif":
        return SarifWriter()
    raise ValueError(f"unknown format {name!r}")
