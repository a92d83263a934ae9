"""Canaries that look real, and a detector that finds them however they are dressed (hypothesis), with no false hits."""

from __future__ import annotations

import base64
import codecs
import gzip
import random
import urllib.parse
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airlock.scanners.runtime import canaries as cn
from airlock.scanners.runtime.canaries import FORMATS, Canary, CanarySet, plant

SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _random_set(rng: random.Random) -> CanarySet:
    """A canary set in the providers' formats, drawn from rng (so hypothesis controls it)."""

    def pick(alphabet: str, n: int) -> str:
        return "".join(rng.choice(alphabet) for _ in range(n))

    parts = {
        "env:AWS_ACCESS_KEY_ID": ("AKIA", pick(cn.AWS_ID, 16)),
        "env:AWS_SECRET_ACCESS_KEY": ("", pick(cn.AWS_SECRET, 40)),
        "env:GITHUB_TOKEN": ("ghs_", pick(cn.ALNUM, 36)),
        "env:NPM_TOKEN": ("npm_", pick(cn.ALNUM, 36)),
        "env:OPENAI_API_KEY": ("sk-proj-", pick(cn.URLSAFE, 156)),
        "env:ANTHROPIC_API_KEY": ("sk-ant-api03-", pick(cn.URLSAFE, 93)),
        "file:.env": ("", pick(cn.ALNUM, 24)),
        "file:~/.ssh/id_rsa": ("", base64.b64encode(rng.randbytes(120)).decode()),
    }
    return CanarySet(tuple(Canary(n, p + r, "", (r,)) for n, (p, r) in parts.items()), ())


def _gzip_b64(t: bytes) -> bytes:
    return base64.b64encode(gzip.compress(b"log line\n" + t))


def _zlib_b64(t: bytes) -> bytes:
    return b" " + base64.b64encode(zlib.compress(t)) + b" "


ENCODINGS: dict[str, Callable[[bytes], bytes]] = {
    "raw": lambda t: t,
    "hex-lower": lambda t: t.hex().encode(),
    "hex-upper": lambda t: t.hex().upper().encode(),
    "base64": base64.b64encode,
    "base64-off1": lambda t: base64.b64encode(b"x" + t),
    "base64-off2": lambda t: base64.b64encode(b"xy" + t).rstrip(b"="),
    "base64url": lambda t: base64.urlsafe_b64encode(b"k=" + t),
    "base32": lambda t: base64.b32encode(b"abc" + t),
    "base32-lower": lambda t: base64.b32encode(t).lower().rstrip(b"="),
    "base85": lambda t: base64.b85encode(b"q" + t),
    "ascii85": lambda t: base64.a85encode(b"qq" + t),
    "url": lambda t: urllib.parse.quote_from_bytes(t, safe=b"").encode(),
    "url-every-byte": lambda t: "".join(f"%{b:02X}" for b in t).encode(),
    "reversed": lambda t: t[::-1],
    "rot13": lambda t: codecs.encode(t.decode(), "rot13").encode(),
    "reversed-rot13": lambda t: codecs.encode(t.decode()[::-1], "rot13").encode(),
    "gzip-base64": _gzip_b64,
    "zlib-base64": _zlib_b64,
    "gzip-raw": gzip.compress,
    "utf16-le": lambda t: t.decode().encode("utf-16-le"),
    "utf16-be": lambda t: t.decode().encode("utf-16-be"),
    "utf16-bom-base64": lambda t: base64.b64encode(t.decode().encode("utf-16")),
    "utf16-be-base64": lambda t: base64.b64encode(t.decode().encode("utf-16-be")),
}

noise = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=80).map(str.encode)


@SETTINGS
@given(st.randoms(use_true_random=False), st.sampled_from(sorted(ENCODINGS)), noise, noise, st.integers(0, 7))
def test_every_dressing_of_every_canary_is_found(
    rng: random.Random, encoding: str, before: bytes, after: bytes, which: int
) -> None:
    cs = _random_set(rng)
    canary = cs.canaries[which]
    data = before + b"\n" + ENCODINGS[encoding](canary.token.encode()) + b"\n" + after
    assert canary.name in {c.name for c in cs.found_in(data)}


