"""Score airlock's sast stage on the project's own labelled corpus (fixtures/corpus).

One `airlock scan --stages sast` over a copy of fixtures/corpus/files, then per file and per class:
a vulnerable file of class C is a true positive when some finding in it belongs to C; a safe file of
class C is a false positive when some finding in it belongs to C. Findings of other classes are not
counted against a file (the benchmark style: TPR − FPR per category).

Two levels are scored: `any` counts every unsuppressed finding, `gate` only those at or above the
default gate threshold (high), i.e. what fails a default `airlock scan`.

    python benchmarks/score_corpus.py            # print the table
    python benchmarks/score_corpus.py --write    # also store it as fixtures/corpus/expected-scores.json
    python benchmarks/score_corpus.py --expected --markdown   # the committed table, as the README shows it
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "fixtures" / "corpus"
EXPECTED = CORPUS / "expected-scores.json"
SEVERITY_RANK = {"info": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}
LEVELS = {"any": "info", "gate": "high"}

# related CWEs, onto the corpus classes
CWE_CLASS = {
    "CWE-601": "open-redirect",
    "CWE-89": "sql-injection", "CWE-564": "sql-injection",
    "CWE-113": "header-injection", "CWE-93": "header-injection", "CWE-644": "header-injection",
    "CWE-1333": "regex-injection", "CWE-730": "regex-injection", "CWE-625": "regex-injection",
    "CWE-117": "log-injection",
    "CWE-943": "nosql-injection",
    "CWE-90": "ldap-injection",
    "CWE-611": "xxe", "CWE-776": "xxe", "CWE-827": "xxe",
    "CWE-79": "xss", "CWE-80": "xss",
    "CWE-643": "xpath-injection",
    "CWE-501": "trust-boundary",
    "CWE-614": "insecure-cookie", "CWE-1004": "insecure-cookie", "CWE-1275": "insecure-cookie",
    "CWE-22": "path-traversal", "CWE-23": "path-traversal", "CWE-36": "path-traversal",
    "CWE-73": "path-traversal",
    "CWE-78": "command-injection", "CWE-77": "command-injection", "CWE-88": "command-injection",
    "CWE-502": "deserialization",
    "CWE-918": "ssrf",
    "CWE-94": "code-injection", "CWE-95": "code-injection",
    "CWE-327": "weak-hash", "CWE-328": "weak-hash", "CWE-916": "weak-hash", "CWE-759": "weak-hash",
    "CWE-330": "weak-random", "CWE-338": "weak-random",
}
# bandit tests whose CWE is generic (CWE-20) or names another class than the flaw they report
RULE_CLASS = {
    "B506": "deserialization", "B301": "deserialization", "B302": "deserialization", "B403": "deserialization",
    "B310": "ssrf", "B102": "code-injection", "B307": "code-injection",
    "B313": "xxe", "B314": "xxe", "B315": "xxe", "B316": "xxe", "B317": "xxe", "B318": "xxe", "B319": "xxe",
    "B320": "xxe", "B405": "xxe", "B406": "xxe", "B407": "xxe", "B408": "xxe", "B409": "xxe", "B410": "xxe",
    "B703": "xss", "B704": "xss", "B308": "xss",
    "B113": "", "B104": "", "B108": "", "B603": "", "B404": "",
}


def finding_classes(f: dict[str, Any]) -> set[str]:
    rules = [s["rule_id"] for s in f.get("sources") or []] or [f["rule_id"]]
    classes = {RULE_CLASS[r] for r in rules if r in RULE_CLASS}
    if any(r not in RULE_CLASS for r in rules):
        classes |= {CWE_CLASS[c] for c in f.get("cwe", []) if c in CWE_CLASS}
    return classes - {""}


def run_scan(corpus: Path, out: Path) -> dict[str, Any]:
    """One real `airlock scan --stages sast`; exit 1 (gate failed) is the expected outcome."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SEMGREP_ENABLE_VERSION_CHECK": "0", "SEMGREP_SEND_METRICS": "off"}
    report = out / "report.json"
    done = subprocess.run(
        [sys.executable, "-m", "airlock", "scan", str(corpus), "--stages", "sast", "--offline",
         "--json-output", str(report), "--output", str(out / "report.txt")],
        cwd=out, env=env, capture_output=True, text=True, timeout=1800, check=False,
    )
    if done.returncode not in (0, 1) or not report.is_file():
        raise SystemExit(f"airlock scan exited {done.returncode}: {done.stderr.strip()[-2000:]}")
    data: dict[str, Any] = json.loads(report.read_text(encoding="utf-8"))
    return data


def _ratio(a: int, b: int) -> float:
    return round(a / b, 3) if b else 0.0


