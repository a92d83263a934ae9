"""In-sandbox stub resolver on 127.0.0.1:53: answers NXDOMAIN to everything, reports every query to the host.

Each query is sent to airlock's proxy socket as one `AIRLOCK-DNS <qtype> <hex name>` line, so the log lives
outside the sandbox where the traced code cannot rewrite it.
"""

from __future__ import annotations

import socket
import struct
import threading


def qname(packet: bytes) -> tuple[str, int, int]:
    """The first question's name (raw label bytes joined by dots), its qtype, and where the question ends."""
    pos, labels = 12, []
    while pos < len(packet):
        n = packet[pos]
        pos += 1
        if n == 0 or n & 0xC0:
            break
        labels.append(packet[pos : pos + n].decode("latin-1"))
        pos += n
    qtype = struct.unpack(">H", packet[pos : pos + 2])[0] if pos + 2 <= len(packet) else 0
    return ".".join(labels), qtype, pos + 4


def nxdomain(packet: bytes, end: int) -> bytes:
    if len(packet) < 12:
        return b""
    ident = packet[:2]
    flags = 0x8000 | (packet[2] & 0x01) << 8 | 0x0080 | 3  # response, RD copied, RA, NXDOMAIN
    return ident + struct.pack(">HHHHH", flags, 1, 0, 0, 0) + packet[12:end]


def _report(unix_path: str, name: str, qtype: int) -> None:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(5)
            s.connect(unix_path)
            s.sendall(f"AIRLOCK-DNS {qtype} {name.encode('latin-1').hex()}\r\n\r\n".encode())
            s.recv(64)
    except OSError:
        pass


def _serve_udp(sock: socket.socket, unix_path: str) -> None:
    while True:
        try:
            packet, addr = sock.recvfrom(4096)
        except OSError:
            return
        name, qtype, end = qname(packet)
        _report(unix_path, name, qtype)
        reply = nxdomain(packet, end)
        if reply:
            try:
                sock.sendto(reply, addr)
            except OSError:
                pass


def _serve_tcp(listener: socket.socket, unix_path: str) -> None:
    while True:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        try:
            conn.settimeout(5)
            head = conn.recv(2)
            if len(head) == 2:
                packet = conn.recv(struct.unpack(">H", head)[0])
                name, qtype, end = qname(packet)
                _report(unix_path, name, qtype)
                reply = nxdomain(packet, end)
                conn.sendall(struct.pack(">H", len(reply)) + reply)
        except OSError:
            pass
        finally:
            conn.close()


def bind(port: int = 53) -> list[socket.socket]:
    """Bind while the init helper still holds CAP_NET_BIND_SERVICE; serve() later, with no capability left."""
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", port))
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    tcp.bind(("127.0.0.1", port))
    tcp.listen(16)
    return [udp, tcp]


def serve(socks: list[socket.socket], unix_path: str) -> None:
    udp, tcp = socks
    threading.Thread(target=_serve_udp, args=(udp, unix_path), daemon=True).start()
    threading.Thread(target=_serve_tcp, args=(tcp, unix_path), daemon=True).start()
