"""Change intake: turn a directory, a revision range, a patch or the index into one Change."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from pathlib import Path

from airlock.pipeline import proc
from airlock.pipeline.errors import UsageError
from airlock.pipeline.git import INDEX, Git, TreeEntry, git_env
from airlock.pipeline.models import Change, ChangedFile, FileStatus, Finding, Severity
from airlock.pipeline.policy import file_reader, load_repo_policy
from airlock.pipeline.workspace import (
    DEFAULT_EXCLUDED_DIRS,
    copy_tree_files,
    materialize_entries,
    temp_dir,
    walk_files,
)

EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"  # git's well-known empty tree

# Files whose edits could loosen the gate; in diff modes they are read from the base revision.
TRUSTED_CONFIG_FILES = ("airlock.toml", "pyproject.toml", ".airlock-waivers.toml", ".airlock-baseline.json")


@contextmanager
def open_change(
    path: Path,
    *,
    base: str | None = None,
    head: str | None = None,
    patch: Path | None = None,
    staged: bool = False,
    full_base: bool | None = None,
) -> Iterator[Change]:
    """Yield a Change whose workspaces live until the with-block ends (also on Ctrl-C).

    full_base: also check out the whole base (for [runtime] compare_base); None lets the base's own policy decide.
    """
    root = path.resolve()
    if not root.is_dir():
        raise UsageError(f"{path} is not a directory: name the repository or directory to scan")
    if sum(x is not None and x is not False for x in (base, patch, staged or None)) > 1:
        raise UsageError("--base, --patch and --staged exclude each other: pick one way to name the change")
    if head is not None and base is None:
        raise UsageError("--head needs --base: name the revision the change starts from")
    with ExitStack() as stack:
        if patch is not None:
            yield _patch_change(root, patch, stack, full_base)
        elif base is not None:
            yield _diff_change(root, base, head or "HEAD", stack, mode="diff", full_base=full_base)
        elif staged:
            yield _diff_change(root, "HEAD", INDEX, stack, mode="staged", full_base=full_base)
        else:
            yield _full_change(root, stack)


def _full_change(root: Path, stack: ExitStack) -> Change:
    top = Git.toplevel(root)
    failed: list[tuple[str, str]] = []
    if top is not None and top == root:
        rels = [r for r in Git(root).worktree_files() if not _excluded(r)]
    else:
        rels = walk_files(root, failed)
    ws = stack.enter_context(temp_dir("head"))
    copied, notes = copy_tree_files(root, rels, ws, failed)
    files = tuple(ChangedFile(r, FileStatus.ADDED) for r in copied)
    return Change(
        root=root,
        mode="full",
        base=None,
        head=None,
        files=files,
        workspace=ws,
        notes=tuple(notes),
        policy_dir=root,
        findings=unscanned_findings(failed),
    )


def unscanned_findings(failed: list[tuple[str, str]]) -> tuple[Finding, ...]:
    """Intake's own airlock.unscanned findings: content of the change that no tool can be shown."""
    return tuple(
        Finding(
            stage="sast",
            tool="airlock",
            rule_id="airlock.unscanned",
            message=f"no tool scanned {rel or 'part of the change'}: {why}",
            severity=Severity.HIGH,
            path=rel,
            title="file not scanned",
            evidence=("tool: every tool (intake could not materialise it)", f"reason: {why}"),
        )
        for rel, why in sorted(set(failed))
    )


def _excluded(rel: str) -> bool:
    return any(part in DEFAULT_EXCLUDED_DIRS for part in rel.split("/")[:-1])


def _diff_change(
    root: Path,
    base: str,
    head: str,
    stack: ExitStack,
    *,
    mode: str,
    display_root: Path | None = None,
    git: Git | None = None,
    full_base: bool | None = None,
) -> Change:
    if git is None:
        top = Git.toplevel(root)
        if top is None:
            raise UsageError(f"{root} is not a git repository: --base and --staged need one")
        git = Git(top)
    head_rev = INDEX if head == INDEX else git.resolve(head)
    if head_rev == INDEX and not git.has_commits():
        base_rev = EMPTY_TREE  # the first commit of a new repository: everything staged is new
    else:
        base_rev = git.resolve(base)
    merge_base = base_rev if head_rev == INDEX else git.merge_base(base_rev, head_rev)
    files = git.changed_files(merge_base, head_rev)

    ws = stack.enter_context(temp_dir("head"))
    failed: list[tuple[str, str]] = []
    changed = {f.path for f in files if f.status is not FileStatus.DELETED}
    head_entries = git.entries(head_rev)
    notes = materialize_entries(git, head_rev, [e for e in head_entries if e.path in changed], ws, failed)
    base_ws = stack.enter_context(temp_dir("base"))
    # Deleted files too: the agent stage compares what a change removed (a test file) with nothing.
    deleted = {f.path for f in files if f.status is FileStatus.DELETED}
    old_paths = sorted({f.old_path for f in files if f.old_path} | deleted)
    notes += materialize_entries(git, merge_base, git.entries(merge_base, old_paths), base_ws)
    # The policy, waivers and baseline come from the base: an agent's change cannot loosen its own gate.
    policy_dir = stack.enter_context(temp_dir("policy"))
    present = [e.path for e in git.entries(merge_base, list(TRUSTED_CONFIG_FILES))]
    materialize_entries(git, merge_base, git.entries(merge_base, present), policy_dir)
    _materialize_rule_files(git, merge_base, policy_dir)
    base_tree = None
    if full_base or (full_base is None and _base_compares_runtime(policy_dir)):
        base_tree = stack.enter_context(temp_dir("base-tree"))
        tree_notes = materialize_entries(git, merge_base, git.entries(merge_base), base_tree)
        notes += [f"base checkout: {n}" for n in tree_notes]
    return Change(
        root=display_root or git.root,
        mode=mode,
        base=merge_base,
        head=head_rev,
        files=tuple(files),
        workspace=ws,
        base_workspace=base_ws,
        base_tree=base_tree,
        notes=tuple(notes),
        policy_dir=policy_dir,
        findings=unscanned_findings([(p, why) for p, why in failed if p in changed]),
        fill=_filler(git, head_rev, [e for e in head_entries if e.path not in changed], ws),
    )


