"""Make sure the clone holds the merge base of the CI's base and HEAD, deepening a shallow clone if needed.

CI checkouts are shallow (actions/checkout fetches one commit, GitLab 20 or 50). A merge base computed in a
shallow clone can be wrong without git saying so: a commit reachable on a short path can stand in for the real
fork point hidden past the shallow boundary. So a merge base is accepted only when it is provably the real one:
it is the base or HEAD itself, or no shallow boundary commit lies between it and either tip. Otherwise the clone is
deepened (`git fetch --deepen`), a bounded number of times, each fetch with a timeout; then airlock stops (exit 2)
with the one-line fix. It never scans a range it could not prove.

This is the only module that writes to the user's repository (objects, FETCH_HEAD and a remote-tracking ref for the
target branch), and only when the history it needs is missing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from airlock.pipeline import proc
from airlock.pipeline.ci_env import CiBase
from airlock.pipeline.errors import UsageError
from airlock.pipeline.git import git_env

FETCH_TIMEOUT_S = 180.0
QUERY_TIMEOUT_S = 60.0
FIRST_DEPTH = 50
MAX_DEEPEN_ROUNDS = 6  # 50, 100, 200, 400, 800, 1600: about 3,150 commits past the first fetch
FIX = "fetch the full history (actions/checkout: 'fetch-depth: 0'; GitLab: 'GIT_DEPTH: 0') or pass --base"


@dataclass(frozen=True)
class Resolved:
    base: str  # the proven merge base: what the diff starts from
    base_tip: str  # the base commit the CI named (or --base resolved)
    head: str
    fetches: int  # how many fetches it took (0: the clone already had everything)


class _Repo:
    def __init__(self, root: Path, log: Callable[[str], None]) -> None:
        self.root = root
        self.env = git_env()
        self.log = log
        self.fetches = 0

    def run(self, *args: str, timeout: float = QUERY_TIMEOUT_S) -> proc.Completed:
        try:
            return proc.run(["git", *args], timeout_s=timeout, cwd=self.root, env=self.env)
        except proc.ToolMissing:
            raise UsageError("git not found: install git to run airlock ci") from None

    def ok(self, *args: str) -> str | None:
        done = self.run(*args)
        return done.stdout.strip() if done.returncode == 0 and not done.timed_out else None

    def commit(self, rev: str) -> str | None:
        return self.ok("rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}")

    def shallow(self) -> bool:
        return self.ok("rev-parse", "--is-shallow-repository") == "true"

    def shallow_commits(self) -> set[str]:
        path = self.ok("rev-parse", "--git-path", "shallow")
        if not path:
            return set()
        p = Path(path) if Path(path).is_absolute() else self.root / path
        try:
            return {line.strip() for line in p.read_text(encoding="ascii").splitlines() if line.strip()}
        except (OSError, UnicodeDecodeError):
            return set()

    def fetch(self, remote: str, *what: str, depth: str) -> None:
        argv = ["-c", "protocol.version=2", "fetch", "--quiet", "--no-tags", "--no-recurse-submodules",
                "--no-write-fetch-head", *([depth] if depth else []), "--end-of-options", remote, *what]
        self.fetches += 1
        self.log(f"airlock: fetching {' '.join(what)} from {remote} ({depth or 'full'})")
        done = self.run(*argv, timeout=FETCH_TIMEOUT_S)
        if done.timed_out:
            raise UsageError(f"git fetch from {remote} timed out after {FETCH_TIMEOUT_S:.0f}s; {FIX}")
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["failed"])[-1][:200]
            raise UsageError(f"git fetch from {remote} failed ({last}); {FIX}")


def _proven_merge_base(repo: _Repo, base: str, head: str) -> str | None:
    mb = repo.ok("merge-base", base, head)
    if mb is None:
        return None
    if mb in (base, head) or not repo.shallow():
        return mb
    boundary = repo.shallow_commits()
    if not boundary:
        return mb
    above = repo.ok("rev-list", head, base, f"^{mb}", "--")
    if above is None:
        return None
    return None if boundary & set(above.split()) else mb


def resolve(
    root: Path, ci: CiBase, *, remote: str = "origin", allow_fetch: bool = True, log: Callable[[str], None] = print
) -> Resolved:
    """The proven merge base of the CI's base and HEAD, fetching what is missing (unless allow_fetch is False)."""
    repo = _Repo(root, log)
    head = repo.commit("HEAD")
    if head is None:
        raise UsageError(f"{root} has no HEAD commit: run airlock ci in a checkout of the change")

    def need_fetch(what: str) -> None:
        if not allow_fetch:
            raise UsageError(f"{what} is not in this clone and --offline forbids fetching it; {FIX}")
        if repo.ok("remote", "get-url", "--", remote) is None:
            raise UsageError(f"{what} is not in this clone and there is no remote {remote!r}; {FIX}")

    depth = f"--depth={FIRST_DEPTH}" if repo.shallow() else ""
    base = _base_commit(repo, ci, remote, depth, need_fetch, allow_fetch)
    if ci.merge_sha is not None and head == ci.merge_sha:
        base = _merge_parent(repo, base, head, remote, need_fetch)
    for attempt in range(MAX_DEEPEN_ROUNDS + 1):
        mb = _proven_merge_base(repo, base, head)
        if mb is not None:
            return Resolved(mb, base, head, repo.fetches)
        if not repo.shallow():  # complete history and still no merge base: unrelated histories
            raise UsageError(
                f"{ci.describe()}: no common history with HEAD ({head[:12]}); is the base on the same repository?"
            )
        if attempt == MAX_DEEPEN_ROUNDS:
            break
        need_fetch(f"the merge base of {base[:12]} and HEAD")
        repo.fetch(remote, base, head, depth=f"--deepen={FIRST_DEPTH << attempt}")
    raise UsageError(
        f"the merge base of {ci.describe()} and HEAD is not in this shallow clone after {repo.fetches} fetch(es); {FIX}"
    )


