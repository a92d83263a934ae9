"""airlock's host-side HTTP/HTTPS (CONNECT) proxy on a unix socket: the sandbox's only way out.

Every request, allowed or denied, is logged with its host, port and method; plain HTTP also with its path,
headers and (bounded) body. `enforce` forwards nothing; `audit` forwards allowlisted traffic. A destination
outside the allowlist is never forwarded in either mode.
"""

from __future__ import annotations

import ipaddress
import socket
import socketserver
import threading
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_HEAD = 64 * 1024
MAX_BODY = 64 * 1024
MAX_EVENTS = 2000
UPSTREAM_TIMEOUT_S = 30
IDLE_TIMEOUT_S = 60  # a connection that sends nothing for this long gives its slot back


@dataclass(frozen=True)
class HostRule:
    pattern: str  # "pypi.org" or "*.pythonhosted.org"
    port: int | None  # None: 80 and 443

    def matches(self, host: str, port: int) -> bool:
        if self.port is None and port not in (80, 443):
            return False
        if self.port is not None and port != self.port:
            return False
        if self.pattern.startswith("*."):
            return host.endswith(self.pattern[1:]) and len(host) > len(self.pattern) - 1
        return host == self.pattern


def parse_rule(text: str) -> HostRule:
    text = text.strip().lower().rstrip(".")
    host, port = text, None
    if text.startswith("["):  # [v6]:port
        end = text.find("]")
        host, rest = text[1:end], text[end + 1 :]
        if rest.startswith(":") and rest[1:].isdigit():
            port = int(rest[1:])
    elif text.count(":") == 1:
        h, _, p = text.partition(":")
        if p.isdigit():
            host, port = h, int(p)
    return HostRule(host, port)


@dataclass(frozen=True)
class Allowlist:
    allow: tuple[HostRule, ...]
    deny: tuple[HostRule, ...]

    @classmethod
    def from_policy(cls, allow: tuple[str, ...], deny: tuple[str, ...]) -> Allowlist:
        return cls(tuple(parse_rule(a) for a in allow), tuple(parse_rule(d) for d in deny))

    def allows(self, host: str, port: int) -> bool:
        host = host.lower().rstrip(".")
        if any(r.matches(host, port) for r in self.deny):
            return False  # deny rules win
        return any(r.matches(host, port) for r in self.allow)


@dataclass(frozen=True)
class ProxyEvent:
    kind: str  # "http", "connect", "dns", "garbage"
    method: str
    host: str
    port: int
    path: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    allowed: bool = False
    forwarded: bool = False
    qtype: int = 0


def _split_hostport(text: str, default_port: int) -> tuple[str, int]:
    if text.startswith("["):
        end = text.find("]")
        host, rest = text[1:end], text[end + 1 :]
        return host, int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else default_port
    host, _, port = text.rpartition(":")
    if host and port.isdigit():
        return host, int(port)
    return text, default_port


def is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


