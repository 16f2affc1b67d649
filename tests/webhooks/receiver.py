"""A real webhook receiver on loopback: uvicorn in a thread, verifying every request with the
``standardwebhooks`` library, answering from a script of statuses."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    answered: int
    verified_with: list[str]


@dataclass
class Receiver:
    """``script`` is the status of each request in turn; the last repeats."""

    script: list[int] = field(default_factory=lambda: [200])
    secrets: list[str] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    url: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def verified_by(self, headers: dict[str, str], body: bytes) -> list[str]:
        ok = []
        for secret in self.secrets:
            try:
                Webhook(secret).verify(body, headers)
            except WebhookVerificationError:
                continue
            ok.append(secret)
        return ok

    async def handle(self, request: Request) -> Response:
        body = await request.body()
        headers = dict(request.headers)
        with self._lock:
            status = self.script[min(len(self.received), len(self.script) - 1)]
            self.received.append(Received(headers, body, status, self.verified_by(headers, body)))
        return Response(b"ok" if status < 300 else b"not now", status_code=status)

    def wait_for(self, count: int, timeout: float = 20.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.received)} of {count} requests arrived")
            time.sleep(0.02)
        return self.received


class ReceiverServer:
    def __init__(self, receiver: Receiver) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port: int = sock.getsockname()[1]
        app = Starlette(routes=[Route("/hook", receiver.handle, methods=["POST"])])
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        receiver.url = f"http://127.0.0.1:{self.port}/hook"

    def __enter__(self) -> ReceiverServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise AssertionError("the receiver did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *_exc: Any) -> None:
        self.server.should_exit = True
        self.thread.join(10)
