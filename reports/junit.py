"""JUnit XML: one test case per stage and one per new gating finding, for CI test tabs."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET  # noqa: S405 - we only build and serialise XML, never parse it

from airlock.pipeline.models import Report
from airlock.reports import view
from airlock.reports.escape import clean

# Characters XML 1.0 cannot carry at all; escaping cannot save them, so they are replaced.
_NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def x(text: str) -> str:
    """Untrusted text for an XML attribute or element: the shared policy, then what XML 1.0 can carry."""
    return _NOT_XML.sub("\ufffd", clean(text, keep_newlines=True))


class JunitWriter:
    name = "junit"

    def render(self, report: Report) -> str:
        gating = view.gating(report)
        cases = []
        for s in report.stages:
            case = ET.Element("testcase", classname=f"airlock.{s.name}", name=f"stage {s.name}",
                              time=f"{s.duration_s:.3f}")
            tools = ", ".join(f"{t.tool} {t.version}".strip() for t in s.tools)
            if s.status == "error":
                err = ET.SubElement(case, "error", message=x(s.error[:1000] or "stage errored"))
                err.text = x(s.error)
            elif s.status == "failed":
                n = sum(1 for f in gating if f.stage == s.name)
                ET.SubElement(case, "failure", message=f"{n} new gating finding(s)", type="gate")
            elif s.status == "skipped":
                ET.SubElement(case, "skipped", message="no tool applied to the change")
            if tools:
                ET.SubElement(case, "system-out").text = x(tools)
            cases.append(case)
        failed = report.gate.verdict == "failed"
        for f in gating:
            loc = f"{f.path}:{f.start_line}" if f.start_line else (f.path or "(no file)")
            case = ET.Element("testcase", classname=x(f"airlock.{f.stage}.{f.tool}"), name=x(f"{f.rule_id} at {loc}"),
                              time="0", file=x(f.path))
            if f.start_line:
                case.set("line", str(f.start_line))
            text = f"{f.severity.label}: {f.message}"
            if f.snippet:
                text += "\n\n" + f.snippet
            if failed:
                node = ET.SubElement(case, "failure", message=x(f"{f.severity.label}: {f.message[:500]}"),
                                     type=x(f.rule_id))
                node.text = x(text)
            else:  # tolerated by max_new: shown, not failing
                ET.SubElement(case, "system-out").text = x(text)
            cases.append(case)
        suite = ET.Element(
            "testsuite",
            name="airlock",
            tests=str(len(cases)),
            failures=str(sum(1 for c in cases if c.find("failure") is not None)),
            errors=str(sum(1 for c in cases if c.find("error") is not None)),
            skipped=str(sum(1 for c in cases if c.find("skipped") is not None)),
            timestamp=report.generated_at,
        )
        suite.extend(cases)
        root = ET.Element("testsuites", name="airlock")
        root.append(suite)
        ET.indent(root)
        return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