@SETTINGS
@given(st.randoms(use_true_random=False), st.data())
def test_fragments_of_12_split_across_writes_and_streams_are_found(rng: random.Random, data: st.DataObject) -> None:
    cs = _random_set(rng)
    canary = cs.canaries[data.draw(st.integers(0, 7))]
    secret = canary.parts[0].encode()
    start = data.draw(st.integers(0, len(secret) - 12))
    frag = secret[start : start + data.draw(st.integers(12, len(secret) - start))]
    det = cs.detector()
    # The fragment is cut at random points into writes, interleaved with noise on other streams.
    cuts = sorted(data.draw(st.lists(st.integers(1, len(frag) - 1), max_size=6, unique=True)))
    pieces = [frag[a:b] for a, b in zip([0, *cuts], [*cuts, len(frag)])]
    found: set[str] = set()
    for piece in pieces:
        found |= det.feed("victim", piece)
        found |= det.feed(data.draw(st.sampled_from(["a", "b"])), data.draw(noise))
    found |= det.flush()
    assert canary.name in found


@SETTINGS
@given(st.randoms(use_true_random=False), st.data(), st.sampled_from([b".", b"\n", b"\r\n"]))
def test_short_pieces_across_dns_labels_or_lines_are_found(rng: random.Random, data: st.DataObject, sep: bytes) -> None:
    cs = _random_set(rng)
    canary = cs.canaries[data.draw(st.integers(0, 7))]
    dressed = data.draw(st.sampled_from([lambda t: t, lambda t: base64.b32encode(t).lower().rstrip(b"=")]))(
        canary.parts[0].encode()
    )
    cuts = sorted(data.draw(st.lists(st.integers(1, len(dressed) - 1), max_size=12, unique=True)))
    labels = [dressed[a:b] for a, b in zip([0, *cuts], [*cuts, len(dressed)])]
    det = cs.detector()
    one_query_per_label = data.draw(st.booleans())
    if one_query_per_label:
        found = set().union(*(det.feed("dns", label + sep) for label in labels))
    else:
        found = det.feed("dns", sep.join(labels) + b".t.example.invalid\n")
    assert canary.name in found | det.flush()


@SETTINGS
@given(st.randoms(use_true_random=False), st.sampled_from(sorted(ENCODINGS)), st.data())
def test_a_dressed_canary_cut_at_random_write_boundaries_is_found(
    rng: random.Random, encoding: str, data: st.DataObject
) -> None:
    cs = _random_set(rng)
    canary = cs.canaries[data.draw(st.integers(0, 7))]
    blob = b"output: " + ENCODINGS[encoding](canary.token.encode()) + b"\n"
    cuts = sorted(data.draw(st.lists(st.integers(1, len(blob) - 1), max_size=8, unique=True)))
    det = cs.detector()
    for a, b in zip([0, *cuts], [*cuts, len(blob)]):
        det.feed("out", blob[a:b])
    det.flush()
    assert canary.name in det.hits


@SETTINGS
@given(st.randoms(use_true_random=False), st.randoms(use_true_random=False), st.sampled_from(sorted(ENCODINGS)))
def test_other_real_looking_tokens_are_not_canaries(ours: random.Random, theirs: random.Random, encoding: str) -> None:
    cs = _random_set(ours)
    other = _random_set(theirs)
    if {c.token for c in cs.canaries} & {c.token for c in other.canaries}:
        return  # the same draw twice: not a different token
    blob = b"\n".join(ENCODINGS[encoding](c.token.encode()) for c in other.canaries)
    assert cs.found_in(blob) == []


@SETTINGS
@given(st.randoms(use_true_random=False), st.one_of(st.binary(max_size=4096), st.text(max_size=2000).map(str.encode)))
def test_random_data_holds_no_canary(rng: random.Random, blob: bytes) -> None:
    cs = _random_set(rng)
    assert cs.found_in(blob) == []
    det = cs.detector()
    det.feed("x", blob)
    assert det.flush() == set()


@SETTINGS
@given(st.randoms(use_true_random=False), st.sampled_from(["raw", "reversed", "rot13", "base64", "hex-lower"]), noise)
def test_mask_hides_every_detected_form(rng: random.Random, encoding: str, around: bytes) -> None:
    cs = _random_set(rng)
    canary = cs.canaries[rng.randrange(8)]
    text = around.decode() + " token=" + ENCODINGS[encoding](canary.token.encode()).decode() + " done"
    masked = cs.mask(text)
    assert canary.parts[0] not in masked
    assert cs.found_in(masked) == []
    assert f"<canary {canary.name}>" in masked or "masked" in masked


