"""Hostile image archives: trivy sees only content verified against its digests, read within bounds."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import tarfile
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_trivy_image import GH_TOKEN, build_image, empty_repo, image_findings, seeded_cache, stage

from airlock.scanners import image_input
from airlock.scanners.image_input import ImageRefused, Limits
from airlock.scanners.trivy_common import tool_env_for
from tests.conftest import scan_json

REFUSED = "airlock.image.unverified"


def _rootfs(tmp: Path, secret: bool) -> Path:
    root = tmp / ("rootfs-secret" if secret else "rootfs-clean")
    shutil.copytree(build_image.ROOTFS, root)
    if not secret:
        (root / "app" / "settings.env").write_text("LOG_LEVEL=info\n")
    return root


def _tar(out: Path, files: dict[str, bytes]) -> Path:
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out


def docker_archive(out: Path, layer: bytes, claimed_diff_id: str | None = None) -> Path:
    diff_id = claimed_diff_id or "sha256:" + hashlib.sha256(layer).hexdigest()
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": [diff_id]}}).encode()  # fmt: skip
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    layer_name = "layer0/layer.tar"
    manifest = json.dumps([{"Config": config_name, "RepoTags": ["x:1"], "Layers": [layer_name]}]).encode()
    return _tar(out, {config_name: config, layer_name: layer, "manifest.json": manifest})


def _scan(tmp: Path, *archives: Path | str) -> tuple[int, dict[str, Any], str]:
    args: list[str | Path] = []
    for a in archives:
        args += ["--image-archive", a]
    code, report, done = scan_json(empty_repo(tmp), "--stages", "image", *args,
                                   "--image-cache-dir", seeded_cache(tmp), "--offline", tmp_path=tmp)  # fmt: skip
    return code, report, done.stdout + done.stderr


def test_layer_claiming_a_clean_layers_id_is_refused(tmp_path: Path) -> None:
    clean = build_image.layer_tar(_rootfs(tmp_path, secret=False))
    clean_id = "sha256:" + hashlib.sha256(clean).hexdigest()
    dirty = build_image.layer_tar(_rootfs(tmp_path, secret=True))
    a = docker_archive(tmp_path / "clean.tar", clean)
    b = docker_archive(tmp_path / "liar.tar", dirty, claimed_diff_id=clean_id)
    code, report, output = _scan(tmp_path, a, b)
    assert code == 2, output
    refused = [f for f in report["findings"] if f["rule_id"] == REFUSED]
    assert len(refused) == 1 and "liar.tar" in refused[0]["message"] and "digest mismatch" in refused[0]["message"]
    assert refused[0]["severity"] == "high"
    assert "liar.tar" in stage(report, "image")["error"]
    assert GH_TOKEN not in output
    # Only the DB is shared between runs: no layer cache is written beside it.
    assert sorted(p.name for p in (tmp_path / "trivy-cache").iterdir()) == ["db"]


def test_a_verified_secret_layer_is_still_scanned_after_a_clean_one(tmp_path: Path) -> None:
    clean = build_image.layer_tar(_rootfs(tmp_path, secret=False))
    dirty = build_image.layer_tar(_rootfs(tmp_path, secret=True))
    _, report, output = _scan(tmp_path, docker_archive(tmp_path / "a.tar", clean),
                              docker_archive(tmp_path / "b.tar", dirty))  # fmt: skip
    assert "github-pat" in image_findings(report), output
    assert REFUSED not in image_findings(report)


def test_oci_blob_that_does_not_match_its_name_is_refused(tmp_path: Path) -> None:
    layout = build_image.build_oci(tmp_path / "oci", archive=False)
    blob = max((layout / "blobs" / "sha256").iterdir(), key=lambda p: p.stat().st_size)  # the layer
    blob.write_bytes(blob.read_bytes() + bytes(1024))  # still a valid tar, no longer the named blob
    code, report, _ = _scan(tmp_path, layout)
    assert code == 2
    assert REFUSED in image_findings(report) and "digest mismatch" in stage(report, "image")["error"]


@pytest.mark.parametrize("link", ["blobs", "index.json"])
def test_symlinked_layout_parts_are_refused(tmp_path: Path, link: str) -> None:
    layout = build_image.build_oci(tmp_path / "oci", archive=False)
    host = tmp_path / "host-side"
    (layout / link).rename(host)
    os.symlink(host, layout / link)
    code, report, output = _scan(tmp_path, layout)
    assert code == 2
    assert "is not a regular file or directory" in stage(report, "image")["error"]
    assert REFUSED in image_findings(report) and "github-pat" not in image_findings(report)


def test_fifo_named_as_archive_is_refused_not_waited_on(tmp_path: Path) -> None:
    fifo = tmp_path / "image.tar"
    os.mkfifo(fifo)
    code, report, _ = _scan(tmp_path, fifo)  # would block forever if opened for reading
    assert code == 2
    assert "not a regular file or directory" in stage(report, "image")["error"]
    assert REFUSED in image_findings(report)


@pytest.mark.parametrize("kind", [tarfile.FIFOTYPE, tarfile.CHRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE])
def test_special_members_are_refused(tmp_path: Path, kind: bytes) -> None:
    evil = tmp_path / "evil.tar"
    with tarfile.open(evil, "w") as tar:
        for name, data in (("oci-layout", b"{}"), ("index.json", b"{}")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        info = tarfile.TarInfo("blobs")
        info.type = kind
        info.linkname = "/etc"
        tar.addfile(info)
    with pytest.raises(ImageRefused, match="is not a regular file or directory"):
        image_input.prepare(evil, tmp_path / "scratch", Limits(deadline=time.monotonic() + 60))


def test_gzip_bomb_layer_hits_the_unpacked_bound(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", compresslevel=9) as gz:
        for _ in range(64):
            gz.write(bytes(1 << 20))
    layer = buf.getvalue()
    archive = docker_archive(tmp_path / "bomb.tar", layer, claimed_diff_id="sha256:" + "0" * 64)
    limits = Limits(deadline=time.monotonic() + 60, unpacked_bytes=8 << 20)
    with pytest.raises(ImageRefused, match="layers unpack to more than 8388608 bytes"):
        image_input.prepare(archive, tmp_path / "scratch", limits)


def test_compressed_layer_is_verified_by_its_uncompressed_digest(tmp_path: Path) -> None:
    layer = build_image.layer_tar(build_image.ROOTFS)
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    archive = docker_archive(tmp_path / "gz.tar", gzip.compress(layer), claimed_diff_id=diff_id)
    out = image_input.prepare(archive, tmp_path / "scratch", Limits(deadline=time.monotonic() + 60))
    assert out.name == "image.tar"


def test_entry_and_time_bounds(tmp_path: Path) -> None:
    many = _tar(tmp_path / "many.tar", {f"f{i}": b"" for i in range(101)})
    with pytest.raises(ImageRefused, match="more than 100 entries"):
        image_input.prepare(many, tmp_path / "s1", Limits(deadline=time.monotonic() + 60, entries=100))
    ok = docker_archive(tmp_path / "ok.tar", build_image.layer_tar(build_image.ROOTFS))
    with pytest.raises(ImageRefused, match="took longer than"):
        image_input.prepare(ok, tmp_path / "s2", Limits(deadline=time.monotonic() - 1))


def test_trivy_gets_airlocks_scratch_as_tmpdir(tmp_path: Path) -> None:
    env = tool_env_for(tmp_path, tmpdir=tmp_path / "trivy-tmp")
    assert env["TMPDIR"] == str(tmp_path / "trivy-tmp") and (tmp_path / "trivy-tmp").is_dir()


_names = st.text(alphabet="ab./-_", min_size=1, max_size=12) | st.sampled_from(
    ["manifest.json", "index.json", "oci-layout", "blobs/sha256/" + "0" * 64, "x/layer.tar"]
)
_data = st.binary(max_size=64) | st.sampled_from([b"[]", b"{}", b'[{"Config": "c.json", "Layers": ["x"]}]',
                                                  b'{"manifests": [{"digest": "sha256:' + b"0" * 64 + b'"}]}',
                                                  b'{"rootfs": {"diff_ids": []}}', gzip.compress(b"x")])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(members=st.lists(st.tuples(_names, _data, st.sampled_from([tarfile.REGTYPE, tarfile.DIRTYPE])), max_size=6))
def test_any_archive_is_verified_or_refused_never_a_crash(tmp_path: Path, members: list) -> None:
    scratch = tmp_path / f"s{len(list(tmp_path.iterdir()))}"
    scratch.mkdir()
    archive = scratch / "in.tar"
    with tarfile.open(archive, "w", format=tarfile.PAX_FORMAT) as tar:
        for name, data, kind in members:
            info = tarfile.TarInfo(name)
            info.type = kind
            info.size = len(data) if kind == tarfile.REGTYPE else 0
            tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)
    try:
        out = image_input.prepare(archive, scratch / "work", Limits(deadline=time.monotonic() + 60))
    except (ImageRefused, OSError):
        return
    assert out.exists()


@pytest.mark.parametrize("fmt", [tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
def test_huge_extended_headers_are_refused_before_tarfile_reads_them(tmp_path: Path, fmt: int) -> None:
    evil = tmp_path / "evil.tar"
    with tarfile.open(evil, "w", format=fmt) as tar:
        info = tarfile.TarInfo("a" * (2 << 20))  # a 2 MiB name: tarfile would hold it in memory whole
        tar.addfile(info, io.BytesIO(b""))
    with pytest.raises(ImageRefused, match="an extended tar header of"):
        image_input.prepare(evil, tmp_path / "scratch", Limits(deadline=time.monotonic() + 60))
