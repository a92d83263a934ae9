"""Obfuscation and blobs: encoded payloads fed to exec/eval or a shell, high-entropy literals, binaries added
to source directories, and executable bits on files that are not scripts (git's tree modes, base vs head)."""

from __future__ import annotations

import ast
import math
import re
from collections import Counter

from airlock.pipeline.models import ChangedFile, FileStatus, Finding, Severity
from airlock.scanners.agent import lexed
from airlock.scanners.agent.view import ChangeView, Text, finding

ENCODED_EXEC = "agent.encoded-exec"
HIGH_ENTROPY = "agent.high-entropy-string"
BINARY = "agent.binary-added"
EXEC_BIT = "agent.exec-bit-added"

_BARE_SINKS = {"exec", "eval", "compile", "__import__", "execfile"}
_MODULE_SINKS = {
    "builtins": _BARE_SINKS, "__builtins__": _BARE_SINKS,
    "os": {"system", "popen", "execv", "execve", "execl", "spawnl", "spawnv"},
    "subprocess": {"run", "call", "check_call", "check_output", "Popen", "getoutput", "getstatusoutput"},
    "importlib": {"import_module"},
}  # fmt: skip
_DECODERS = {
    "b64decode", "b32decode", "b16decode", "b85decode", "a85decode", "urlsafe_b64decode", "standard_b64decode",
    "decodebytes", "decodestring", "fromhex", "unhexlify", "a2b_base64", "a2b_hex", "decompress",
}  # fmt: skip
_CODE_LOADERS = {"marshal.loads", "pickle.loads", "dill.loads", "cloudpickle.loads"}
_CODECS = re.compile(r"^(rot.?13|base64|hex|zlib|bz2|uu|quopri)", re.IGNORECASE)
_SHELL = re.compile(
    r"base64\s+(?:-d|-D|--decode)\b[^\n]{0,80}\|\s*(?:sudo\s+)?(?:ba|z|da|k)?sh\b"
    r"|\|\s*base64\s+(?:-d|-D|--decode)\b\s*\|\s*(?:sudo\s+)?(?:(?:ba|z|da|k)?sh|python3?|perl|node)\b"
    r"|\beval\s+[\"']?\$\((?:echo|printf)[^)]{0,400}\|\s*(?:base64|xxd|openssl)\b"
    r"|\bxxd\s+-r\s+-p\b[^\n]{0,80}\|\s*(?:ba|z)?sh\b"
    r"|\bpowershell(?:\.exe)?\b[^\n]{0,40}\s-e(?:nc(?:odedcommand)?)?\s+[A-Za-z0-9+/=]{20,}",
    re.IGNORECASE,
)
_ASSET_DIRS = {
    "docs", "doc", "assets", "static", "images", "img", "media", "fonts", "public", "fixtures", "testdata",
    "resources", "data", "icons", ".github",
}  # fmt: skip
_ASSET_EXT = (
    ".png", ".jpg", ".jpeg", ".gif", ".ico", ".svg", ".webp", ".bmp", ".pdf", ".woff", ".woff2", ".ttf", ".otf",
    ".eot", ".mp3", ".mp4", ".wav", ".ogg", ".webm",
)  # fmt: skip
_CODE_EXT = (".so", ".dll", ".dylib", ".pyc", ".pyo", ".class", ".jar", ".whl", ".egg", ".exe", ".node", ".wasm", ".o")
ENTROPY_MIN_LEN = 64
ENTROPY_BITS = 4.5  # bits per character; base64 of random bytes is near 6, English prose near 4
HEX_ENTROPY_BITS = 3.5  # hex digits top out at 4 bits
_HEX = re.compile(r"^[0-9a-fA-F]+$")
_ENCODED = re.compile(r"^[A-Za-z0-9+/=_-]+$")  # base64, base64url, hex: what a payload or key is written in


def entropy(s: str) -> float:
    if not s:
        return 0.0
    n = len(s)
    return -sum(c / n * math.log2(c / n) for c in Counter(s).values())


def high_entropy(s: str) -> bool:
    s = s.strip()
    if len(s) < ENTROPY_MIN_LEN or not _ENCODED.match(s):
        return False  # prose, regexes and format strings are not encoded blobs
    return entropy(s) >= (HEX_ENTROPY_BITS if _HEX.match(s) else ENTROPY_BITS)


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Call):
        return _dotted(node.func)
    return ""


def _decodes(node: ast.AST, tainted: set[str]) -> str | None:
    """What decoding an expression does, if any: a decoder call, a codec .decode(), chr-joins, or a tainted name."""
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name) and sub.id in tainted:
            return f"{sub.id} (decoded above)"
        if not isinstance(sub, ast.Call):
            continue
        name = _dotted(sub.func)
        last = name.rsplit(".", 1)[-1]
        if last in _DECODERS or name in _CODE_LOADERS:
            return name
        if last in ("decode", "encode") and sub.args:
            arg = sub.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and _CODECS.match(arg.value):
                return f"{name}({arg.value!r})"
        if last == "join" and sub.args and any(isinstance(n, ast.Name) and n.id == "chr" for n in ast.walk(sub)):
            return "''.join(chr(...))"
        if name in ("bytes", "bytearray") and sub.args and isinstance(sub.args[0], (ast.List, ast.Tuple)):
            if len(sub.args[0].elts) >= 16:
                return f"{name}([...])"
    return None


def _is_sink(call: ast.Call) -> bool:
    name = _dotted(call.func)
    mod, _, last = name.rpartition(".")
    return last in _BARE_SINKS if not mod else last in _MODULE_SINKS.get(mod.split(".")[-1], set())