def _filler(git: Git, rev: str, rest: list[TreeEntry], ws: Path) -> Callable[[], tuple[str, ...]]:
    """Writes the unchanged files of the head into ws on the first call (what fails there is no file of the
    change, so it is a note, not airlock.unscanned)."""
    pending = [rest]

    def fill() -> tuple[str, ...]:
        if not pending:
            return ()
        failed: list[tuple[str, str]] = []
        notes = materialize_entries(git, rev, pending.pop(), ws, failed)
        return tuple(notes + [f"not written to the workspace: {p} ({why})" for p, why in failed])

    return fill


def _base_compares_runtime(policy_dir: Path) -> bool:
    """The base's own policy (read from git objects) asks for [runtime] compare_base."""
    try:
        return load_repo_policy(file_reader(policy_dir), policy_dir).runtime.compare_base
    except UsageError:
        return False  # the CLI loads the same policy next and reports the error


def _materialize_rule_files(git: Git, rev: str, policy_dir: Path) -> None:
    """Rule files the base policy names come from the base too: the agent's checkout may have neutered them."""
    try:
        policy = load_repo_policy(file_reader(policy_dir), policy_dir)
    except UsageError:
        return  # the CLI loads the same policy next and reports the error
    top = policy_dir.resolve()
    rels = sorted({Path(r).relative_to(top).as_posix() for t in policy.tools.values() for r in t.rules} - {"."})
    materialize_entries(git, rev, git.entries(rev, rels), policy_dir)


_ISOLATED_GIT = {
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,  # no user hooks, filters or aliases in the scratch repo
    "GIT_AUTHOR_NAME": "airlock",
    "GIT_AUTHOR_EMAIL": "airlock@localhost",
    "GIT_COMMITTER_NAME": "airlock",
    "GIT_COMMITTER_EMAIL": "airlock@localhost",
}


def _patch_change(root: Path, patch: Path, stack: ExitStack, full_base: bool | None = None) -> Change:
    """Snapshot root into a scratch repository, commit, apply the patch there, and diff."""
    try:
        patch_text = patch.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read patch {patch}: {exc.strerror}") from None
    scratch = stack.enter_context(temp_dir("patch"))
    top = Git.toplevel(root)
    failed: list[tuple[str, str]] = []
    rels = (
        [r for r in Git(root).worktree_files() if not _excluded(r)]
        if top is not None and top == root
        else walk_files(root, failed)
    )
    # A `.git` file or directory from the input (`gitdir: ../../victim/.git`) would make the scratch repository's
    # own git calls land in another repository: none is copied, and the scratch repository's git dir lives outside
    # its work tree, named explicitly on every call (GIT_DIR / GIT_WORK_TREE).
    dropped = [r for r in rels if ".git" in r.split("/")]
    rels = [r for r in rels if ".git" not in r.split("/")]
    _copied, notes = copy_tree_files(root, rels, scratch, failed)
    notes += [f"skipped {r}: a .git entry is never copied into a scratch repository" for r in dropped[:20]]
    # Not part of the change (the patch applies on top); a patch touching them does not apply at all.
    notes += [f"the base snapshot lacks {rel or 'part of the tree'}: {why}" for rel, why in failed]
    git_dir = stack.enter_context(temp_dir("patch-git"))
    git = Git(scratch, env={**_ISOLATED_GIT, "GIT_DIR": str(git_dir), "GIT_WORK_TREE": str(scratch)})
    env = git.env
    for argv in (
        ["git", "init", "-q"],
        ["git", "add", "-A", "--", "."],
        ["git", "commit", "-q", "--no-verify", "--allow-empty", "-m", "base"],
    ):
        done = proc.run(argv, timeout_s=120, cwd=scratch, env=env)
        if done.returncode != 0:
            raise UsageError(f"could not snapshot {root} for the patch: {done.stderr.strip()[:300]}")
    done = proc.run(
        ["git", "apply", "--index", "--whitespace=nowarn", "-"], timeout_s=120, cwd=scratch, env=env, stdin=patch_text
    )
    if done.returncode != 0:
        first = (done.stderr.strip().splitlines() or ["unknown error"])[0]
        raise UsageError(f"patch {patch} does not apply to {root}: {first}")
    done = proc.run(
        ["git", "commit", "-q", "--no-verify", "--allow-empty", "-m", "head"], timeout_s=120, cwd=scratch, env=env
    )
    if done.returncode != 0:
        raise UsageError(f"could not record the patched tree: {done.stderr.strip()[:300]}")
    change = _diff_change(
        scratch, "HEAD~1", "HEAD", stack, mode="patch", display_root=root, git=git, full_base=full_base
    )
    return replace(change, mode="patch", base=None, head=None, notes=tuple(notes) + change.notes)


__all__ = ["open_change", "git_env"]
