"""`airlock ci` against real git repositories, with the environment GitHub Actions and GitLab set.

Clones go through file:// URLs, so a shallow clone is really shallow and deepening really fetches. The upstream
policy switches semgrep and trivy's secret scan off to keep these runs short: the range is what is under test,
and bandit's B602 is the finding that proves the right files were scanned.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from airlock.pipeline import ci_env, ci_history
from airlock.pipeline.ci_env import CiBase
from airlock.pipeline.errors import UsageError
from tests.conftest import GIT_ENV, airlock_env, commit, git, make_repo, run_airlock, write_files

# bandit's B602 stops at medium without a taint rule to confirm a request source (docs/severity.md).
POLICY = '[gate]\nfail_on = "medium"\n[tools.semgrep]\nenabled = false\n[tools.trivy-secret]\nenabled = false\n'
SHELL = "import subprocess\n\n\ndef run(cmd):\n    return subprocess.call(cmd, shell=True)\n"
# On main after the feature branched: a B602 the change did not write. If it shows up, the range is wrong.
MAIN_ONLY = "import subprocess\n\n\ndef other(cmd):\n    return subprocess.Popen(cmd, shell=True)\n"


def _upstream(tmp: Path, main_commits: int = 40, feature_commits: int = 3) -> tuple[Path, str, str, str]:
    """main: base ... fork point ... tip (with main_only.py); feature: fork point + bad.py + a few commits.
    Returns (repo, fork point, main tip, feature tip)."""
    up = make_repo(tmp / "up", {"airlock.toml": POLICY, "app.py": "print('hi')\n"})
    for i in range(main_commits):
        write_files(up, {f"notes/{i}.txt": f"{i}\n"})
        commit(up, f"main {i}")
    fork = git(up, "rev-parse", "HEAD")
    git(up, "checkout", "-q", "-b", "feature")
    write_files(up, {"bad.py": SHELL})
    commit(up, "agent: add a shell call")
    for i in range(feature_commits):
        write_files(up, {f"feature/{i}.txt": f"{i}\n"})
        commit(up, f"feature {i}")
    feature = git(up, "rev-parse", "HEAD")
    git(up, "checkout", "-q", "main")
    write_files(up, {"main_only.py": MAIN_ONLY})
    commit(up, "main moves on")
    for i in range(5):
        write_files(up, {f"later/{i}.txt": f"{i}\n"})
        commit(up, f"main later {i}")
    return up, fork, git(up, "rev-parse", "HEAD"), feature


def _clone(src: Path, dest: Path, *args: str) -> Path:
    subprocess.run(["git", "clone", "-q", *args, f"file://{src}", str(dest)], check=True, timeout=60,
                   env={**airlock_env(), **GIT_ENV}, capture_output=True)
    return dest


def _checkout_like_actions(src: Path, dest: Path, ref: str, depth: int = 1) -> Path:
    """What actions/checkout does for a pull request: init, add origin, fetch one ref at depth 1, check it out."""
    dest.mkdir()
    git(dest, "init", "-q")
    git(dest, "remote", "add", "origin", f"file://{src}")
    git(dest, "fetch", "-q", "--no-tags", f"--depth={depth}", "origin", f"+{ref}:refs/remotes/pull/merge")
    git(dest, "checkout", "-q", "--detach", "refs/remotes/pull/merge")
    return dest


def _github_env(tmp: Path, base_sha: str | None, base_ref: str = "main", **payload: object) -> dict[str, str]:
    event = tmp / "event.json"
    pr: dict[str, object] = {"base": {"ref": base_ref, **({"sha": base_sha} if base_sha else {})}, **payload}
    event.write_text(json.dumps({"action": "synchronize", "pull_request": pr}))
    return {
        "GITHUB_ACTIONS": "true",
        "GITHUB_EVENT_NAME": "pull_request",
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_BASE_REF": base_ref,
        "GITHUB_HEAD_REF": "feature",
        "GITHUB_REPOSITORY": "octo/app",
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_WORKFLOW_REF": "octo/app/.github/workflows/airlock.yml@refs/pull/1/merge",
        "GITHUB_STEP_SUMMARY": str(tmp / "summary.md"),
    }


def _ci(repo: Path, tmp: Path, env: dict[str, str], *args: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    out = tmp / "out"
    ci_vars = {k: "" for k in ("GITHUB_ACTIONS", "GITLAB_CI", "GITHUB_BASE_REF", "CI_MERGE_REQUEST_DIFF_BASE_SHA")}
    done = run_airlock("ci", "--stages", "sast", "--output-dir", out, *args, cwd=repo,
                       env=airlock_env({**ci_vars, **GIT_ENV, **env}))
    return done, out


def _changed(report: dict) -> set[str]:  # type: ignore[type-arg]
    return {f["path"] for f in report["findings"] if f["rule_id"] == "B602"}


def test_github_full_clone_scans_exactly_the_pull_request(tmp_path: Path) -> None:
    up, fork, main, feature = _upstream(tmp_path)
    repo = _clone(up, tmp_path / "full")
    git(repo, "checkout", "-q", "feature")
    done, out = _ci(repo, tmp_path, _github_env(tmp_path, main))
    assert done.returncode == 1, done.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["target"]["base"] == fork and report["target"]["head"] == feature
    assert _changed(report) == {"bad.py"}
    assert "fetching" not in done.stderr  # a full clone has everything: nothing is fetched
    for name in ("sarif/airlock.sarif", "report.html", "report.md", "junit.xml", "gl-sast-report.json"):
        assert (out / name).is_file(), name
    assert "::error file=bad.py,line=5,endLine=5,title=B602 (medium%2C bandit)::" in done.stdout
    summary = (tmp_path / "summary.md").read_text()
    assert "airlock: gate ❌ failed" in summary and "https://github.com/octo/app/blob/" in summary
    junit = (out / "junit.xml").read_text()
    assert 'name="B602 at bad.py:5"' in junit and "<failure" in junit


def test_github_depth_one_merge_ref_is_deepened_until_the_merge_base_is_there(tmp_path: Path) -> None:
    up, fork, main, feature = _upstream(tmp_path, main_commits=70)
    # GitHub's test merge of the pull request into its base, published as refs/pull/1/merge.
    git(up, "checkout", "-q", "--detach", main)
    git(up, "merge", "-q", "--no-ff", "-m", "Merge feature into main", feature)
    git(up, "update-ref", "refs/pull/1/merge", "HEAD")
    git(up, "checkout", "-q", "main")
    repo = _checkout_like_actions(up, tmp_path / "shallow", "refs/pull/1/merge")
    assert git(repo, "rev-parse", "--is-shallow-repository") == "true"
    env = {**_github_env(tmp_path, main), "GITHUB_REF": "refs/pull/1/merge", "GITHUB_SHA": git(up, "rev-parse",
                                                                                                "refs/pull/1/merge")}
    done, out = _ci(repo, tmp_path, env)
    assert done.returncode == 1, done.stderr
    assert "fetching" in done.stderr
    report = json.loads((out / "report.json").read_text())
    # The merge commit's first parent is the base tip: the diff is the pull request as it would merge.
    assert report["target"]["base"] == main
    assert _changed(report) == {"bad.py"}
    assert any("fetch(es) to complete the shallow clone" in n for n in report["notes"])


def test_gitlab_depth_one_clone_uses_the_merge_request_diff_base(tmp_path: Path) -> None:
    up, fork, main, feature = _upstream(tmp_path, main_commits=60)
    repo = _clone(up, tmp_path / "shallow", "--depth", "1", "--branch", "feature")
    env = {
        "GITLAB_CI": "true",
        "CI_MERGE_REQUEST_DIFF_BASE_SHA": fork,
        "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "main",
        "CI_PROJECT_URL": "https://gitlab.example/group/app",
        "CI_CONFIG_PATH": ".gitlab-ci.yml",
    }
    done, out = _ci(repo, tmp_path, env)
    assert done.returncode == 1, done.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["target"]["base"] == fork and report["target"]["head"] == feature
    assert _changed(report) == {"bad.py"}
    assert "::error" not in done.stdout  # annotations are GitHub's
    sast = json.loads((out / "gl-sast-report.json").read_text())
    assert [(v["location"]["file"], v["location"]["start_line"], v["identifiers"][0]["value"])
            for v in sast["vulnerabilities"] if v["severity"] == "Medium"] == [("bad.py", 5, "B602")]


def test_gitlab_target_branch_only_is_fetched_as_it_is_now(tmp_path: Path) -> None:
    up, fork, main, feature = _upstream(tmp_path)
    repo = _clone(up, tmp_path / "shallow", "--depth", "1", "--branch", "feature")
    env = {"GITLAB_CI": "true", "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "main"}
    resolved = ci_history.resolve(repo, ci_env.detect(env), log=lambda _line: None)
    assert (resolved.base, resolved.base_tip, resolved.head) == (fork, main, feature)
    assert git(repo, "rev-parse", "refs/remotes/origin/main") == main


def test_fork_pull_request_base_from_upstream_head_from_the_fork(tmp_path: Path) -> None:
    up, fork, main, _ = _upstream(tmp_path, feature_commits=0)
    # The contributor's fork: a clone of upstream, with the change on its own branch.
    theirs = _clone(up, tmp_path / "fork")
    git(theirs, "checkout", "-q", "-b", "contrib", fork)
    write_files(theirs, {"bad.py": SHELL, "contrib.txt": "hello\n"})
    head = commit(theirs, "contributor: add a shell call")
    # GitHub publishes the fork's head in the base repository as refs/pull/2/head.
    git(up, "fetch", "-q", f"file://{theirs}", "contrib:refs/pull/2/head")
    repo = _checkout_like_actions(up, tmp_path / "runner", "refs/pull/2/head")
    env = _github_env(tmp_path, main, head={"sha": head, "repo": {"fork": True, "full_name": "someone/app"}})
    done, out = _ci(repo, tmp_path, env)
    assert done.returncode == 1, done.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["target"]["base"] == fork and report["target"]["head"] == head
    assert _changed(report) == {"bad.py"}
    assert report["target"]["files"] == 2
    # A fork's run has no write token (no SARIF upload), but the step summary needs none.
    assert "1 new medium finding in sast" in (tmp_path / "summary.md").read_text()


def test_a_shallow_merge_base_that_is_not_the_real_one_is_never_used(tmp_path: Path) -> None:
    """The attack on a naive `git merge-base` in a shallow clone: the change merges an old branch, so an old
    commit is reachable on a short path while the real fork point lies past the shallow boundary. The naive
    merge base would scan everything main did since that old commit as if the change had written it."""
    up = make_repo(tmp_path / "up", {"airlock.toml": POLICY, "app.py": "print('hi')\n"})
    old_root = git(up, "rev-parse", "HEAD")
    for i in range(5):
        write_files(up, {f"m/{i}.txt": f"{i}\n"})
        commit(up, f"main {i}")
    fork = git(up, "rev-parse", "HEAD")
    git(up, "checkout", "-q", "-b", "old", old_root)
    write_files(up, {"old.txt": "old\n"})
    commit(up, "an old side branch")
    git(up, "checkout", "-q", "-b", "feature", fork)
    for i in range(8):
        write_files(up, {f"f/{i}.txt": f"{i}\n"})
        commit(up, f"feature {i}")
    git(up, "merge", "-q", "--no-ff", "-m", "merge the old branch", "old")
    feature = git(up, "rev-parse", "HEAD")
    git(up, "checkout", "-q", "main")
    repo = _clone(up, tmp_path / "shallow", "--depth", "3", "--branch", "feature")
    git(repo, "fetch", "-q", "--depth=50", "origin", "+refs/heads/main:refs/remotes/origin/main")
    naive = git(repo, "merge-base", "origin/main", "HEAD")
    assert naive == old_root != fork  # the trap is real
    ci = CiBase("github", git(up, "rev-parse", "main"), "main", "test")
    resolved = ci_history.resolve(repo, ci, log=lambda _line: None)
    assert resolved.base == fork and resolved.head == feature and resolved.fetches >= 1


def test_offline_shallow_clone_stops_with_the_fix(tmp_path: Path) -> None:
    up, fork, main, _ = _upstream(tmp_path)
    repo = _clone(up, tmp_path / "shallow", "--depth", "1", "--branch", "feature")
    done, out = _ci(repo, tmp_path, _github_env(tmp_path, main), "--offline")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "fetch-depth: 0" in lines[0] and "--offline" in lines[0], done.stderr
    assert not (out / "report.json").exists()


def test_unreachable_remote_stops_with_the_fix(tmp_path: Path) -> None:
    up, fork, main, _ = _upstream(tmp_path)
    repo = _clone(up, tmp_path / "shallow", "--depth", "1", "--branch", "feature")
    git(repo, "remote", "set-url", "origin", f"file://{tmp_path}/gone")
    with pytest.raises(UsageError, match=r"git fetch from origin failed .*fetch-depth: 0"):
        ci_history.resolve(repo, CiBase("github", main, "main", "test"), log=lambda _line: None)


def test_deepening_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    up, fork, main, _ = _upstream(tmp_path, main_commits=30, feature_commits=30)
    repo = _clone(up, tmp_path / "shallow", "--depth", "1", "--branch", "feature")
    monkeypatch.setattr(ci_history, "FIRST_DEPTH", 2)
    monkeypatch.setattr(ci_history, "MAX_DEEPEN_ROUNDS", 2)
    with pytest.raises(UsageError, match=r"not in this shallow clone after 3 fetch\(es\); .*fetch-depth: 0"):
        ci_history.resolve(repo, CiBase("github", main, "main", "test"), log=lambda _line: None)


def test_not_a_pull_request_is_a_usage_error(tmp_path: Path) -> None:
    up, _, _, _ = _upstream(tmp_path, main_commits=1)
    done, _ = _ci(up, tmp_path, {"GITHUB_ACTIONS": "true", "GITHUB_EVENT_NAME": "push"})
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "airlock: error: airlock ci: this GitHub run is not for a pull request (no GITHUB_BASE_REF); "
        "pass --base REF, or --full to scan the whole tree"
    ]


# --- base discovery (pure) ---


def test_detect_github_reads_the_payload(tmp_path: Path) -> None:
    sha = "a" * 40
    env = _github_env(tmp_path, sha)
    assert ci_env.detect(env) == CiBase("github", sha, "main", "GITHUB_BASE_REF and the event payload")
    assert ci_env.workflow_file(env) == ".github/workflows/airlock.yml"
    (tmp_path / "event.json").write_text("{}")
    assert ci_env.detect(env) == CiBase("github", None, "main", "GITHUB_BASE_REF")


def test_detect_merge_group_and_gitlab() -> None:
    assert ci_env.detect({"GITLAB_CI": "true", "CI_MERGE_REQUEST_DIFF_BASE_SHA": "B" * 40,
                          "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "main"}) == CiBase(
        "gitlab", "b" * 40, "main", "CI_MERGE_REQUEST_DIFF_BASE_SHA")
    assert ci_env.detect({"GITHUB_ACTIONS": "true"}, cli_base="v1.2") == CiBase("cli", None, "v1.2", "--base")


@pytest.mark.parametrize("ref", ["main:refs/heads/x", "-upload-pack=touch /tmp/x", "a..b", "ma in", "*", "x/"])
def test_hostile_branch_names_are_refused(ref: str) -> None:
    with pytest.raises(UsageError, match="not a branch name"):
        ci_env.detect({"GITLAB_CI": "true", "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": ref})


@pytest.mark.parametrize("sha", ["HEAD~1", "--all", "a" * 39, "g" * 40])
def test_non_commit_ids_are_refused(sha: str, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="is not a commit id"):
        ci_env.detect(_github_env(tmp_path, sha))


def test_merge_group_event(tmp_path: Path) -> None:
    event = tmp_path / "e.json"
    event.write_text(json.dumps({"merge_group": {"base_sha": "c" * 40, "base_ref": "refs/heads/main"}}))
    env = {"GITHUB_ACTIONS": "true", "GITHUB_EVENT_NAME": "merge_group", "GITHUB_EVENT_PATH": str(event)}
    assert ci_env.detect(env) == CiBase("github", "c" * 40, "main", "the merge_group event payload")


def test_full_scans_the_whole_tree_without_a_base(tmp_path: Path) -> None:
    up, _, _, _ = _upstream(tmp_path, main_commits=1)
    done, out = _ci(up, tmp_path, {"GITHUB_ACTIONS": "true", "GITHUB_EVENT_NAME": "push"}, "--full")
    assert done.returncode == 1, done.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["target"]["mode"] == "full" and _changed(report) == {"main_only.py"}
    assert report["notes"][0] == "airlock ci --full: the whole tree was scanned, not a change"


def test_interrupted_ci_still_writes_every_report_marked_incomplete(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airlock.pipeline import ci, cli, proc

    up, _, main, _ = _upstream(tmp_path, main_commits=1)

    def interrupted(*_a: object, **_k: object) -> None:
        proc.cancel("SIGTERM")
        raise proc.Cancelled("airlock was interrupted (SIGTERM); git not started")

    monkeypatch.setattr(ci, "open_change", interrupted)
    out = tmp_path / "out"
    try:
        code = cli.main(["ci", str(up), "--base", main, "--output-dir", str(out), "--stages", "sast"])
    finally:
        proc.reset_cancel()
    assert code == 2
    report = json.loads((out / "report.json").read_text())
    assert report["gate"]["reasons"] == ["airlock was interrupted (SIGTERM): this report is incomplete, no verdict"]
    assert json.loads((out / "gl-sast-report.json").read_text())["scan"]["status"] == "failure"
    assert (out / "sarif" / "airlock.sarif").is_file() and (out / "junit.xml").is_file()


def _test_merge(up: Path, onto: str, feature: str, ref: str = "refs/pull/1/merge") -> str:
    git(up, "checkout", "-q", "--detach", onto)
    git(up, "merge", "-q", "--no-ff", "-m", "Merge feature", feature)
    git(up, "update-ref", ref, "HEAD")
    git(up, "checkout", "-q", "main")
    return git(up, "rev-parse", ref)


def _diff_names(repo: Path, base: str) -> set[str]:
    return set(git(repo, "diff", "--name-only", base, "HEAD").split())


def test_a_stale_payload_base_on_githubs_test_merge_is_replaced_by_the_merge_parent(tmp_path: Path) -> None:
    """The payload's base.sha is older than the base the test merge was built on: diffing from it would count
    main_only.py (main's own newer commit) as the agent's change."""
    up, fork, main, feature = _upstream(tmp_path)
    merge = _test_merge(up, main, feature)
    repo = _checkout_like_actions(up, tmp_path / "shallow", "refs/pull/1/merge")
    env = {**_github_env(tmp_path, fork), "GITHUB_REF": "refs/pull/1/merge", "GITHUB_SHA": merge}
    resolved = ci_history.resolve(repo, ci_env.detect(env), log=lambda _line: None)
    assert resolved.base == main and "main_only.py" not in _diff_names(repo, resolved.base)
    assert "bad.py" in _diff_names(repo, resolved.base)
    # The trap is real: the stale sha as the base brings main's own file into the range.
    assert "main_only.py" in _diff_names(repo, fork)


def test_a_pull_requests_own_merge_commit_checked_out_by_sha_keeps_the_whole_range(tmp_path: Path) -> None:
    """HEAD is a merge, but not GitHub's test merge (GITHUB_SHA): the branch merged main in. Its first parent
    is not the base; using it would shrink the range to the last merge and hide bad.py."""
    up, fork, main, feature = _upstream(tmp_path)
    git(up, "checkout", "-q", "feature")
    git(up, "merge", "-q", "--no-ff", "-m", "Merge main into feature", "main")
    head = git(up, "rev-parse", "HEAD")
    git(up, "checkout", "-q", "main")
    merge = _test_merge(up, main, head)
    repo = _clone(up, tmp_path / "shallow", "--depth", "1", "--branch", "feature")
    env = {**_github_env(tmp_path, main), "GITHUB_REF": "refs/pull/1/merge", "GITHUB_SHA": merge}
    resolved = ci_history.resolve(repo, ci_env.detect(env), log=lambda _line: None)
    assert resolved.head == head and resolved.base == main
    assert "bad.py" in _diff_names(repo, resolved.base) and "main_only.py" not in _diff_names(repo, resolved.base)


def test_gitlab_merged_results_diff_from_the_target_tip_not_the_diff_base(tmp_path: Path) -> None:
    up, fork, main, feature = _upstream(tmp_path)
    merged = _test_merge(up, main, feature, "refs/merge-requests/1/merge")
    repo = _checkout_like_actions(up, tmp_path / "shallow", "refs/merge-requests/1/merge", depth=20)
    env = {"GITLAB_CI": "true", "CI_MERGE_REQUEST_DIFF_BASE_SHA": fork, "CI_MERGE_REQUEST_TARGET_BRANCH_SHA": main,
           "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "main", "CI_MERGE_REQUEST_EVENT_TYPE": "merged_result"}
    resolved = ci_history.resolve(repo, ci_env.detect(env), log=lambda _line: None)
    assert (resolved.base, resolved.head) == (main, merged)
    assert "main_only.py" not in _diff_names(repo, resolved.base) and "bad.py" in _diff_names(repo, resolved.base)
