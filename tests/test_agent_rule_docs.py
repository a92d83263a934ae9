"""Every agent.* rule id the code can emit is documented in docs/rules/agent.md, with a severity and rationale."""

from __future__ import annotations

import re

from tests.conftest import ROOT


def test_every_agent_rule_id_is_documented() -> None:
    code = "".join(p.read_text() for d in ("scanners/agent", "pipeline") for p in (ROOT / d).rglob("*.py"))
    emitted = set(re.findall(r'"(agent\.[a-z-]+)"', code))
    doc = (ROOT / "docs" / "rules" / "agent.md").read_text()
    rows = set(re.findall(r"^\| `(agent\.[a-z-]+)` \| [^|]+ \| .{20,} \|$", doc, re.MULTILINE))
    assert len(emitted) >= 30
    assert emitted - rows == set()
    assert rows - emitted == set()