def score(labels: dict[str, dict[str, Any]], findings: list[dict[str, Any]], level: str) -> dict[str, Any]:
    floor = SEVERITY_RANK[LEVELS[level]]
    seen: dict[str, set[str]] = {}
    for f in findings:
        if f.get("suppressed") or SEVERITY_RANK.get(f["severity"], 0) < floor:
            continue
        seen.setdefault(f["path"], set()).update(finding_classes(f))
    per: dict[str, dict[str, Any]] = {}
    for path, label in sorted(labels.items()):
        c = per.setdefault(label["class"], {"tp": 0, "fp": 0, "fn": 0, "tn": 0})
        hit = label["class"] in seen.get(path, set())
        key = ("tp" if hit else "fn") if label["vulnerable"] else ("fp" if hit else "tn")
        c[key] += 1
    for c in per.values():
        c["precision"] = _ratio(c["tp"], c["tp"] + c["fp"])
        c["recall"] = _ratio(c["tp"], c["tp"] + c["fn"])
        c["tpr_fpr"] = round(c["recall"] - _ratio(c["fp"], c["fp"] + c["tn"]), 3)
    tp, fp, fn = (sum(c[k] for c in per.values()) for k in ("tp", "fp", "fn"))
    precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    f1 = round(2 * precision * recall / (precision + recall), 3) if precision + recall else 0.0
    mean = round(sum(c["tpr_fpr"] for c in per.values()) / len(per), 3)
    return {"classes": per, "overall": {"precision": precision, "recall": recall, "f1": f1, "mean_tpr_fpr": mean}}


def score_corpus(report_file: Path | None = None) -> dict[str, Any]:
    labels = json.loads((CORPUS / "labels.json").read_text(encoding="utf-8"))
    if report_file is not None:  # score a JSON report of an earlier scan of the corpus
        report = json.loads(report_file.read_text(encoding="utf-8"))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            corpus = Path(tmp) / "corpus"
            shutil.copytree(CORPUS / "files", corpus, ignore=shutil.ignore_patterns("__pycache__"))
            report = run_scan(corpus, Path(tmp))
    findings = report["findings"]
    return {level: score(labels, findings, level) for level in LEVELS}


def table(scores: dict[str, Any]) -> str:
    lines = []
    for level, s in scores.items():
        lines.append(f"level {level} (severity >= {LEVELS[level]})")
        lines.append(f"{'class':20} {'tp':>3} {'fp':>3} {'fn':>3} {'tn':>3} {'prec':>6} {'recall':>6} {'tpr-fpr':>7}")
        for name, c in sorted(s["classes"].items()):
            lines.append(f"{name:20} {c['tp']:3} {c['fp']:3} {c['fn']:3} {c['tn']:3} "
                         f"{c['precision']:6.2f} {c['recall']:6.2f} {c['tpr_fpr']:7.2f}")
        o = s["overall"]
        lines.append(f"overall: precision {o['precision']:.2f}, recall {o['recall']:.2f}, F1 {o['f1']:.2f}, "
                     f"mean TPR-FPR {o['mean_tpr_fpr']:.2f}\n")
    return "\n".join(lines)


def _precision(c: dict[str, Any]) -> str:
    return f"{c['precision']:.2f}" if c["tp"] + c["fp"] else "–"  # nothing flagged: undefined, not 0


def markdown(scores: dict[str, Any]) -> str:
    """The per-class table the README shows: what fails the default gate, then every finding."""
    gate, every = scores["gate"], scores["any"]
    lines = [
        "| class | vulnerable / safe files | gate: precision | recall | TPR − FPR | any finding: precision | recall "
        "| TPR − FPR |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    rows = [*sorted(gate["classes"].items()), ("**overall**", None)]
    for name, c in rows:
        if c is None:
            g, a = gate["overall"], every["overall"]
            lines.append(f"| {name} | | {g['precision']:.2f} | {g['recall']:.2f} | {g['mean_tpr_fpr']:.2f} (mean) "
                         f"| {a['precision']:.2f} | {a['recall']:.2f} | {a['mean_tpr_fpr']:.2f} (mean) |")
            continue
        e = every["classes"][name]
        lines.append(f"| {name} | {c['tp'] + c['fn']} / {c['fp'] + c['tn']} | {_precision(c)} | "
                     f"{c['recall']:.2f} | {c['tpr_fpr']:.2f} | {_precision(e)} | {e['recall']:.2f} | "
                     f"{e['tpr_fpr']:.2f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--write", action="store_true", help=f"store the figures in {EXPECTED.relative_to(ROOT)}")
    ap.add_argument("--report", type=Path, help="score this JSON report of a corpus scan instead of scanning")
    ap.add_argument("--expected", action="store_true", help="print the committed table instead of scanning")
    ap.add_argument("--markdown", action="store_true", help="print the table as Markdown (the README's)")
    args = ap.parse_args()
    scores = json.loads(EXPECTED.read_text(encoding="utf-8")) if args.expected else score_corpus(args.report)
    print(markdown(scores) if args.markdown else table(scores))
    if args.write:
        EXPECTED.write_text(json.dumps(scores, indent=1, sort_keys=True) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
