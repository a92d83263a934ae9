"""Every report format, by its --format name."""

from __future__ import annotations

from airlock.reports.defectdojo import DefectDojoWriter
from airlock.reports.github import GithubWriter
from airlock.reports.gitlab_sast import GitlabSastWriter
from airlock.reports.html import HtmlWriter
from airlock.reports.interface import ReportWriter
from airlock.reports.json import JsonWriter
from airlock.reports.junit import JunitWriter
from airlock.reports.markdown import MarkdownWriter
from airlock.reports.sarif import SarifWriter
from airlock.reports.text import TextWriter

FORMATS = ("text", "json", "sarif", "github", "html", "markdown", "junit", "gitlab-sast", "defectdojo")


def writer_for(name: str, *, color: bool = False, link_base: str | None = None) -> ReportWriter:
    if name == "text":
        return TextWriter(color=color)
    if name == "github":
        return GithubWriter()
    if name == "html":
        return HtmlWriter()
    if name == "markdown":
        return MarkdownWriter(link_base=link_base)
    if name == "junit":
        return JunitWriter()
    if name == "json":
        return JsonWriter()
    if name == "sarif":
        return SarifWriter()
    if name == "gitlab-sast":
        return GitlabSastWriter()
    if name == "defectdojo":
        return DefectDojoWriter()
    raise ValueError(f"unknown format {name!r}")