def python_findings(path: str, tree: ast.Module, added: set[int]) -> list[Finding]:
    tainted: set[str] = set()
    out: list[Finding] = []
    doc_lines = _docstring_lines(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and _decodes(node.value, set()):
            tainted |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    for node in ast.walk(tree):
        line = getattr(node, "lineno", 0)
        if line not in added:
            continue
        if isinstance(node, ast.Call) and _is_sink(node):
            how = next((d for a in [*node.args, *(k.value for k in node.keywords)] if (d := _decodes(a, tainted))),
                       None)
            if how:
                out.append(
                    finding(
                        ENCODED_EXEC, Severity.HIGH, path, line,
                        f"{_dotted(node.func)}() runs what {how} decodes: code a reviewer cannot read",
                        "encoded payload executed", snippet=ast.unparse(node)[:200],
                    )
                )  # fmt: skip
        elif (
            isinstance(node, ast.Constant) and isinstance(node.value, str) and line not in doc_lines
            and high_entropy(node.value)
        ):  # fmt: skip
            out.append(_high_entropy(path, line, node.value))
    return out


def _high_entropy(path: str, line: int, value: str) -> Finding:
    return finding(
        HIGH_ENTROPY, Severity.MEDIUM, path, line,
        f"an added string literal of {len(value)} characters looks random "
        f"({entropy(value.strip()):.1f} bits per character): an encoded payload or a secret?",
        "high-entropy string literal", snippet=value[:60] + "...",
    )  # fmt: skip


def _docstring_lines(tree: ast.Module) -> set[int]:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                out.add(first.value.lineno)
    return out


def _shell_findings(path: str, text: Text, added: set[int]) -> list[Finding]:
    return [
        finding(
            ENCODED_EXEC, Severity.HIGH, path, n,
            "an added line decodes a payload and hands it to a shell or interpreter", "encoded payload executed",
            snippet=text.lines[n - 1].strip(),
        )  # fmt: skip
        for n in sorted(added)
        if n <= len(text.lines) and _SHELL.search(text.lines[n - 1][:4000])
    ]


def kind_of_binary(rel: str, raw: bytes) -> tuple[Severity, str] | None:
    """(severity, what) for a binary file worth a finding; None for text and for ordinary assets."""
    if raw.startswith(b"\x7fELF"):
        return Severity.HIGH, "an ELF executable or library"
    if raw.startswith(b"MZ"):
        return Severity.HIGH, "a Windows executable"
    if raw[:4] in (b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe"):
        return Severity.HIGH, "a Mach-O executable"
    if raw[:4] == b"\xca\xfe\xba\xbe":
        return Severity.HIGH, "a Java class or Mach-O fat binary"
    if raw.startswith(b"\0asm"):
        return Severity.HIGH, "a WebAssembly module"
    if rel.endswith(_CODE_EXT):
        return Severity.HIGH, "compiled code"
    if len(raw) >= 4 and raw[2:4] == b"\r\n" and rel.endswith((".pyc", ".pyo")):
        return Severity.HIGH, "Python bytecode"
    try:
        raw[:65536].decode("utf-8")
        if b"\0" not in raw[:8192]:
            return None
    except UnicodeDecodeError as exc:
        if exc.start >= 65530 and b"\0" not in raw[:8192]:
            return None  # a multi-byte character cut by the sample's end
    parts = rel.split("/")
    if rel.lower().endswith(_ASSET_EXT) or any(p in _ASSET_DIRS for p in parts[:-1]):
        return None
    return Severity.MEDIUM, "a binary file"


def _binary(view: ChangeView, f: ChangedFile) -> list[Finding]:
    raw = view.head(f.path)
    if raw is None or f.status is not FileStatus.ADDED:
        return []
    kind = kind_of_binary(f.path, raw)
    if kind is None:
        return []
    sev, what = kind
    return [
        finding(
            BINARY, sev, f.path, 0, f"the change adds {what} that no reviewer can read",
            "binary file added",
        )
    ]


def _exec_bit(view: ChangeView, f: ChangedFile) -> list[Finding]:
    if not view.executable(view.head_root, f.path):
        return []
    old = f.path if f.status is FileStatus.MODIFIED else f.old_path
    if f.status is not FileStatus.ADDED and view.executable(view.base_root, old):
        return []
    raw = view.head(f.path) or b""
    if raw.startswith(b"#!") or kind_of_binary(f.path, raw) is not None:
        return []  # a script says how it runs; a binary is its own finding
    return [
        finding(
            EXEC_BIT, Severity.MEDIUM, f.path, 0,
            f"the change makes {f.path} executable, but it is not a script (no #! line): run, a shell would "
            "interpret it", "executable bit on a non-script",
        )
    ]  # fmt: skip


def check(view: ChangeView) -> list[Finding]:
    out: list[Finding] = []
    for f in view.live():
        if view.has_base:
            out += _binary(view, f) + _exec_bit(view, f)
        got = view.added_text(f)
        if got is None:
            continue
        text, added = got
        if f.path.endswith(".py"):
            try:
                tree = ast.parse(text.text)
            except (SyntaxError, ValueError, RecursionError, MemoryError):
                tree = None
            if tree is not None:
                out += python_findings(f.path, tree, added)
        elif lexed.lexable(f.path):
            out += [
                _high_entropy(f.path, n, value)
                for n, kind, value in lexed.tokens(f.path, text.lines, added)
                if kind == "string" and high_entropy(value)
            ]
        seen = {x.start_line for x in out if x.path == f.path and x.rule_id == ENCODED_EXEC}
        out += [x for x in _shell_findings(f.path, text, added) if x.start_line not in seen]
    return out
