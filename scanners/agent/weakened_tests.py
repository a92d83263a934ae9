"""Weakened tests, from the Python AST of the base and head versions of each changed test file.

A failing test an agent cannot fix can be deleted, skipped, emptied of asserts, made tautological, or
have its expected value edited to whatever the new implementation returns. Each is reported with the test's name.
"""

from __future__ import annotations

import ast
import copy
import re
from collections.abc import Iterator
from dataclasses import dataclass

from airlock.pipeline.models import ChangedFile, FileStatus, Finding, Severity
from airlock.scanners.agent.view import ChangeView, Text, finding

DELETED = "agent.test-deleted"
SKIPPED = "agent.test-skipped"
ASSERT_REMOVED = "agent.assert-removed"
TAUTOLOGY = "agent.assert-tautology"
EXPECTATION = "agent.test-expectation-changed"
UNPARSABLE = "agent.test-unparsable"

_TEST_DIRS = {"test", "tests", "testing"}
_SKIP_NAMES = {"skip", "skipif", "xfail", "skipIf", "skipUnless", "expectedFailure", "skipTest"}
_ASSERT_CALL = re.compile(r"^(assert|fail)[A-Z_]|^assert$|^raises$|^warns$|^approx$")


def is_test_file(rel: str) -> bool:
    if not rel.endswith(".py"):
        return False
    parts = rel.split("/")
    name = parts[-1]
    return (
        name.startswith("test_") or name.endswith("_test.py") or name == "conftest.py"
        or any(p in _TEST_DIRS for p in parts[:-1])
    )  # fmt: skip


@dataclass(frozen=True)
class TestFn:
    name: str  # "test_x" or "TestClass::test_x"
    node: ast.FunctionDef | ast.AsyncFunctionDef

    @property
    def line(self) -> int:
        return self.node.lineno


def parse(text: Text | None) -> ast.Module | None:
    if text is None:
        return None
    try:
        return ast.parse(text.text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def test_functions(tree: ast.Module) -> dict[str, TestFn]:
    out: dict[str, TestFn] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test"):
            out[node.name] = TestFn(node.name, node)
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            for sub in node.body:
                if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef)) and sub.name.startswith("test"):
                    out[f"{node.name}::{sub.name}"] = TestFn(f"{node.name}::{sub.name}", sub)
    return out


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Call):
        return _dotted(node.func)
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    if isinstance(node, ast.Name):
        return node.id
    return ""


def _is_skip(node: ast.AST) -> bool:
    return _dotted(node).split(".")[-1] in _SKIP_NAMES


def skip_markers(fn: TestFn) -> list[tuple[int, str]]:
    """Skip/xfail decorators and skip calls in the body, as (line, source-ish text)."""
    out = [(d.lineno, _dotted(d)) for d in fn.node.decorator_list if _is_skip(d)]
    for sub in _walk_body(fn.node):
        if isinstance(sub, ast.Call) and _is_skip(sub.func):
            out.append((sub.lineno, _dotted(sub)))
    return out


def _module_skips(tree: ast.Module) -> list[tuple[int, str]]:
    out = []
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "pytestmark" for t in node.targets):
            if any(_is_skip(n) for n in ast.walk(node.value)):
                out.append((node.lineno, "pytestmark"))
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call) and _is_skip(node.value.func):
            out.append((node.lineno, _dotted(node.value)))
    return out


