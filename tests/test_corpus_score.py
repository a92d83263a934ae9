"""The sast stage on airlock's own labelled corpus (fixtures/corpus) scores no worse than the committed table.

One real `airlock scan --stages sast` (semgrep, bandit, trivy) over the corpus; the figures are
deterministic for pinned tool versions. When a rule change moves them, rerun
`python benchmarks/score_corpus.py --write` and commit fixtures/corpus/expected-scores.json with it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from benchmarks.score_corpus import CORPUS, EXPECTED, LEVELS, score, score_corpus

FIGURES = ("precision", "recall", "tpr_fpr")


@pytest.fixture(scope="module")
def measured() -> dict[str, Any]:
    return score_corpus()


def test_corpus_is_labelled_and_balanced() -> None:
    labels = json.loads((CORPUS / "labels.json").read_text(encoding="utf-8"))
    files = {p.relative_to(CORPUS / "files").as_posix() for p in (CORPUS / "files").rglob("*.py")}
    assert files == set(labels), "every corpus file has exactly one label"
    assert len(labels) >= 300
    vulnerable = sum(1 for v in labels.values() if v["vulnerable"])
    assert 0.4 <= vulnerable / len(labels) <= 0.6
    assert all(v["cwe"].startswith("CWE-") for v in labels.values())
    assert len({v["class"] for v in labels.values()}) >= 19


def test_per_class_figures_do_not_fall_below_the_committed_table(measured: dict[str, Any]) -> None:
    expected = json.loads(EXPECTED.read_text(encoding="utf-8"))
    drops = []
    for level in LEVELS:
        for name, want in expected[level]["classes"].items():
            got = measured[level]["classes"][name]
            drops += [f"{level}/{name}/{k}: {got[k]} < {want[k]}" for k in FIGURES if got[k] < want[k] - 1e-9]
        for k in ("precision", "recall", "f1", "mean_tpr_fpr"):
            if measured[level]["overall"][k] < expected[level]["overall"][k] - 1e-9:
                drops.append(f"{level}/overall/{k}: {measured[level]['overall'][k]} < {expected[level]['overall'][k]}")
    assert not drops, "detection got worse on the corpus:\n" + "\n".join(drops)


def test_scoring_counts_per_file_per_class(tmp_path: Path) -> None:
    labels = {
        "a.py": {"class": "sql-injection", "vulnerable": True, "cwe": "CWE-89"},
        "b.py": {"class": "sql-injection", "vulnerable": False, "cwe": "CWE-89"},
        "c.py": {"class": "xxe", "vulnerable": True, "cwe": "CWE-611"},
    }
    findings = [
        {"path": "a.py", "rule_id": "B608", "cwe": ["CWE-89"], "severity": "high", "sources": []},
        {"path": "a.py", "rule_id": "x", "cwe": ["CWE-89"], "severity": "high", "sources": []},  # same file: one TP
        {"path": "b.py", "rule_id": "x", "cwe": ["CWE-89"], "severity": "medium", "sources": []},
        {"path": "c.py", "rule_id": "B314", "cwe": ["CWE-20"], "severity": "low", "sources": [],
         "suppressed": False},
    ]
    any_level = score(labels, findings, "any")
    assert any_level["classes"]["sql-injection"] == {
        "tp": 1, "fp": 1, "fn": 0, "tn": 0, "precision": 0.5, "recall": 1.0, "tpr_fpr": 0.0}
    assert any_level["classes"]["xxe"]["tp"] == 1  # bandit's CWE-20 xml test counts as xxe
    gate = score(labels, findings, "gate")
    assert gate["classes"]["sql-injection"]["fp"] == 0 and gate["classes"]["xxe"]["fn"] == 1
