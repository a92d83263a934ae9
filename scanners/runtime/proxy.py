"""airlock's host-side HTTP/HTTPS (CONNECT) proxy on a unix socket: the sandbox's only way out.

Every request on every connection (keep-alive, pipelined) is parsed by h11 and logged with its host, port and
method; plain HTTP also with its path, headers and a bounded prefix of its body. Bodies (chunked or not) and the
client's side of an audit-mode CONNECT tunnel are scanned in full, as a stream, by the `scan` callable. `enforce`
forwards nothing; `audit` forwards allowlisted traffic. A destination outside the allowlist, a Host header that
differs from the target (domain fronting), or any request after the event log is full is never forwarded.
"""

from __future__ import annotations

import ipaddress
import socket
import socketserver
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

import h11

MAX_HEAD = 64 * 1024
MAX_BODY_KEEP = 4 * 1024  # evidence only: the body itself is scanned in full as it streams
RECV = 256 * 1024
SCAN_WINDOW = 1024  # bytes carried between scanned pieces, so a token split across writes is still found
SCAN_BATCH = 256 * 1024  # small writes are batched before scanning, so 1-byte chunks cannot cost a scan each
MAX_EVENTS = 2000
UPSTREAM_TIMEOUT_S = 30
DNS_MAGIC = b"AIRLOCK-DNS "  # the in-sandbox DNS stub's report line (inside/dns_stub.py)
IDLE_TIMEOUT_S = 60  # a connection that sends nothing for this long gives its slot back
DRAIN_MAX = 1 << 20  # bytes read and dropped before closing a connection the proxy is done with


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
    body: bytes = b""  # a bounded prefix, for evidence
    allowed: bool = False
    forwarded: bool = False
    qtype: int = 0
    hits: tuple[str, ...] = ()  # canary names the stream scan found in the request line, headers, body or tunnel
    fronting: bool = False  # the Host header named another host than the target: refused
    host_header: str = ""
    truncated: bool = False  # `body` holds only a prefix of what was sent
    size: int = 0  # body (or tunnel upload) bytes seen


Scan = Callable[[bytes], "set[str]"]


class StreamScan:
    """Scans a byte stream in pieces with a carried-over window, so a token split across writes or chunks is found;
    memory stays bounded whatever the stream's length. Thread-safe: a snapshot flushes what the handler has not."""

    def __init__(self, scan: Scan | None) -> None:
        self._scan = scan
        self._lock = threading.Lock()
        self._carry = b""
        self._pending: list[bytes] = []
        self._pending_len = 0
        self.hits: set[str] = set()
        self.prefix = b""
        self.size = 0

    def feed(self, data: bytes) -> bool:
        """Adds data; True when the hits grew."""
        with self._lock:
            self.size += len(data)
            if len(self.prefix) < MAX_BODY_KEEP:
                self.prefix += data[: MAX_BODY_KEEP - len(self.prefix)]
            self._pending.append(data)
            self._pending_len += len(data)
            return self._flush() if self._pending_len >= SCAN_BATCH else False

    def flush(self) -> bool:
        with self._lock:
            return self._flush()

    def apply(self, event: ProxyEvent) -> ProxyEvent:
        """The event with what this stream has shown so far (hits, size, evidence prefix)."""
        with self._lock:
            return replace(
                event,
                hits=tuple(sorted(set(event.hits) | self.hits)),
                body=self.prefix,
                size=self.size,
                truncated=self.size > len(self.prefix),
            )

    def _flush(self) -> bool:
        if self._scan is None or not self._pending_len:
            self._pending, self._pending_len = [], 0
            return False
        blob = self._carry + b"".join(self._pending)
        self._pending, self._pending_len = [], 0
        before = len(self.hits)
        self.hits |= self._scan(blob)
        self._carry = blob[-SCAN_WINDOW:]
        return len(self.hits) > before


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


def _same_host(host_header: str, host: str, port: int, default_port: int) -> bool:
    """The Host header names the same host and port as the target; a Host without a port takes default_port."""
    h, p = _split_hostport(host_header.strip(), default_port)
    return _norm(h) == _norm(host) and p == port


def _norm(host: str) -> str:
    return host.strip().lower().rstrip(".").strip("[]")


HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "te", "trailer", "upgrade", "expect", "proxy-authorization"}
)


def _text(headers: h11._headers.Headers) -> tuple[tuple[str, str], ...]:
    return tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v, _ in _raw(headers))


def _raw(headers: h11._headers.Headers) -> list[tuple[bytes, bytes, bytes]]:
    # h11 keeps (raw name, value) per header; the lower-case name decides, the raw one is what was sent
    return [(raw, v, raw.lower()) for raw, v in headers.raw_items()]


class _Stop(Exception):
    """The connection is done (refused, closed or broken)."""


class _Handler(socketserver.BaseRequestHandler):
    server: ProxyServer
    request: socket.socket

    def handle(self) -> None:
        self._last = b""
        try:
            self._serve()
        except (OSError, ValueError, UnicodeError, h11.ProtocolError, _Stop):
            pass

    # -- reading -----------------------------------------------------------------------------------------------
    def _recv(self) -> bytes:
        data = self.request.recv(RECV)
        if data:
            self._last = data
        return data

    def _next(self, conn: h11.Connection) -> object:
        while True:
            ev = conn.next_event()
            if ev is not h11.NEED_DATA:
                return ev
            conn.receive_data(self._recv())

    def _serve(self) -> None:
        first = self._recv()
        while first and len(first) < len(DNS_MAGIC) and DNS_MAGIC.startswith(first):
            more = self._recv()
            if not more:
                break
            first += more
        if not first:
            return
        if first.startswith(DNS_MAGIC):
            self._dns(first)
            return
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD)
        conn.receive_data(first)
        while True:
            try:
                ev = self._next(conn)
            except h11.RemoteProtocolError:
                self._garbage()
                return
            if not isinstance(ev, h11.Request):
                return  # ConnectionClosed
            if not self._request(conn, ev):
                return
            if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                return
            conn.start_next_cycle()  # keep-alive / pipelining: the next request is parsed and checked too

    def _dns(self, first: bytes) -> None:
        buf = first
        while b"\n" not in buf and len(buf) < MAX_HEAD:
            more = self._recv()
            if not more:
                break
            buf += more
        parts = buf.split(b"\n", 1)[0].decode("latin-1").strip().split(" ")
        if len(parts) == 3:
            hexname = parts[2]
            name = bytes.fromhex(hexname).decode("latin-1") if all(c in "0123456789abcdef" for c in hexname) else ""
            qtype = int(parts[1]) if parts[1].isdigit() else 0
            self.server.reserve(ProxyEvent("dns", "QUERY", name, 53, qtype=qtype))
        self.request.sendall(b"OK\r\n")

    def _garbage(self) -> None:
        data = self._last
        hits = tuple(sorted(self.server.scan(data))) if self.server.scan else ()
        text = data[:512].decode("latin-1")
        self.server.reserve(ProxyEvent("garbage", text.split(" ", 1)[0][:32], "", 0, path=text, hits=hits))
        self.request.sendall(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")

    # -- one request -------------------------------------------------------------------------------------------
    def _deny(self, reason: str, status: bytes = b"403 Forbidden") -> None:
        body = f"airlock: {reason}\n".encode()
        self.request.sendall(
            b"HTTP/1.1 "
            + status
            + b"\r\nContent-Type: text/plain\r\nConnection: close\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )

    def _request(self, conn: h11.Connection, req: h11.Request) -> bool:
        """Checks, records and (maybe) forwards one request; False when the connection must end."""
        server = self.server
        method, target = req.method.decode("latin-1"), req.target.decode("latin-1")
        headers = _text(req.headers)
        host_header = next((v for k, v in headers if k.lower() == "host"), "")
        scheme_ok, fronting = True, False
        if method.upper() == "CONNECT":
            kind, path = "connect", ""
            host, port = _split_hostport(target, 443)
            fronting = bool(host_header) and not _same_host(host_header, host, port, port)
        else:
            kind = "http"
            url = urlsplit(target)
            if url.scheme or url.netloc:  # absolute form: the target names the destination, Host must agree
                try:
                    port = url.port or (443 if url.scheme == "https" else 80)
                except ValueError:  # out of range or not a number: recorded and refused, never dropped silently
                    port = 0
                host = url.hostname or ""
                scheme_ok = url.scheme == "http"
                fronting = bool(host_header) and not _same_host(host_header, host, port, 80)
            else:  # origin form (a client that thinks it talks to the server): Host is the destination
                host, port = _split_hostport(host_header, 80)
            path = (url.path or "/") + (f"?{url.query}" if url.query else "")
        host = _norm(host)
        allowed = server.allowlist.allows(host, port) and scheme_ok and 0 < port < 65536
        forward = allowed and not fronting and server.mode == "audit"
        head = f"{method} {target}\n" + "".join(f"{k}: {v}\n" for k, v in headers)
        head_hits = server.scan(head.encode("latin-1")) if server.scan else set()
        event = ProxyEvent(
            kind,
            method[:16],
            host,
            port,
            path=path,
            headers=headers,
            allowed=allowed,
            forwarded=forward,
            hits=tuple(sorted(head_hits)),
            fronting=fronting,
            host_header=host_header[:256],
        )
        idx = server.reserve(event)
        if idx is None:  # fail closed: what cannot be logged is not forwarded
            self._deny("the proxy's event log is full; nothing more is forwarded")
            return False
        if fronting:
            reason = f"the Host header {host_header!r} differs from the target {host}:{port}"
        elif allowed:
            reason = f"{host}:{port} is allowlisted (enforce mode forwards nothing)"
        else:
            reason = f"{host}:{port} is not allowed"
        upstream = self._open(host, port) if forward else None
        if forward and upstream is None:
            event = replace(event, forwarded=False)
            server.update(idx, event)
        if kind == "connect":
            event = self._body(conn, idx, event, None, None)  # h11 must see the (empty) body end to switch
            if upstream is None:
                return self._refuse(conn, forward, reason)
            self.request.sendall(
                conn.send(h11.Response(status_code=200, headers=[], reason=b"Connection established")) or b""
            )
            self._tunnel(upstream, conn.trailing_data[0], idx, event)
            return False
        if conn.they_are_waiting_for_100_continue:
            self.request.sendall(conn.send(h11.InformationalResponse(status_code=100, headers=[])) or b"")
        up = h11.Connection(h11.CLIENT) if upstream is not None else None
        try:
            if upstream is not None and up is not None:
                upstream.sendall(up.send(self._upstream_request(req, host, port, path)) or b"")
            event = self._body(conn, idx, event, upstream, up)
            if upstream is None or up is None:
                return self._refuse(conn, forward, reason)
            return self._response(conn, upstream, up)
        finally:
            if upstream is not None:
                upstream.close()

    def _refuse(self, conn: h11.Connection, forward: bool, reason: str) -> bool:
        """Answers a request that is not forwarded, keeping the connection: what the client sends next is still
        parsed and recorded (its attempts are findings too)."""
        status, text = (502, "upstream unreachable") if forward else (403, reason)
        body = f"airlock: {text}\n".encode()
        headers = [(b"Content-Type", b"text/plain"), (b"Content-Length", str(len(body)).encode())]
        out = conn.send(h11.Response(status_code=status, headers=headers)) or b""
        out += (conn.send(h11.Data(data=body)) or b"") + (conn.send(h11.EndOfMessage()) or b"")
        self.request.sendall(out)
        return True

    def _open(self, host: str, port: int) -> socket.socket | None:
        try:
            return socket.create_connection((host, port), timeout=UPSTREAM_TIMEOUT_S)
        except OSError:
            return None

    @staticmethod
    def _upstream_request(req: h11.Request, host: str, port: int, path: str) -> h11.Request:
        names = {low for _, _, low in _raw(req.headers)}
        keep = [
            (raw, v)
            for raw, v, low in _raw(req.headers)
            if low not in HOP_BY_HOP
            and not low.startswith(b"proxy-")
            and not (low == b"content-length" and b"transfer-encoding" in names)
        ]
        if b"host" not in names:
            keep.append((b"Host", (host if port == 80 else f"{host}:{port}").encode("latin-1")))
        keep.append((b"Connection", b"close"))
        return h11.Request(method=req.method, target=path.encode("latin-1"), headers=keep)

    def _body(
        self,
        conn: h11.Connection,
        idx: int,
        event: ProxyEvent,
        upstream: socket.socket | None,
        up: h11.Connection | None,
    ) -> ProxyEvent:
        """Reads the whole body (also of a refused request: its canaries are the finding), scanning it as it goes."""
        stream = StreamScan(self.server.scan)
        self.server.track(idx, event, stream)
        try:
            return self._read_body(conn, idx, event, stream, upstream, up)
        finally:
            self.server.finish(idx, stream)

    def _read_body(
        self,
        conn: h11.Connection,
        idx: int,
        event: ProxyEvent,
        stream: StreamScan,
        upstream: socket.socket | None,
        up: h11.Connection | None,
    ) -> ProxyEvent:
        while True:
            ev = self._next(conn)
            if isinstance(ev, h11.Data):
                if stream.feed(bytes(ev.data)):
                    self.server.update(idx, stream.apply(event))
                if upstream is not None and up is not None:
                    upstream.sendall(up.send(h11.Data(data=ev.data)) or b"")
            elif isinstance(ev, h11.EndOfMessage):
                trailers = _text(ev.headers)
                if trailers:
                    stream.feed("".join(f"{k}: {v}\n" for k, v in trailers).encode("latin-1"))
                if upstream is not None and up is not None:
                    upstream.sendall(up.send(h11.EndOfMessage(headers=ev.headers)) or b"")
                break
            else:
                raise _Stop
        stream.flush()
        return stream.apply(event)

    def _response(self, conn: h11.Connection, upstream: socket.socket, up: h11.Connection) -> bool:
        """Relays the upstream's response, re-framed by h11 so the client's connection can carry the next request."""
        started = False
        try:
            while True:
                ev = up.next_event()
                if ev is h11.NEED_DATA:
                    up.receive_data(upstream.recv(RECV))
                    continue
                if isinstance(ev, h11.Response):
                    hdrs = [(k, v) for k, v in ev.headers.raw_items() if k.lower() not in HOP_BY_HOP]
                    self.request.sendall(
                        conn.send(h11.Response(status_code=ev.status_code, headers=hdrs, reason=ev.reason)) or b""
                    )
                    started = True
                elif isinstance(ev, h11.Data):
                    self.request.sendall(conn.send(h11.Data(data=ev.data)) or b"")
                elif isinstance(ev, h11.EndOfMessage):
                    self.request.sendall(conn.send(h11.EndOfMessage()) or b"")
                    return True
                elif isinstance(ev, h11.InformationalResponse):
                    continue
                else:
                    return False
        except (h11.ProtocolError, OSError):
            if not started:
                self._deny("bad response from upstream", b"502 Bad Gateway")
            return False

    def _tunnel(self, upstream: socket.socket, first: bytes, idx: int, event: ProxyEvent) -> None:
        """Relays a CONNECT tunnel; what the client sends is scanned (cleartext is read, TLS stays opaque)."""
        stream = StreamScan(self.server.scan)
        self.server.track(idx, event, stream)
        client = self.request
        down = threading.Thread(target=_pump, args=(upstream, client), daemon=True)
        down.start()
        sniff = _TunnelSniffer(event.host, event.port)
        try:
            data = first or client.recv(RECV)
            while data:
                bad = sniff.feed(data)
                if bad is not None:  # fronting inside the tunnel: the head never reaches the upstream whole
                    event = replace(event, fronting=True, host_header=bad[:256])
                    self.server.track(idx, event, stream)
                    stream.feed(data)
                    break
                if stream.feed(data):
                    self.server.update(idx, stream.apply(event))
                upstream.sendall(data)
                data = client.recv(RECV)
        except OSError:
            pass
        finally:
            _shutdown(client, upstream)
            down.join(UPSTREAM_TIMEOUT_S)
            upstream.close()
            self.server.finish(idx, stream)


class _TunnelSniffer:
    """Reads cleartext HTTP sent inside a CONNECT tunnel, to hold its Host headers to the tunnel's authority. A TLS
    handshake or anything h11 cannot parse ends the sniffing (the stream is still scanned for canaries)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD)
        self.live, self.first = True, True

    def feed(self, data: bytes) -> str | None:
        """The offending Host header once a request in the tunnel names another host; else None."""
        if not self.live:
            return None
        if self.first:
            self.first = False
            if data[:1] == b"\x16":  # TLS record: opaque
                self.live = False
                return None
        try:
            self.conn.receive_data(data)
            while True:
                ev = self.conn.next_event()
                if isinstance(ev, h11.Request):
                    host = next((v.decode("latin-1") for k, v in ev.headers if k == b"host"), "")
                    if host and not _same_host(host, self.host, self.port, self.port):
                        self.live = False
                        return host
                elif isinstance(ev, h11.EndOfMessage):
                    # h11 parses the next request only after a response; the real one goes to the client raw
                    self.conn.send(h11.Response(status_code=200, headers=[(b"Content-Length", b"0")]))
                    self.conn.send(h11.EndOfMessage())
                    if self.conn.our_state is not h11.DONE or self.conn.their_state is not h11.DONE:
                        self.live = False
                        return None
                    self.conn.start_next_cycle()
                elif not isinstance(ev, h11.Data):
                    if ev is not h11.NEED_DATA:
                        self.live = False
                    return None
        except h11.ProtocolError:
            self.live = False
        return None


def _shutdown(*socks: socket.socket) -> None:
    for s in socks:
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _pump(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(RECV):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        _shutdown(src, dst)


class ProxyServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    """At most max_connections are served at once (each costs two host threads); one more is refused and counted,
    so a flood of idle connections cannot grow airlock's own thread count. Once the event log is full, every
    further request is refused and counted in `dropped` (fail closed)."""

    daemon_threads = True

    def __init__(
        self,
        path: str,
        allowlist: Allowlist,
        mode: str,
        max_connections: int = 64,
        scan: Scan | None = None,
        max_events: int = MAX_EVENTS,
    ) -> None:
        self.allowlist = allowlist
        self.mode = mode
        self.scan = scan
        self.events: list[ProxyEvent] = []
        self.dropped = 0
        self.refused_connections = 0
        self.max_connections = max_connections
        self.max_events = max_events
        self._slots = threading.BoundedSemaphore(max_connections)
        self._lock = threading.Lock()
        self._live: dict[int, tuple[ProxyEvent, StreamScan]] = {}  # bodies and tunnels still streaming
        super().__init__(path, _Handler)

    def shutdown_request(self, request: socket.socket) -> None:  # type: ignore[override]
        """A lingering close: input the client sent but nobody read would make close() answer with a reset, and the
        client could lose the responses (a 403) it has not read yet. Drain briefly, bounded in bytes and time."""
        try:
            request.shutdown(socket.SHUT_WR)
            request.settimeout(0.5)
            drained = 0
            while drained < DRAIN_MAX and (chunk := request.recv(65536)):
                drained += len(chunk)
        except OSError:
            pass
        self.close_request(request)

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

    def reserve(self, event: ProxyEvent) -> int | None:
        """Logs an event and returns its index; None (and counted in `dropped`) once the log is full."""
        with self._lock:
            if len(self.events) >= self.max_events:
                self.dropped += 1
                return None
            self.events.append(event)
            return len(self.events) - 1

    def record(self, event: ProxyEvent) -> bool:
        return self.reserve(event) is not None

    def update(self, idx: int, event: ProxyEvent) -> None:
        """Replaces a logged event with what its body or tunnel has shown since (hits, size, prefix)."""
        with self._lock:
            self.events[idx] = event

    def track(self, idx: int, base: ProxyEvent, stream: StreamScan) -> None:
        with self._lock:
            self._live[idx] = (base, stream)

    def finish(self, idx: int, stream: StreamScan) -> None:
        """A body or tunnel ended: its last bytes are scanned and its event made final."""
        stream.flush()
        with self._lock:
            base, _ = self._live.pop(idx, (self.events[idx], stream))
            self.events[idx] = stream.apply(base)

    def snapshot(self) -> list[ProxyEvent]:
        """The log, with every body or tunnel still streaming scanned up to now: a connection held open past the
        command's end cannot keep its last bytes unscanned."""
        with self._lock:
            live = list(self._live.items())
        for idx, (base, stream) in live:
            stream.flush()
            event = stream.apply(base)
            with self._lock:
                if idx in self._live:
                    self.events[idx] = event
        with self._lock:
            return list(self.events)

    def start(self) -> threading.Thread:
        t = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        t.start()
        return t