def _walk_body(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> Iterator[ast.AST]:
    for stmt in fn.body:
        yield from ast.walk(stmt)


def asserts(fn: TestFn) -> list[ast.AST]:
    """assert statements and assertion calls (self.assertEqual, pytest.raises, mock.assert_called_with, ...)."""
    out: list[ast.AST] = []
    for sub in _walk_body(fn.node):
        if isinstance(sub, ast.Assert):
            out.append(sub)
        elif isinstance(sub, ast.Call) and _ASSERT_CALL.search(_dotted(sub.func).split(".")[-1]):
            out.append(sub)
    return out


def _truthy_constant(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and bool(node.value)


def is_tautology(node: ast.AST) -> bool:
    """assert True, assert 1, assert x == x, assertTrue(True), assertEqual(x, x)."""
    if isinstance(node, ast.Assert):
        test = node.test
        if _truthy_constant(test):
            return True
        if isinstance(test, ast.Compare) and len(test.ops) == 1:
            same = ast.dump(test.left) == ast.dump(test.comparators[0])
            return same and isinstance(test.ops[0], (ast.Eq, ast.Is, ast.LtE, ast.GtE, ast.In))
        return False
    if isinstance(node, ast.Call):
        name = _dotted(node.func).split(".")[-1]
        if name in ("assertTrue", "assert_") and node.args and _truthy_constant(node.args[0]):
            return True
        if name in ("assertEqual", "assertEquals", "assertIs", "assertLessEqual") and len(node.args) >= 2:
            return ast.dump(node.args[0]) == ast.dump(node.args[1])
    return False


class _Blank(ast.NodeTransformer):
    def visit_Constant(self, node: ast.Constant) -> ast.AST:  # noqa: N802 - the ast visitor's name
        return ast.Constant(value="<const>")


def _shape(node: ast.AST) -> str:
    return ast.dump(_Blank().visit(copy.deepcopy(node)))


def _body_key(fn: TestFn) -> str:
    return ast.dump(ast.Module(body=fn.node.body, type_ignores=[]))


def check(view: ChangeView) -> list[Finding]:
    if not view.has_base:
        return []  # every check here compares with a base
    tests = [f for f in view.files if is_test_file(f.path) or (f.old_path and is_test_file(f.old_path))]
    if not tests:
        return []
    impl_changed = any(
        f.path.endswith(".py") and not is_test_file(f.path) and f.status is not FileStatus.ADDED for f in view.files
    )
    pairs: list[tuple[ChangedFile, dict[str, TestFn], dict[str, TestFn], ast.Module | None]] = []
    out: list[Finding] = []
    for f in tests:
        base_tree = parse(view.base_text(f))
        head_text = view.head_text(f.path) if f.status is not FileStatus.DELETED else None
        head_tree = parse(head_text)
        if f.status is not FileStatus.DELETED and head_tree is None and head_text is not None and base_tree:
            out.append(
                finding(
                    UNPARSABLE, Severity.HIGH, f.path, 0,
                    f"{f.path} no longer parses as Python, so none of its {len(test_functions(base_tree))} tests "
                    "can run", "test file made unparsable",
                )
            )  # fmt: skip
            continue
        base_fns = test_functions(base_tree) if base_tree else {}
        # Moved out of the test paths, its tests are no longer collected: as good as deleted.
        head_fns = test_functions(head_tree) if head_tree and is_test_file(f.path) else {}
        if f.status is FileStatus.RENAMED and not is_test_file(f.path) and base_fns:
            out.append(
                finding(
                    DELETED, Severity.HIGH, f.path, 0,
                    f"the change moves {f.old_path} to {f.path}, outside the test paths, so its {len(base_fns)} "
                    f"test(s) no longer run: {_names(list(base_fns))}", "test file moved out of the test paths",
                    evidence=tuple(f"test: {n}" for n in list(base_fns)[:20]),
                )
            )  # fmt: skip
            continue
        pairs.append((f, base_fns, head_fns, head_tree))
    # A test removed in one place and added with the same body elsewhere was renamed or moved, not deleted.
    added_bodies = {_body_key(fn) for _f, b, h, _t in pairs for name, fn in h.items() if name not in b}
    for f, base_fns, head_fns, head_tree in pairs:
        gone = [n for n, fn in base_fns.items() if n not in head_fns and _body_key(fn) not in added_bodies]
        if f.status is FileStatus.DELETED and gone:
            out.append(
                finding(
                    DELETED, Severity.HIGH, f.path, 0,
                    f"the change deletes the test file {f.path} with {len(gone)} test(s): {_names(gone)}",
                    "test file deleted", evidence=tuple(f"test: {n}" for n in gone[:20]),
                )
            )  # fmt: skip
            continue
        for name in gone:
            out.append(
                finding(
                    DELETED, Severity.HIGH, f.path, 0,
                    f"the change deletes the test {name} from {f.path} (line {base_fns[name].line} at the base)",
                    "test deleted", evidence=(f"test: {name}",),
                )
            )  # fmt: skip
        if head_tree is not None and f.status is not FileStatus.ADDED:
            base_text = view.base_text(f)
            base_tree = parse(base_text)
            base_mod = {t for _l, t in _module_skips(base_tree)} if base_tree else set()
            for line, what in _module_skips(head_tree):
                if what not in base_mod:
                    out.append(
                        finding(
                            SKIPPED, Severity.HIGH, f.path, line,
                            f"the change skips every test in {f.path} ({what})", "tests skipped",
                            evidence=tuple(f"test: {n}" for n in list(head_fns)[:20]),
                        )
                    )  # fmt: skip
        for name, fn in head_fns.items():
            old = base_fns.get(name)
            if old is None:
                out += _tautologies(f.path, name, asserts(fn), set())
                continue
            out += _compare(f.path, name, old, fn, impl_changed)
    return out


def _names(names: list[str]) -> str:
    return ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")


def _tautologies(path: str, name: str, head: list[ast.AST], base_dumps: set[str]) -> list[Finding]:
    return [
        finding(
            TAUTOLOGY, Severity.HIGH, path, a.lineno,  # type: ignore[attr-defined]
            f"the test {name} now asserts something that is always true: {ast.unparse(a)[:120]}",
            "assert replaced by a tautology", snippet=ast.unparse(a), evidence=(f"test: {name}",),
        )  # fmt: skip
        for a in head
        if is_tautology(a) and ast.dump(a) not in base_dumps
    ]


def _compare(path: str, name: str, old: TestFn, new: TestFn, impl_changed: bool) -> list[Finding]:
    out: list[Finding] = []
    old_skips = {what for _l, what in skip_markers(old)}
    for line, what in skip_markers(new):
        if what not in old_skips:
            out.append(
                finding(
                    SKIPPED, Severity.HIGH, path, line, f"the change adds {what} to the test {name}",
                    "test skipped or marked xfail", evidence=(f"test: {name}",),
                )
            )  # fmt: skip
    a_old, a_new = asserts(old), asserts(new)
    out += _tautologies(path, name, a_new, {ast.dump(a) for a in a_old})
    real_old = [a for a in a_old if not is_tautology(a)]
    real_new = [a for a in a_new if not is_tautology(a)]
    if len(real_new) < len(real_old):
        out.append(
            finding(
                ASSERT_REMOVED, Severity.HIGH, path, new.line,
                f"the test {name} lost {len(real_old) - len(real_new)} of its {len(real_old)} assertion(s)",
                "assertions removed from a test", evidence=(f"test: {name}",),
            )
        )  # fmt: skip
    elif impl_changed and len(real_new) == len(real_old):
        for a, b in zip(real_old, real_new, strict=True):
            if ast.dump(a) != ast.dump(b) and _shape(a) == _shape(b):
                out.append(
                    finding(
                        EXPECTATION, Severity.MEDIUM, path, b.lineno,  # type: ignore[attr-defined]
                        f"the test {name} changes an expected value in the same change as the code it tests: "
                        f"{ast.unparse(a)[:80]} -> {ast.unparse(b)[:80]}",
                        "expected value changed with the implementation", snippet=ast.unparse(b),
                        evidence=(f"test: {name}",),
                    )
                )  # fmt: skip
    return out
