"""Text aimed at AI reviewers or agents: instructions to ignore rules, approve, run commands, fetch and execute.

A line scores its signals: who it addresses, what it tells them to do, and markers of a prompt format. Text
that discusses the attack (documentation of prompt injection, quoted examples) loses points. A score of 3
or more is a finding. The weights are measured against a labelled set with safe look-alikes
(fixtures/agent/aimed-text.jsonl, tests/test_agent_aimed_text.py prints precision and recall).
"""

from __future__ import annotations

import re

from airlock.pipeline.models import Finding, Severity
from airlock.scanners.agent.view import finding

AIMED = "agent.aimed-text"
THRESHOLD = 3
MAX_LINE = 2000  # longer lines are scored on their first 2000 characters

_I = re.IGNORECASE
SIGNALS: tuple[tuple[str, int, re.Pattern[str]], ...] = (
    ("addresses an AI", 1, re.compile(
        r"(?<![/.\w-])(ai|llms?|language models?|assistants?|agents?|copilot|claude|chatgpt|gpt-?\d*|gemini|cursor"
        r"|(?:code[- ]|automated |ai )?reviewers?|review bots?|you are an?)(?![/.]?\w)", _I)),
    ("tells it to ignore its instructions", 3, re.compile(
        r"(?<![-\w])(ignore|disregard|forget)\b.{0,30}?\b(previous|prior|above|earlier|all|any|your|system)\b"
        r".{0,20}?\b(instructions?|prompts?|guidelines?|directives?)\b", _I)),
    ("tells it to ignore its rules", 2, re.compile(
        r"(?<![-\w])(ignore|disregard|bypass|override)\b.{0,40}?\b(all|any|your|the|these|security|previous)\b"
        r".{0,30}?\b(rules?|polic(?:y|ies)|findings?|warnings?|checks?)\b", _I)),
    ("tells it to approve or stay silent", 2, re.compile(
        r"\b(approve (?:this|the|it)\b.{0,30}?\b(?:without|immediately|regardless|now)|mark (?:this|it|the)(?: \w+)? as"
        r" (?:safe|approved|secure|reviewed)|report no (?:issues|findings|problems|vulnerabilities)"
        r"|(?:do not|don't|never) (?:flag|report|mention|comment on)|(?:it|this|the \w+) is safe to (?:merge|approve)"
        r"|merge (?:this|it) (?:without|immediately|regardless)|respond (?:only )?with lgtm)\b", _I)),
    ("tells it to run something", 2, re.compile(
        r"\b(run|execute|exec)\b.{0,30}?\b(following|these) (commands?|scripts?|code)\b"
        r"|\b(fetch|download|curl|wget)\b.{0,60}?\b(and|then)\b.{0,10}?\b(run|execute|exec|eval|pipe)", _I)),
    ("pipes a download into a shell", 2, re.compile(
        r"\b(curl|wget)\b[^|\n]{0,200}\|\s*(sudo\s+)?(sh|bash|zsh|python3?|perl)\b", _I)),
    ("imitates a prompt format", 3, re.compile(
        r"(<\|?(?:system|im_start|im_end)\|?>|\[/?INST\]|^\W*#{2,}\s*(?:system|instructions?)\s*:?\s*$"
        r"|\b(?:begin|new) (?:system|admin|hidden) (?:prompt|instructions?)|\bimportant[:!]? (?:note )?(?:to|for) "
        r"(?:the |any )?(?:ai|agent|assistant|llm|reviewer|model)s?\b)", _I | re.MULTILINE)),
)
# Markers of text that discusses the attack rather than commits it.
DISCUSSION = re.compile(
    r"\b(prompt[- ]injection|injection attacks?|jailbreaks?|attackers?|adversar\w*|malicious|for example|e\.g\."
    r"|such as|like this|an? (?:example|attack|payload)|detect\w*|recogni[sz]\w*|beware|be wary|watch out"
    r"|defen[cd]\w*|mitigat\w*|threat model|text aimed at|instructions to)\b",
    _I,
)
_CLOSE = {'"': '"', "'": "'", "`": "`", "\u201c": "\u201d", "\u2018": "\u2019"}


def quoted_spans(text: str) -> list[str]:
    """Quoted passages of 8+ characters, in one pass (a regex with backtracking would be quadratic here)."""
    out: list[str] = []
    i = 0
    while i < len(text):
        close = _CLOSE.get(text[i])
        if close is None:
            i += 1
            continue
        end = text.find(close, i + 1)
        if end == -1:
            i += 1
            continue
        if end - i - 1 >= 8:
            out.append(text[i : end + 1])
        i = end + 1
    return out


def score(line: str) -> tuple[int, list[str]]:
    text = line[:MAX_LINE]
    hits = [(why, w) for why, w, rx in SIGNALS if rx.search(text)]
    total = sum(w for _why, w in hits)
    if not any(w >= 2 for _why, w in hits):
        return 0, []  # addressing an AI alone is not an instruction
    if DISCUSSION.search(text):
        total -= 3
    quoted = " ".join(quoted_spans(text))
    # A quote that is most of the line is the line's own text (a JSON value), not a citation inside it.
    if quoted and len(quoted) < 0.6 * len(text.strip()) and any(rx.search(quoted) for _why, w, rx in SIGNALS if w >= 2):
        total -= 2  # the instruction is quoted: cited, not given
    return total, [why for why, _w in hits]


def is_aimed(line: str) -> bool:
    return score(line)[0] >= THRESHOLD


def line_findings(path: str, lineno: int, line: str) -> list[Finding]:
    total, why = score(line)
    if total < THRESHOLD:
        return []
    return [
        finding(
            AIMED, Severity.HIGH, path, lineno,
            f"an added line reads as instructions to an AI reviewer or agent ({'; '.join(why)})",
            "text aimed at an AI reviewer or agent", snippet=line.strip()[:300],
        )
    ]  # fmt: skip
