"""Proxy throughput: a 100 MB POST relayed through airlock's proxy (audit mode, allowlisted local upstream, the
run's real canary scan) against the same POST sent straight to the same upstream. Target: the proxy at least 0.5x.
A bare relay (recv_into and sendall, nothing parsed or scanned) is measured too: the ceiling of any relay
written in Python here, so the figure says how much of the gap is the relay and how much the scan.

The ways are measured in turns, round after round, and each keeps its best round, so a load change on a shared
machine does not favour whichever ran first. Two bodies: one repeated byte (the relay's own cost) and random bytes
(like a compressed upload: the scan's hardest ordinary case, every decoder's first bytes occur).

Usage: python benchmarks/bench_proxy.py [size_mb] [rounds]
"""

from __future__ import annotations

import os
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from airlock.pipeline.fsutil import rmtree  # noqa: E402
from airlock.scanners.runtime.canaries import plant  # noqa: E402
from airlock.scanners.runtime.proxy import Allowlist, ProxyServer, Scan  # noqa: E402

PIECE = 1 << 20
ServerPost = Callable[[bytes], float]  # sends one body the given way, returns the seconds it took


def _sink(listener: socket.socket) -> None:
    """An HTTP upstream that reads one Content-Length request per connection, discards the body, answers 200."""
    while True:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        threading.Thread(target=_sink_one, args=(conn,), daemon=True).start()


def _sink_one(conn: socket.socket) -> None:
    with conn:
        buf = b""
        while b"\r\n\r\n" not in buf:
            data = conn.recv(65536)
            if not data:
                return
            buf += data
        head, _, rest = buf.partition(b"\r\n\r\n")
        length = next(
            int(v) for k, _, v in (h.partition(b":") for h in head.split(b"\r\n")) if k.lower() == b"content-length"
        )
        left = length - len(rest)
        scratch = bytearray(PIECE)
        while left > 0:
            n = conn.recv_into(scratch, min(PIECE, left))
            if not n:
                return
            left -= n
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")


def _unix(path: str) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    return s


def _post(sock: socket.socket, target: str, host: str, size: int, piece: bytes) -> float:
    t0 = time.perf_counter()
    sock.sendall(
        f"POST {target} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {size}\r\nConnection: close\r\n\r\n".encode()
    )
    sent = 0
    while sent < size:
        n = min(PIECE, size - sent)
        sock.sendall(piece[:n] if n < PIECE else piece)
        sent += n
    reply = b""
    while data := sock.recv(65536):
        reply += data
    elapsed = time.perf_counter() - t0
    assert reply.startswith(b"HTTP/1.1 200") and reply.endswith(b"ok"), reply[:200]
    sock.close()
    return elapsed


def _bare_relay(path: str, port: int) -> None:
    """The least any relay must do: a unix socket in, TCP out, recv_into and sendall, nothing parsed or scanned.
    Its ratio is the ceiling of a relay written in Python on this machine."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen()
    while True:
        try:
            client, _ = server.accept()
        except OSError:
            return
        upstream = socket.create_connection(("127.0.0.1", port))

        def down(c: socket.socket = client, u: socket.socket = upstream) -> None:
            while data := u.recv(65536):
                c.sendall(data)
            c.shutdown(socket.SHUT_RDWR)

        threading.Thread(target=down, daemon=True).start()
        buf = bytearray(PIECE)
        view = memoryview(buf)
        while n := client.recv_into(buf):
            upstream.sendall(view[:n])
        upstream.close()
        client.close()


def main() -> None:
    size = int(sys.argv[1]) * 1_000_000 if len(sys.argv) > 1 else 100_000_000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    tmp = Path(tempfile.mkdtemp(prefix="bench-proxy-"))
    servers: list[ProxyServer] = []
    try:
        (tmp / "home").mkdir()
        (tmp / "ws").mkdir()
        canaries = plant(tmp / "home", tmp / "ws", "/home/u", "/ws")
        listener = socket.create_server(("127.0.0.1", 0))
        port = listener.getsockname()[1]
        threading.Thread(target=_sink, args=(listener,), daemon=True).start()
        host = f"127.0.0.1:{port}"

        def proxy(scan: Scan | None, name: str) -> ServerPost:
            server = ProxyServer(str(tmp / f"{name}.sock"), Allowlist.from_policy((host,), ()), "audit", scan=scan)
            server.start()
            servers.append(server)

            def post(piece: bytes) -> float:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(str(tmp / f"{name}.sock"))
                took = _post(s, f"http://{host}/upload", host, size, piece)
                ev = server.snapshot()[-1]
                assert ev.forwarded and ev.size == size, ev
                return took

            return post

        ways: dict[str, ServerPost] = {
            "direct to upstream": lambda piece: _post(
                socket.create_connection(("127.0.0.1", port)), "/upload", host, size, piece
            ),
            "proxy, canary scan (real)": proxy(lambda data: {c.name for c in canaries.found_in(data)}, "scan"),
            "proxy, no scan (parse only)": proxy(None, "bare"),
            "bare relay (no parse, no scan)": lambda piece: _post(_unix(str(tmp / "relay.sock")), "/upload", host,
                                                                 size, piece),
        }
        threading.Thread(target=_bare_relay, args=(str(tmp / "relay.sock"), port), daemon=True).start()
        while not (tmp / "relay.sock").exists():
            time.sleep(0.01)
        mb = size / 1e6
        print(f"body {mb:.0f} MB, best of {rounds} rounds, the ways in turns each round")
        for body, piece in (("one repeated byte", b"\x5a" * PIECE), ("random bytes", os.urandom(PIECE))):
            best = dict.fromkeys(ways, float("inf"))
            for _ in range(rounds):
                for name, post in ways.items():
                    best[name] = min(best[name], post(piece))
            direct = best["direct to upstream"]
            print(f"-- {body}")
            for name, took in best.items():
                ratio = "" if took is direct else f"  ratio {direct / took:.2f}x"
                print(f"{name + ':':32s}{took:6.2f} s  {mb / took:7.1f} MB/s{ratio}")
            met = direct / best["proxy, canary scan (real)"] >= 0.5
            print(f"target: proxy with scan >= 0.5x direct: {'met' if met else 'NOT met'}")
        listener.close()
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()
        rmtree(tmp)


if __name__ == "__main__":
    main()
