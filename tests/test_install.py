"""airlock as a user installs it: a wheel built from this checkout, installed where its path holds `airlock.`,
next to a user project that has its own `pipeline`, `reports` and `scanners` packages.

The wheel is built with pip from PyPI's setuptools (build isolation), as `pip install` and `pipx install` do.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from importlib.metadata import requires
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from tests.conftest import FIXTURES, ROOT, write_files

OWN_IDS = {
    "airlock.command-injection.subprocess-shell-true",
    "airlock.command-injection.os-system",
    "airlock.code-injection.eval-non-literal",
}
# A user project whose generic package names would shadow a flat install: importing any of them is fatal.
USER_PACKAGES = {
    f"{pkg}/__init__.py": f'import sys\nprint("USER {pkg.upper()} IMPORTED", file=sys.stderr)\n'
    f'raise RuntimeError("the user\'s own {pkg} package was imported")\n'
    for pkg in ("pipeline", "reports", "scanners")
}


def _run(argv: list[str], cwd: Path, pythonpath: str | None, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "NO_COLOR")}
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")  # the tools, not airlock
    if pythonpath is not None:
        env["PYTHONPATH"] = pythonpath
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = tmp_path_factory.mktemp("src") / "agent-airlock"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    for pkg in ("pipeline", "scanners", "reports"):
        shutil.copytree(ROOT / pkg, src / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "airlock", src / "airlock", symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
    dist = src.parent / "dist"
    done = _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dist), str(src)], src.parent, None)
    assert done.returncode == 0, done.stderr
    (whl,) = dist.glob("agent_airlock-*.whl")
    return whl


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """pip install --target a directory whose path is full of `airlock.` (as a pipx venv or a CI checkout is)."""
    base = tmp_path_factory.mktemp("x")
    target = base / "x.airlock.rules" / "airlock.airlock" / "site"
    done = _run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
                base, None)
    assert done.returncode == 0, done.stderr
    return target


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A user's repository: vulnerable code, and its own pipeline/reports/scanners packages at the top."""
    repo = tmp_path_factory.mktemp("user") / "project"
    write_files(repo, FIXTURES / "sast" / "vulnerable")
    write_files(repo, USER_PACKAGES)
    return repo


def _scan(argv: list[str], project: Path, pythonpath: str, out: Path) -> tuple[int, dict[str, Any], str]:
    done = _run([*argv, "scan", ".", "--stages", "sast", "--json-output", str(out)], project, pythonpath)
    report = json.loads(out.read_text()) if out.exists() else {}
    return done.returncode, report, done.stdout + done.stderr


def _findings(report: dict[str, Any]) -> list[tuple[str, str, int, str]]:
    return sorted((f["rule_id"], f["path"], f["start_line"], f["fingerprint"]) for f in report["findings"])


