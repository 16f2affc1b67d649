"""A receiving API on loopback for the HTTP destination tests: a real HTTP server in a thread
that keeps batches by Idempotency-Key (a repeated key is answered again, not applied again,
as a receiver honouring the key does), and can fail a batch once, refuse large batches
with 413 and reject records with the per-record error format."""

from __future__ import annotations

import json
import socket
import socketserver
import struct
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

Failure = Literal["500", "reset", "lost-ack", "400"]


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    records: list[dict[str, Any]]


@dataclass
class Behaviour:
    """How the receiver answers; ``fail_once`` maps a batch (the key's part after the
    colon) to how its first attempt fails; ``fail_always`` to a status every attempt gets."""

    max_records: int | None = None
    reject: Callable[[dict[str, Any]], str | None] = lambda record: None
    fail_once: dict[str, Failure] = field(default_factory=dict)
    fail_always: dict[str, int] = field(default_factory=dict)
    partial_status: int = 207


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ReceiverServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        self._receive()

    def do_PUT(self) -> None:
        self._receive()

    def _receive(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode()
        headers = {name.lower(): value for name, value in self.headers.items()}
        if headers.get("content-type") == "application/x-ndjson":
            records = [json.loads(line) for line in body.splitlines() if line]
        else:
            records = json.loads(body)
        key = headers.get("idempotency-key", "")
        batch = key.partition(":")[2]
        server = self.server
        behaviour = server.behaviour
        with server.lock:
            server.requests.append(Request(self.command, self.path, headers, records))
            server.attempts[key] += 1
            first = server.attempts[key] == 1
        failure = behaviour.fail_once.get(batch) if first else None
        if batch in behaviour.fail_always:
            self._reply(behaviour.fail_always[batch], {"error": "no"})
            return
        if failure == "500":
            self._reply(500, {"error": "try again"})
            return
        if failure == "400":
            self._reply(400, {"error": "bad batch"})
            return
        if failure == "reset":
            self._reset()
            return
        if behaviour.max_records is not None and len(records) > behaviour.max_records:
            self._reply(413, {"error": f"at most {behaviour.max_records} records"})
            return
        errors = []
        for index, record in enumerate(records):
            message = behaviour.reject(record)
            if message is not None:
                errors.append({"index": index, "message": message, "field": "email"})
        rejected = {e["index"] for e in errors}
        with server.lock:
            # Applied once per key: a retried batch is answered as before.
            server.applied.setdefault(key, [r for i, r in enumerate(records) if i not in rejected])
        if failure == "lost-ack":
            self._reset()  # applied, but the answer never arrives
            return
        if errors:
            self._reply(behaviour.partial_status, {"errors": errors})
        else:
            self._reply(200, {"accepted": len(records)})

    def _reply(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _reset(self) -> None:
        # SO_LINGER 0: close() sends a TCP RST, the client sees the connection reset.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
        self.close_connection = True


class ReceiverServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, behaviour: Behaviour | None = None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.behaviour = behaviour or Behaviour()
        self.lock = threading.Lock()
        self.requests: list[Request] = []
        self.attempts: Counter[str] = Counter()
        # Idempotency-Key -> the records applied under it.
        self.applied: dict[str, list[dict[str, Any]]] = {}
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def server_bind(self) -> None:
        socketserver.TCPServer.server_bind(self)  # no reverse DNS lookup (getfqdn)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # the reset answers abort connections on purpose

    def __enter__(self) -> ReceiverServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()
        self._thread.join(timeout=5)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/records"

    def rows(self) -> list[dict[str, Any]]:
        """Every record applied, over all keys, in key order of arrival."""
        with self.lock:
            return [record for records in self.applied.values() for record in records]

    def batches(self) -> list[str]:
        """The batch part of every key, in the order the requests came."""
        with self.lock:
            return [r.headers["idempotency-key"].partition(":")[2] for r in self.requests]