class _Handler(socketserver.StreamRequestHandler):
    server: ProxyServer

    def handle(self) -> None:
        try:
            self._handle()
        except (OSError, ValueError, UnicodeError):
            pass

    def _read_head(self) -> list[str] | None:
        lines: list[str] = []
        size = 0
        while True:
            line = self.rfile.readline(MAX_HEAD)
            size += len(line)
            if not line or size > MAX_HEAD:
                return lines or None
            text = line.decode("latin-1").rstrip("\r\n")
            if not text:
                return lines
            lines.append(text)

    def _handle(self) -> None:
        head = self._read_head()
        if not head:
            return
        parts = head[0].split(" ")
        headers = tuple((k.strip(), v.strip()) for k, _, v in (h.partition(":") for h in head[1:]))
        if parts[0] == "AIRLOCK-DNS" and len(parts) == 3:
            name = bytes.fromhex(parts[2]).decode("latin-1") if all(c in "0123456789abcdef" for c in parts[2]) else ""
            self.server.record(ProxyEvent("dns", "QUERY", name, 53, qtype=int(parts[1]) if parts[1].isdigit() else 0))
            self.wfile.write(b"OK\r\n")
            return
        if len(parts) != 3:
            self.server.record(ProxyEvent("garbage", parts[0][:32], "", 0, path=head[0][:512]))
            self.wfile.write(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n")
            return
        method, target, _version = parts
        if method.upper() == "CONNECT":
            host, port = _split_hostport(target, 443)
            self._connect(host, port, headers)
        else:
            self._http(method, target, headers)

    def _deny(self, reason: str) -> None:
        body = f"airlock: {reason}\n".encode()
        self.wfile.write(
            b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nConnection: close\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )

    def _connect(self, host: str, port: int, headers: tuple[tuple[str, str], ...]) -> None:
        allowed = self.server.allowlist.allows(host, port)
        forward = allowed and self.server.mode == "audit"
        self.server.record(
            ProxyEvent("connect", "CONNECT", host, port, headers=headers, allowed=allowed, forwarded=forward)
        )
        upstream = self._upstream(host, port, allowed, forward)
        if upstream is None:
            return
        self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        self.wfile.flush()
        _relay(self.connection, upstream)

    def _upstream(self, host: str, port: int, allowed: bool, forward: bool) -> socket.socket | None:
        """The upstream connection for a request the policy forwards; else answer the client and None."""
        if not forward:
            self._deny(
                f"{host}:{port} is {'allowlisted (enforce mode forwards nothing)' if allowed else 'not allowed'}"
            )
            return None
        try:
            return socket.create_connection((host, port), timeout=UPSTREAM_TIMEOUT_S)
        except OSError:
            self.wfile.write(b"HTTP/1.1 502 Bad Gateway\r\nConnection: close\r\n\r\n")
            return None

    def _http(self, method: str, target: str, headers: tuple[tuple[str, str], ...]) -> None:
        url = urlsplit(target)
        host_header = next((v for k, v in headers if k.lower() == "host"), "")
        host, port = _split_hostport(url.netloc or host_header, 80)
        path = (url.path or "/") + (f"?{url.query}" if url.query else "")
        length = next((v for k, v in headers if k.lower() == "content-length"), "0")
        body = self.rfile.read(min(int(length), MAX_BODY)) if length.strip().isdigit() and int(length) > 0 else b""
        allowed = self.server.allowlist.allows(host, port) and url.scheme in ("http", "")
        forward = allowed and self.server.mode == "audit"
        self.server.record(
            ProxyEvent(
                "http",
                method[:16],
                host,
                port,
                path=path,
                headers=headers,
                body=body,
                allowed=allowed,
                forwarded=forward,
            )
        )
        upstream = self._upstream(host, port, allowed, forward)
        if upstream is None:
            return
        keep = [(k, v) for k, v in headers if not k.lower().startswith("proxy-") and k.lower() != "connection"]
        out = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in keep) + "Connection: close\r\n\r\n"
        upstream.sendall(out.encode("latin-1") + body)
        _relay(self.connection, upstream)


def _relay(a: socket.socket, b: socket.socket) -> None:
    def pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    t = threading.Thread(target=pump, args=(b, a), daemon=True)
    t.start()
    pump(a, b)
    t.join(UPSTREAM_TIMEOUT_S)
    b.close()


class ProxyServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    """At most max_connections are served at once (each costs two host threads); one more is refused and counted,
    so a flood of idle connections cannot grow airlock's own thread count."""

    daemon_threads = True

    def __init__(self, path: str, allowlist: Allowlist, mode: str, max_connections: int = 64) -> None:
        self.allowlist = allowlist
        self.mode = mode
        self.events: list[ProxyEvent] = []
        self.dropped = 0
        self.refused_connections = 0
        self.max_connections = max_connections
        self._slots = threading.BoundedSemaphore(max_connections)
        self._lock = threading.Lock()
        super().__init__(path, _Handler)

    def process_request(self, request: socket.socket, client_address: object) -> None:  # type: ignore[override]
        if not self._slots.acquire(blocking=False):
            with self._lock:
                self.refused_connections += 1
            self.shutdown_request(request)
            return
        request.settimeout(IDLE_TIMEOUT_S)
        super().process_request(request, client_address)

    def process_request_thread(self, request: socket.socket, client_address: object) -> None:  # type: ignore[override]
        try:
            super().process_request_thread(request, client_address)  # type: ignore[misc]
        finally:
            self._slots.release()

    def record(self, event: ProxyEvent) -> None:
        with self._lock:
            if len(self.events) < MAX_EVENTS:
                self.events.append(event)
            else:
                self.dropped += 1

    def snapshot(self) -> list[ProxyEvent]:
        with self._lock:
            return list(self.events)

    def start(self) -> threading.Thread:
        t = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        t.start()
        return t
