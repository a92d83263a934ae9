"""Units of the runtime containment that need no sandbox: who the code runs as, what it may see, the gate."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from airlock.pipeline.errors import UsageError
from airlock.pipeline.fsutil import rmtree
from airlock.pipeline.models import Severity
from airlock.pipeline.policy import GatePolicy, load_repo_policy, parse_policy
from airlock.scanners.runtime.sandbox import AUTO_UID_RANGE, SandboxUnavailable, reachable_by_others, resolve_identity


def test_a_normal_user_keeps_its_own_uid() -> None:
    ident = resolve_identity("auto", euid=1000)
    assert not ident.switches and ident.uid is None


def test_root_gets_an_unused_unprivileged_uid() -> None:
    ident = resolve_identity("auto", euid=0)
    assert ident.switches
    assert ident.uid in AUTO_UID_RANGE and ident.gid == ident.uid


@pytest.mark.parametrize("spec", ["0:0", "0:100", "100:0", "root"])
def test_run_as_root_is_refused(spec: str) -> None:
    with pytest.raises(SandboxUnavailable, match="must not be root"):
        resolve_identity(spec, euid=0)


def test_run_as_explicit_ids_and_names() -> None:
    assert resolve_identity("61999:61998", euid=0).uid == 61999
    assert resolve_identity("nobody", euid=0).uid == 65534
    with pytest.raises(SandboxUnavailable, match="no user"):
        resolve_identity("no-such-user-here", euid=0)
    with pytest.raises(SandboxUnavailable, match="UID:GID"):
        resolve_identity("a:b", euid=0)


def test_reachable_by_others() -> None:
    base = Path(tempfile.mkdtemp(dir="/tmp"))  # pytest's tmp dirs sit below a 0700 directory
    try:
        base.chmod(0o755)
        (base / "open").mkdir(mode=0o755)
        (base / "closed").mkdir(mode=0o700)
        (base / "closed" / "inner").mkdir(mode=0o755)
        assert reachable_by_others(str(base / "open"))
        assert not reachable_by_others(str(base / "closed" / "inner"))
    finally:
        rmtree(base)


@pytest.mark.parametrize(
    "key, value",
    [("run_as", '"nobody"'), ("read_paths", '["/etc"]'), ("venv", '"/opt/v"'), ("interpreter", '"/usr/bin/py"')],
)
def test_host_exposing_runtime_keys_are_refused_from_the_scanned_tree(key: str, value: str, tmp_path: Path) -> None:
    raw = f"[runtime]\n{key} = {value}\n".encode()
    with pytest.raises(UsageError, match=f"runtime.{key} decides what the host exposes"):
        load_repo_policy(lambda rel: raw if rel == "airlock.toml" else None, tmp_path)
    # The same key from a trusted --config file is fine.
    trusted_value = {"run_as": "nobody", "read_paths": ["/etc"]}.get(key, "/usr/bin/python3")
    assert parse_policy({"runtime": {key: trusted_value}}, source="cfg", base_dir=tmp_path, confine=False,
                        trusted=True)


def test_venv_and_interpreter_together_are_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="keep one"):
        parse_policy({"runtime": {"venv": "/v", "interpreter": "/usr/bin/python3"}}, source="cfg",
                     base_dir=tmp_path, confine=False, trusted=True)


def test_the_active_virtualenv_fills_an_unset_toolchain(tmp_path: Path) -> None:
    from airlock.pipeline.policy import Policy, RuntimePolicy, with_project_venv

    assert with_project_venv(Policy(), {"VIRTUAL_ENV": str(tmp_path)}).runtime.venv == str(tmp_path.resolve())
    assert with_project_venv(Policy(), {}).runtime.venv is None
    assert with_project_venv(Policy(), {"VIRTUAL_ENV": "relative"}).runtime.venv is None
    pinned = Policy(runtime=RuntimePolicy(interpreter="/usr/bin/python3"))
    assert with_project_venv(pinned, {"VIRTUAL_ENV": str(tmp_path)}) == pinned


def test_runtime_gates_at_medium_by_default_or_stricter() -> None:
    assert GatePolicy().threshold("runtime") == Severity.MEDIUM
    assert GatePolicy().threshold("sast") == Severity.HIGH
    assert GatePolicy(fail_on=Severity.LOW).threshold("runtime") == Severity.LOW
    assert GatePolicy(stage_fail_on={"runtime": Severity.HIGH}).threshold("runtime") == Severity.HIGH


def test_a_hard_link_to_a_canary_is_an_alias_even_after_its_content_changed(tmp_path: Path) -> None:
    """Issue 10: canary files are matched by identity (device, inode) too, not only by content: a hard link made
    to a canary and then written through keeps pointing at the canary although no digest matches any more."""
    from airlock.scanners.runtime import fsdiff
    from airlock.scanners.runtime.canaries import Canary, CanarySet
    from airlock.scanners.runtime.sandbox import Layout
    from airlock.scanners.runtime.scanner import _canary_aliases

    lay = Layout.random("x")
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    key = home / ".ssh" / "id_rsa"
    key.write_text("CANARY-KEY-1234\n")
    before = {"home": fsdiff.snapshot(home).entries, "workspace": {}}
    (home / "stash").mkdir()
    (home / "stash" / "k").hardlink_to(key)
    (home / "stash" / "k").write_text("rewritten through the link\n")  # the canary's own digest changes too
    (home / "copy").write_text("unrelated\n")
    after = {"home": fsdiff.snapshot(home), "workspace": fsdiff.Capture()}
    canary = Canary("file:~/.ssh/id_rsa", "CANARY-KEY-1234", f"{lay.home}/.ssh/id_rsa")
    aliases = _canary_aliases(CanarySet((canary,), ()), before, after, lay)
    assert aliases == {f"{lay.home}/stash/k": canary}
    # Identity never counts as a change between two captures: the host copy and the sandbox's differ in inode.
    again = fsdiff.snapshot(home).entries
    assert fsdiff.diff("home", after["home"].entries, again) == []
def test_runtime_fingerprints_name_the_behaviour_not_the_runs_layout() -> None:
    """compare_base matches base and head runs, each with its own random layout; blinding is never matched."""
    from airlock.scanners.runtime.canaries import CanarySet
    from airlock.scanners.runtime.rules import Collector
    from airlock.scanners.runtime.sandbox import Layout

    def prints(layout: Layout) -> dict[str, str]:
        c = Collector(CanarySet((), ()), layout)
        c.add("runtime.fs.sensitive-read", f"{layout.home}/.ssh/id_rsa", "read", None, [], [])
        c.add("runtime.network.egress-denied", "203.0.113.7:443", "connect", None, [], [])
        c.add("runtime.process.fileless-exec", "4242", "exec", None, [], [])
        c.overflow("the trace passed its cap")
        return {f.rule_id: f.fingerprint for f in c.findings()}

    one, two = prints(Layout.random("app")), prints(Layout.random("app"))
    for rule in ("runtime.fs.sensitive-read", "runtime.network.egress-denied", "runtime.process.fileless-exec"):
        assert one[rule] == two[rule], rule
    assert one["runtime.probe.overflow"] != two["runtime.probe.overflow"]