@pytest.fixture(scope="module")
def clean_run(installed: Path, project: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[int, dict[str, Any]]:
    out = tmp_path_factory.mktemp("out") / "clean.json"
    # cwd is the project (python -m puts it first on sys.path): the installed airlock must still win.
    code, report, log = _scan([sys.executable, "-m", "airlock"], project, str(installed), out)
    assert "IMPORTED" not in log, log
    return code, report


def test_the_installed_package_is_only_airlock(installed: Path) -> None:
    top = sorted(p.name for p in installed.iterdir() if not p.name.endswith(".dist-info") and p.name != "bin")
    assert top == ["airlock"], top  # nothing generic (pipeline, scanners, reports) at the top level
    assert list((installed / "airlock" / "scanners" / "semgrep_rules").glob("*.yaml"))
    assert (installed / "airlock" / "reports" / "templates" / "report.html.j2").is_file()


def test_rule_ids_do_not_depend_on_an_install_path_holding_airlock_dots(
    installed: Path, clean_run: tuple[int, dict[str, Any]]
) -> None:
    code, report = clean_run
    assert code == 1, report
    pairs = {(f["tool"], f["rule_id"]) for f in report["findings"]}
    pairs |= {(src["tool"], src["rule_id"]) for f in report["findings"] for src in f["sources"]}
    ids = {rid for _, rid in pairs}
    assert OWN_IDS <= ids, sorted(ids)
    declared = {r["id"] for y in (ROOT / "scanners" / "semgrep_rules").glob("*.y*ml")
                for r in yaml.safe_load(y.read_text())["rules"]}
    semgrep_ids = {rid for tool, rid in pairs if tool == "semgrep"}
    assert semgrep_ids and semgrep_ids <= declared, sorted(semgrep_ids - declared)  # the rules' own ids, no prefix


@pytest.mark.parametrize("how", ["python -m airlock", "airlock console script"])
def test_a_user_pipeline_reports_or_scanners_package_changes_nothing(
    how: str, installed: Path, project: Path, clean_run: tuple[int, dict[str, Any]], tmp_path: Path
) -> None:
    argv = [sys.executable, "-m", "airlock"] if how.startswith("python") else [str(installed / "bin" / "airlock")]
    # The user's CI: PYTHONPATH=. with the project's own packages first.
    pythonpath = os.pathsep.join([str(project), str(installed)])
    code, report, log = _scan(argv, project, pythonpath, tmp_path / "r.json")
    assert "IMPORTED" not in log, log
    assert code == clean_run[0]
    assert _findings(report) == _findings(clean_run[1])
    assert report["gate"] == clean_run[1]["gate"]


def test_a_wheel_in_a_fresh_venv_gives_a_working_airlock(wheel: Path, tmp_path: Path) -> None:
    """`pip install` of the wheel: the console script and `python -m airlock` both work (dependencies come from
    airlock's own venv through a .pth line, so this needs no download)."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=300)
    py = venv / "bin" / "python"
    site = Path(subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                               capture_output=True, text=True, check=True, timeout=60).stdout.strip())
    deps = Path(subprocess.run([sys.executable, "-c", "import jinja2, os; print(os.path.dirname(os.path.dirname("
                                "jinja2.__file__)))"], capture_output=True, text=True, check=True, timeout=60
                               ).stdout.strip())
    done = _run([sys.executable, "-m", "pip", "--python", str(py), "install", "-q", "--no-deps", str(wheel)],
                tmp_path, None)
    assert done.returncode == 0, done.stderr
    (site / "airlock-deps.pth").write_text(str(deps) + "\n")  # a plain path line: deps.pth files are not run
    for argv in ([str(venv / "bin" / "airlock"), "--version"], [str(py), "-m", "airlock", "--version"]):
        done = _run(argv, tmp_path, None)
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith("airlock "), done.stdout
    where = _run([str(py), "-c", "import airlock; print(airlock.__file__)"], tmp_path, None)
    assert where.stdout.strip().startswith(str(site)), where.stdout
    done = _run([str(venv / "bin" / "airlock"), "doctor", "--no-sandbox"], tmp_path, None)
    assert "semgrep" in done.stdout and "strace" in done.stdout, done.stdout + done.stderr


def test_airlock_pins_nothing_checkov_pins() -> None:
    """checkov pins packaging (<24) and boto3 (==); pre-commit's virtualenv needs a newer packaging. airlock adds no
    constraint of its own on either, so pip resolves the hook's venv exactly as it resolves checkov alone."""
    ours = {Requirement(r).name.lower() for r in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "dependencies"]}
    pinned = {Requirement(r).name.lower() for r in requires("checkov") or []
              if "extra ==" not in r and any(op in r for op in ("==", "<", "~="))}
    assert "packaging" in pinned  # the conflict this guards against still exists upstream
    assert not ours & (pinned - {"pyyaml"}), sorted(ours & pinned)  # PyYAML: ours is >=6, theirs <7,>=6
