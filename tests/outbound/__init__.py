"""Helpers of the outbound tests: a local HTTP server, a connect recorder, a fake resolver.

Network rule of these tests: traffic goes only to the server they start on 127.0.0.1.
``ConnectRecorder`` records every socket connect in the process and refuses (without
connecting) any destination other than loopback, so even a broken guard cannot send a
packet elsewhere; ``FakeDNS`` answers names from a table, so no DNS query leaves either.
"""

from __future__ import annotations

import ipaddress
import socket
import socketserver
import struct
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

Route = Callable[["Handler", int], None]


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so the client's pool is exercised
    server: LocalHTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean; failing tests show what the server saw in `seen`

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path = self.path.split("?", 1)[0]
        headers = {name.lower(): value for name, value in self.headers.items()}
        with self.server.lock:
            self.server.hits[path] += 1
            hit = self.server.hits[path]
            self.server.seen.append(Seen(self.command, self.path, headers, body))
        route = self.server.routes.get(path)
        if route is None:
            self.reply(404, b"no such route")
        else:
            route(self, hit)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _dispatch

    def reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def reset_mid_response(self) -> None:
        """Promise 100 bytes, send 10, then abort the connection with a TCP RST."""
        self.send_response(200)
        self.send_header("Content-Length", "100")
        self.end_headers()
        self.wfile.write(b"0123456789")
        self.wfile.flush()
        # SO_LINGER with a zero timeout makes close() send RST instead of FIN.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
        self.close_connection = True


class LocalHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.routes: dict[str, Route] = {}
        self.hits: Counter[str] = Counter()
        self.seen: list[Seen] = []
        self.lock = threading.Lock()
        # Slow routes wait on this; set at teardown so no handler thread outlives the test.
        self.release = threading.Event()

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls socket.getfqdn, a reverse DNS lookup: skip it.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = "127.0.0.1", int(self.server_address[1])

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # aborted connections (the reset route, timed-out clients) are expected here

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


class LocalServer:
    """A ThreadingHTTPServer on 127.0.0.1 and a free port, in a thread."""

    def __init__(self) -> None:
        self.httpd = LocalHTTPServer()
        # A short poll interval: shutdown() waits for it at every teardown.
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def __enter__(self) -> LocalHTTPServer:
        self._thread.start()
        return self.httpd

    def __exit__(self, *exc: object) -> None:
        self.httpd.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=5)


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    return True


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


@dataclass
class ConnectRecorder:
    """Every ``socket.connect`` destination, in order; non-loopback ones are not connected."""

    addresses: list[tuple[str, int]] = field(default_factory=list)

    def install(self, monkeypatch: pytest.MonkeyPatch) -> ConnectRecorder:
        original = socket.socket.connect

        def connect(sock: socket.socket, address: Any) -> None:
            host, port = str(address[0]), int(address[1])
            self.addresses.append((host, port))
            if not _is_loopback(host):
                raise ConnectionRefusedError(f"test network rule: no traffic to {host}")
            original(sock, address)

        def connect_ex(sock: socket.socket, address: Any) -> int:
            self.addresses.append((str(address[0]), int(address[1])))
            raise ConnectionRefusedError("test network rule: connect_ex is not expected")

        monkeypatch.setattr(socket.socket, "connect", connect)
        monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
        return self


@dataclass
class FakeDNS:
    """``socket.getaddrinfo`` answering names from ``table`` (each call may pop the next
    answer of a list of answers); address literals are parsed locally, other names fail.
    ``lookups`` lists the names asked for (literals are not lookups)."""

    table: dict[str, list[list[str]]] = field(default_factory=dict)
    lookups: list[str] = field(default_factory=list)

    def install(self, monkeypatch: pytest.MonkeyPatch) -> FakeDNS:
        original = socket.getaddrinfo

        def getaddrinfo(
            host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0
        ) -> list[tuple[Any, ...]]:
            name = host.decode() if isinstance(host, bytes) else str(host)
            if not _is_address(name):  # literals are parsed, not looked up
                self.lookups.append(name)
            answers = self.table.get(name)
            if answers is None:
                # Numeric only: a real lookup would send a DNS query out of the sandbox.
                return original(name, port, family, type, proto, flags | socket.AI_NUMERICHOST)
            current = answers.pop(0) if len(answers) > 1 else answers[0]
            infos: list[tuple[Any, ...]] = []
            for address in current:
                parsed = ipaddress.ip_address(address)
                if parsed.version == 4:
                    infos.append((socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, int(port))))
                else:
                    infos.append(
                        (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, int(port), 0, 0))
                    )
            return infos

        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
        return self
