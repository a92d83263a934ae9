"""The image stage with the real trivy against the fixture image and the tiny offline DB fixture."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from conftest import FIXTURES, scan_json

DB = FIXTURES / "trivy-db" / "cache" / "db"
GH_TOKEN = "ghp_R7tL2mK9pW4sB6yH1cF5jD0gA3eU8iO2nXq1"


def _builder() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_image", FIXTURES / "image" / "build_image.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


build_image = _builder()


def seeded_cache(tmp: Path) -> Path:
    """A copy of the committed DB: trivy writes its layer cache beside it, never into the repo."""
    cache = tmp / "trivy-cache"
    shutil.copytree(DB, cache / "db")
    return cache


def empty_repo(tmp: Path) -> Path:
    repo = tmp / "repo"
    (repo / "README.md").parent.mkdir(parents=True, exist_ok=True)
    (repo / "README.md").write_text("an agent change with no source files\n")
    return repo


def image_findings(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["rule_id"]: f for f in report["findings"] if f["stage"] == "image"}


def stage(report: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in report["stages"] if s["name"] == name)


@pytest.fixture(scope="module")
def offline_scan(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int, dict[str, Any], str]:
    tmp = tmp_path_factory.mktemp("image")
    archive = build_image.build(tmp / "fixture.tar")
    code, report, done = scan_json(empty_repo(tmp), "--stages", "image", "--image-archive", archive,
                                   "--image-cache-dir", seeded_cache(tmp), "--offline", tmp_path=tmp)
    return tmp, code, report, done.stdout + done.stderr


def test_expected_cves_and_fixed_packages(offline_scan: tuple[Path, int, dict[str, Any], str]) -> None:
    _, code, report, _ = offline_scan
    assert code == 1
    found = image_findings(report)
    vulns = {rid for rid in found if rid.startswith("CVE-")}
    assert vulns == {"CVE-2023-5678", "CVE-2018-18074"}  # old openssl (dpkg), old requests (dist-info)
    # zlib1g and urllib3 sit exactly at their fixed versions: CVE-2023-45853 / CVE-2024-37891 not reported
    assert found["CVE-2018-18074"]["severity"] == "high"  # severity comes from trivy (the DB)
    assert found["CVE-2023-5678"]["severity"] == "medium"
    assert "openssl 3.0.9-1" in found["CVE-2023-5678"]["message"]
    assert stage(report, "image")["status"] == "failed"


def test_secret_in_layer_is_found_and_masked(offline_scan: tuple[Path, int, dict[str, Any], str]) -> None:
    tmp, _, report, output = offline_scan
    secret = image_findings(report)["github-pat"]
    assert secret["severity"] == "critical" and "file: /app/settings.env" in secret["evidence"]
    assert GH_TOKEN not in json.dumps(report) and GH_TOKEN not in output


def test_root_user_config_finding(offline_scan: tuple[Path, int, dict[str, Any], str]) -> None:
    _, _, report, _ = offline_scan
    assert image_findings(report)["DS-0002"]["severity"] == "high"


def test_sbom_is_written_beside_the_report(offline_scan: tuple[Path, int, dict[str, Any], str]) -> None:
    tmp, _, _, _ = offline_scan
    sbom = json.loads((tmp / "sbom-fixture.tar.cdx.json").read_text())
    assert sbom["bomFormat"] == "CycloneDX"
    names = {c["name"] for c in sbom.get("components", [])}
    assert {"openssl", "zlib1g", "requests", "urllib3"} <= names


def test_fixed_version_check_is_real(tmp_path: Path) -> None:
    """The DB entry for zlib does match: one version below the fix is reported."""
    rootfs = tmp_path / "rootfs"
    shutil.copytree(build_image.ROOTFS, rootfs)
    status = rootfs / "var/lib/dpkg/status"
    status.write_text(status.read_text().replace("Version: 1:1.2.13.dfsg-1", "Version: 1:1.2.13.dfsg-0"))
    archive = build_image.build(tmp_path / "older.tar", rootfs)
    _, report, _ = scan_json(empty_repo(tmp_path), "--stages", "image", "--image-archive", archive,
                             "--image-cache-dir", seeded_cache(tmp_path), "--offline", tmp_path=tmp_path)
    assert "CVE-2023-45853" in image_findings(report)


def test_missing_db_offline_errors_but_still_reports(tmp_path: Path) -> None:
    archive = build_image.build(tmp_path / "fixture.tar")
    code, report, done = scan_json(empty_repo(tmp_path), "--stages", "image", "--image-archive", archive,
                                   "--image-cache-dir", tmp_path / "no-db", "--offline", tmp_path=tmp_path)
    assert code == 2  # fail closed
    image = stage(report, "image")
    assert image["status"] == "error"
    assert "no trivy vulnerability DB" in image["error"] and "--download-db-only" in image["error"]
    assert "no trivy vulnerability DB" in done.stdout  # the text report says what to do
    found = image_findings(report)
    assert {"github-pat", "DS-0002"} <= set(found)  # secret and config scanning still ran
    assert not any(rid.startswith("CVE-") for rid in found)


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_corrupt_archive_is_a_stage_error(tmp_path: Path, damage: str) -> None:
    archive = build_image.build(tmp_path / "fixture.tar")
    raw = archive.read_bytes()
    archive.write_bytes(raw[: len(raw) // 3] if damage == "truncated" else b"not a tar\n" * 100)
    code, report, done = scan_json(empty_repo(tmp_path), "--stages", "image", "--image-archive", archive,
                                   "--image-cache-dir", seeded_cache(tmp_path), "--offline", tmp_path=tmp_path)
    assert code == 2, done.stderr
    assert "Traceback" not in done.stderr
    image = stage(report, "image")
    assert image["status"] == "error" and "fixture.tar" in image["error"]


def test_image_stage_skipped_without_images(tmp_path: Path) -> None:
    code, report, _ = scan_json(empty_repo(tmp_path), "--stages", "image", tmp_path=tmp_path)
    assert code == 0
    assert stage(report, "image")["status"] == "skipped"


def test_missing_archive_is_a_usage_error(tmp_path: Path) -> None:
    code, _, done = scan_json(empty_repo(tmp_path), "--stages", "image", "--image-archive",
                              tmp_path / "nope.tar", tmp_path=tmp_path)
    assert code == 2 and "--image-archive" in done.stderr


@pytest.mark.parametrize("archive", [True, False], ids=["oci-archive", "oci-layout-dir"])
def test_oci_images(tmp_path: Path, archive: bool) -> None:
    image = build_image.build_oci(tmp_path / ("image.oci.tar" if archive else "image-oci"), archive=archive)
    code, report, done = scan_json(empty_repo(tmp_path), "--stages", "image", "--image-archive", image,
                                   "--image-cache-dir", seeded_cache(tmp_path), "--offline", tmp_path=tmp_path)
    assert code == 1, done.stdout
    found = image_findings(report)
    assert {"CVE-2023-5678", "CVE-2018-18074", "github-pat"} <= set(found)


def test_oci_archive_escaping_member_is_a_stage_error(tmp_path: Path) -> None:
    import io
    import tarfile

    evil = tmp_path / "evil.tar"
    with tarfile.open(evil, "w") as tar:
        for name, data in (("oci-layout", b"{}"), ("index.json", b"{}"), ("../../escaped", b"x")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    code, report, _ = scan_json(empty_repo(tmp_path), "--stages", "image", "--image-archive", evil,
                                "--image-cache-dir", seeded_cache(tmp_path), "--offline", tmp_path=tmp_path)
    assert code == 2
    assert "escapes the archive" in stage(report, "image")["error"]
    assert not (tmp_path.parent / "escaped").exists()


def test_registry_ref_is_not_pulled_with_offline(tmp_path: Path) -> None:
    code, report, _ = scan_json(empty_repo(tmp_path), "--stages", "image", "--image", "registry.invalid/agent/app:1",
                                "--image-cache-dir", seeded_cache(tmp_path), "--offline", tmp_path=tmp_path)
    assert code == 2
    assert "cannot be pulled with --offline" in stage(report, "image")["error"]