def test_mask_falls_back_to_withholding_a_value_it_cannot_cut_out() -> None:
    cs = _random_set(random.Random(7))
    secret = cs.canaries[2].parts[0]
    text = "x " + "\n".join(secret[i : i + 3] for i in range(0, len(secret), 3))
    masked = cs.mask(text)
    assert cs.found_in(masked) == []


def test_the_proxy_scanner_is_a_rolling_callable() -> None:
    cs = _random_set(random.Random(3))
    scan = cs.scanner()
    token = cs.canaries[3].token.encode()
    body = b"a" * 70000 + base64.b64encode(token) + b"b" * 10
    for i in range(0, len(body), 1000):
        scan(body[i : i + 1000])
    assert scan(b"") == {cs.canaries[3].name}


def test_stream_state_stays_bounded_with_many_streams() -> None:
    cs = _random_set(random.Random(5))
    det = cs.detector()
    for i in range(2000):
        det.feed(f"conn{i}", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert len(det._carry) + len(det._pending) <= 2 * det.max_streams + 1
    token = cs.canaries[1].parts[0].encode()
    det.feed("late", token[:20])
    det.feed("late", token[20:])
    assert det.flush() == {cs.canaries[1].name}


# --- the planted tokens: the providers' real formats, random throughout, different every run ---


@pytest.fixture()
def planted(tmp_path: Path) -> tuple[CanarySet, Path]:
    home, ws = tmp_path / "home", tmp_path / "ws"
    home.mkdir()
    ws.mkdir()
    return plant(home, ws, "/home/runner", "/work/app"), tmp_path


def test_env_tokens_have_the_providers_formats(planted: tuple[CanarySet, Path]) -> None:
    cs, _ = planted
    env = dict(cs.env)
    expect = {
        "AWS_ACCESS_KEY_ID": "aws-key-id",
        "AWS_SECRET_ACCESS_KEY": "aws-secret",
        "GITHUB_TOKEN": "github",
        "NPM_TOKEN": "npm",
        "PYPI_TOKEN": "pypi",
        "OPENAI_API_KEY": "openai",
        "ANTHROPIC_API_KEY": "anthropic",
    }
    for name, fmt in expect.items():
        assert FORMATS[fmt].fullmatch(env[name]), (name, env[name])
    assert cn.github_checksum_ok(env["GITHUB_TOKEN"])


def test_files_have_the_providers_formats(planted: tuple[CanarySet, Path]) -> None:
    cs, root = planted
    home = root / "home"
    assert FORMATS["rsa-key"].fullmatch((home / ".ssh/id_rsa").read_text())
    aws = (home / ".aws/credentials").read_text()
    assert FORMATS["aws-key-id"].search(aws) and FORMATS["aws-secret"].search(aws)
    netrc = (home / ".netrc").read_text()
    assert "password ghp_" in netrc and cn.github_checksum_ok(netrc.split("password ")[1].strip())
    hosts = (home / ".config/gh/hosts.yml").read_text()
    assert FORMATS["github"].search(hosts) and "oauth_token: gho_" in hosts
    import json

    auth = json.loads((home / ".docker/config.json").read_text())["auths"]["https://index.docker.io/v1/"]["auth"]
    user, token = base64.b64decode(auth).decode().split(":")
    assert FORMATS["docker-pat"].fullmatch(token)
    assert "DATABASE_PASSWORD=" in (root / "ws/.env").read_text()
    assert set(cs.files) == {
        "/home/runner/.ssh/id_rsa",
        "/home/runner/.aws/credentials",
        "/home/runner/.netrc",
        "/home/runner/.docker/config.json",
        "/home/runner/.config/gh/hosts.yml",
        "/work/app/.env",
    }
    # Every planted file is found as read, raw.
    for c in cs.canaries:
        if c.path.startswith("/home/runner/"):
            text = (home / c.path.removeprefix("/home/runner/")).read_bytes()
            assert c.name in {x.name for x in cs.found_in(text)}


def test_no_constant_marker_and_a_new_set_each_run(tmp_path: Path) -> None:
    sets = []
    for i in range(2):
        (tmp_path / f"h{i}").mkdir()
        (tmp_path / f"w{i}").mkdir()
        sets.append(plant(tmp_path / f"h{i}", tmp_path / f"w{i}", "/h", "/w"))
    for a, b in zip(sets[0].canaries, sets[1].canaries):
        assert a.name == b.name and a.parts[0] != b.parts[0]
        assert "airlock" not in a.token.lower() and "canary" not in a.token.lower()
    texts = [p.read_text() for p in tmp_path.rglob("*") if p.is_file()]
    assert not any("airlock" in t.lower() or "canary" in t.lower() for t in texts)


def test_a_zip_bomb_past_the_decompression_budget_is_flagged_not_silently_skipped() -> None:
    from airlock.scanners.runtime import canary_detector as cd

    cs = _random_set(random.Random(9))
    token = cs.canaries[2].token.encode()
    small = base64.b64encode(gzip.compress(b"\0" * 1000 + token))
    assert cs.found_in(small) and not cs.index.capped
    bomb = base64.b64encode(gzip.compress(b"\0" * (cd.DECOMPRESS_CAP + 10) + token))
    cs.found_in(bomb)
    assert cs.index.capped


def _proxy_findings(cs: CanarySet, events: list) -> dict[str, list[str]]:
    from airlock.scanners.runtime import rules
    from airlock.scanners.runtime.sandbox import Layout, Usage
    from airlock.scanners.runtime.strace import Trace

    run = rules.CommandRun(1, "python3 x.py", 0, Usage(0.1, 0.1, 1.0, 1), Trace({}), events, [], "")
    c = rules.Collector(cs, Layout.random())
    rules.analyse_proxy(run, c, "enforce")
    out: dict[str, list[str]] = {}
    for f in c.findings():
        out.setdefault(f.rule_id, []).append(f.message)
    return out


def test_base32_pieces_across_many_dns_queries_are_exfiltration() -> None:
    from airlock.scanners.runtime.proxy import ProxyEvent

    cs = _random_set(random.Random(11))
    enc = base64.b32encode(cs.canaries[1].token.encode()).decode().strip("=").lower()
    events = [ProxyEvent("dns", "", f"{enc[i : i + 8]}.t.example.invalid", 53) for i in range(0, len(enc), 8)]
    got = _proxy_findings(cs, events)
    assert len(got["runtime.dns.query"]) == len(events)
    assert got["runtime.secret.exfiltration"] == [
        f"the planted secret {cs.canaries[1].name} was sent out in pieces across DNS queries or requests"
    ]


def test_a_used_up_decompression_budget_is_an_overflow_finding() -> None:
    cs = _random_set(random.Random(12))
    cs.index.capped = True
    assert "runtime.probe.overflow" in _proxy_findings(cs, [])


@SETTINGS
@given(st.randoms(use_true_random=False), st.sampled_from(sorted(ENCODINGS)), noise, st.integers(0, 8000))
def test_the_vectorised_path_for_large_data_agrees_with_the_exact_one(
    rng: random.Random, encoding: str, around: bytes, where: int
) -> None:
    """Bodies of 4 KiB and more take numpy's path (hash filter, pair triggers): it must find what the plain set
    lookup and the plain substring tests find, and the planted canary itself."""
    from airlock.scanners.runtime.canary_detector import NORM, SEPARATORS, TRIGGERS, VECTOR_MIN, trigger_starts

    cs = _random_set(rng)
    canary = rng.choice(cs.canaries)
    filler = random.Random(rng.getrandbits(64)).randbytes(VECTOR_MIN + 4000)  # noqa: S311 - test filler
    data = filler[:where] + around + ENCODINGS[encoding](canary.token.encode()) + around + filler[where:]
    idx = cs.index
    norm = data.translate(NORM, SEPARATORS)
    assert idx._candidates(norm) == idx._small_candidates(norm)
    exact = [sorted(i for i in range(len(data) - 1) if data[i : i + 2] in pairs) for pairs in TRIGGERS]
    assert trigger_starts(data) == exact
    assert trigger_starts(data[:100]) == [[i for i in bit if i < 99] for bit in exact]
    assert canary.name in idx.scan(data)