def _merge_parent(repo: _Repo, base: str, head: str, remote: str, need_fetch: Callable[[str], None]) -> str:
    """On GitHub's test-merge checkout the change is HEAD against its first parent (the base it was merged onto).
    A payload's base sha can be older than that parent: diffing from it would count the base branch's newer
    commits as the change's. Only for HEAD == GITHUB_SHA: a pull request's own merge commit (main merged into the
    branch) checked out by sha must not shrink the range to its last merge."""
    if head in repo.shallow_commits():  # a depth-1 checkout: the merge's parents are not here yet
        need_fetch(f"the parents of HEAD ({head[:12]})")
        repo.fetch(remote, head, depth="--deepen=1")
    parents = (repo.ok("rev-list", "--parents", "-n", "1", head, "--") or "").split()[1:]
    if len(parents) != 2 or parents[0] == base:
        return base
    repo.log(f"airlock: HEAD is GitHub's test merge onto {parents[0][:12]}, not {base[:12]}: diffing from the former")
    return parents[0]


def _base_commit(
    repo: _Repo, ci: CiBase, remote: str, depth: str, need_fetch: Callable[[str], None], allow_fetch: bool
) -> str:
    if ci.sha:
        found = repo.commit(ci.sha)
        if found:
            return found
        need_fetch(f"base commit {ci.sha[:12]}")
        repo.fetch(remote, ci.sha, depth=depth)
        found = repo.commit(ci.sha)
        if found:
            return found
        raise UsageError(f"base commit {ci.sha[:12]} ({ci.source}) could not be fetched from {remote}; {FIX}")
    assert ci.ref is not None
    if ci.provider == "cli":
        found = repo.commit(ci.ref)
        if found:
            return found
        raise UsageError(f"--base {ci.ref!r}: unknown revision; name a branch, tag or commit that exists here")
    tracking = f"refs/remotes/{remote}/{ci.ref}"
    if repo.ok("check-ref-format", tracking) is None:
        raise UsageError(f"{ci.source} {ci.ref!r} is not a valid branch name; pass --base")
    if not allow_fetch and repo.commit(tracking):
        return str(repo.commit(tracking))  # offline: the tracking ref as this clone has it
    need_fetch(f"target branch {ci.ref}")
    # The branch's current tip, not a stale tracking ref: the merge request is against the branch as it is now.
    repo.fetch(remote, f"+refs/heads/{ci.ref}:{tracking}", depth=depth)
    found = repo.commit(tracking)
    if found is None:
        raise UsageError(f"target branch {ci.ref} could not be fetched from {remote}; {FIX}")
    return found
