"""Which base a pull or merge request starts from, read from the CI environment (or --base).

GitHub Actions: GITHUB_BASE_REF names the target branch; the event payload (GITHUB_EVENT_PATH) gives the exact
base commit (`pull_request.base.sha`, or `merge_group.base_sha`). GitLab: CI_MERGE_REQUEST_DIFF_BASE_SHA is the
merge request's diff base, CI_MERGE_REQUEST_TARGET_BRANCH_NAME its target branch. Pure: it reads the mapping and the
payload file it is given, and never calls git.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from airlock.pipeline.errors import UsageError

MAX_EVENT_BYTES = 32 * 1024 * 1024  # GitHub caps webhook payloads at 25 MB
_SHA = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?")
# A branch name as it may appear in a refspec: git's own rules are checked later; this refuses what a refspec
# would read as syntax (':', '*', '^', '~', whitespace) and anything that looks like an option.
_BRANCH = re.compile(r"[A-Za-z0-9._/+@=-]{1,255}")


@dataclass(frozen=True)
class CiBase:
    """Where the change starts: an exact commit when the CI names one, else a branch to fetch and resolve."""

    provider: str  # "github", "gitlab" or "cli"
    sha: str | None  # the exact base commit
    ref: str | None  # the target branch (CI) or the revision given to --base
    source: str  # what named it, for messages: "GITHUB_BASE_REF and the event payload", "--base"
    # GitHub's test merge of the change into its base (GITHUB_SHA when GITHUB_REF is refs/pull/N/merge). When HEAD
    # is that commit, its first parent is the base the change was merged onto, whatever the payload says.
    merge_sha: str | None = None

    def describe(self) -> str:
        what = " ".join(x for x in ((self.ref or ""), f"({self.sha[:12]})" if self.sha else "") if x)
        return f"{what} from {self.source}"


def _sha(value: object, name: str) -> str | None:
    if value in (None, ""):
        return None
    text = str(value).strip().lower()
    if not _SHA.fullmatch(text):
        raise UsageError(f"{name} is not a commit id ({str(value)[:60]!r}); check the CI environment or pass --base")
    return text


def _branch(value: str | None, name: str) -> str | None:
    if not value:
        return None
    if not _BRANCH.fullmatch(value) or value.startswith(("-", "/")) or ".." in value or value.endswith((".lock", "/")):
        raise UsageError(f"{name} is not a branch name ({value[:60]!r}); check the CI environment or pass --base")
    return value


def _event(env: Mapping[str, str]) -> dict[str, object]:
    path = env.get("GITHUB_EVENT_PATH")
    if not path:
        return {}
    try:
        with Path(path).open("rb") as fh:
            raw = fh.read(MAX_EVENT_BYTES + 1)
    except OSError as exc:
        raise UsageError(f"GITHUB_EVENT_PATH {path}: {exc.strerror}; pass --base instead") from None
    if len(raw) > MAX_EVENT_BYTES:
        raise UsageError(f"GITHUB_EVENT_PATH {path} is larger than {MAX_EVENT_BYTES} bytes; pass --base instead")
    try:
        data = json.loads(raw)
    except ValueError:
        raise UsageError(f"GITHUB_EVENT_PATH {path} is not JSON; pass --base instead") from None
    return data if isinstance(data, dict) else {}


def _get(data: object, *keys: str) -> object:
    for k in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(k)
    return data


def _github(env: Mapping[str, str]) -> CiBase | None:
    event = _event(env)
    name = env.get("GITHUB_EVENT_NAME", "")
    if name == "merge_group":
        sha = _sha(_get(event, "merge_group", "base_sha"), "merge_group.base_sha in the event payload")
        ref = str(_get(event, "merge_group", "base_ref") or "").removeprefix("refs/heads/") or None
        if sha or ref:
            return CiBase("github", sha, _branch(ref, "merge_group.base_ref"), "the merge_group event payload")
        return None
    ref = _branch(env.get("GITHUB_BASE_REF"), "GITHUB_BASE_REF")
    sha = _sha(_get(event, "pull_request", "base", "sha"), "pull_request.base.sha in the event payload")
    if ref is None and sha is None:
        return None  # a push or a scheduled run: no pull request to take a base from
    source = "GITHUB_BASE_REF and the event payload" if sha else "GITHUB_BASE_REF"
    merge = None
    if re.fullmatch(r"refs/pull/\d+/merge", env.get("GITHUB_REF", "")):
        merge = _sha(env.get("GITHUB_SHA"), "GITHUB_SHA")
    return CiBase("github", sha, ref, source, merge)


def _gitlab(env: Mapping[str, str]) -> CiBase | None:
    ref = _branch(env.get("CI_MERGE_REQUEST_TARGET_BRANCH_NAME"), "CI_MERGE_REQUEST_TARGET_BRANCH_NAME")
    # Merged results pipelines and merge trains check out the change merged into the target branch's current tip
    # (CI_MERGE_REQUEST_TARGET_BRANCH_SHA, set only there); the diff base would add the target's newer commits.
    target = _sha(env.get("CI_MERGE_REQUEST_TARGET_BRANCH_SHA"), "CI_MERGE_REQUEST_TARGET_BRANCH_SHA")
    if target:
        return CiBase("gitlab", target, ref, "CI_MERGE_REQUEST_TARGET_BRANCH_SHA (merged results)")
    sha = _sha(env.get("CI_MERGE_REQUEST_DIFF_BASE_SHA"), "CI_MERGE_REQUEST_DIFF_BASE_SHA")
    if sha is None and ref is None:
        return None
    source = "CI_MERGE_REQUEST_DIFF_BASE_SHA" if sha else "CI_MERGE_REQUEST_TARGET_BRANCH_NAME"
    return CiBase("gitlab", sha, ref, source)


def provider(env: Mapping[str, str]) -> str:
    if env.get("GITHUB_ACTIONS") == "true":
        return "github"
    if env.get("GITLAB_CI") == "true":
        return "gitlab"
    return "local"


def detect(env: Mapping[str, str], cli_base: str | None = None) -> CiBase:
    """--base wins; else the CI's pull or merge request; else a usage error (never a guessed range)."""
    if cli_base is not None:
        if not cli_base or cli_base.startswith("-"):
            raise UsageError(f"--base {cli_base!r}: name a branch, tag or commit")
        sha = cli_base.lower() if _SHA.fullmatch(cli_base.lower()) else None
        return CiBase("cli", sha, None if sha else cli_base, "--base")
    kind = provider(env)
    found = _github(env) if kind == "github" else _gitlab(env) if kind == "gitlab" else None
    if found is not None:
        return found
    where = {
        "github": "this GitHub run is not for a pull request (no GITHUB_BASE_REF)",
        "gitlab": "this GitLab pipeline is not for a merge request (no CI_MERGE_REQUEST_DIFF_BASE_SHA)",
        "local": "no pull or merge request in the environment (GITHUB_BASE_REF, CI_MERGE_REQUEST_DIFF_BASE_SHA)",
    }[kind]
    raise UsageError(f"airlock ci: {where}; pass --base REF, or --full to scan the whole tree")


def workflow_file(env: Mapping[str, str]) -> str:
    """The CI file that declared this run (a fallback location for findings that have no file of their own)."""
    kind = provider(env)
    if kind == "github":
        # "owner/repo/.github/workflows/ci.yml@refs/heads/main"
        ref = env.get("GITHUB_WORKFLOW_REF", "")
        repo = env.get("GITHUB_REPOSITORY", "")
        path = ref.split("@", 1)[0]
        if repo and path.startswith(repo + "/"):
            return path[len(repo) + 1 :]
        return ""
    if kind == "gitlab":
        path = env.get("CI_CONFIG_PATH") or ".gitlab-ci.yml"
        return "" if ("@" in path or ":" in path) else path  # a config from another project is not in this repo
    return ""
