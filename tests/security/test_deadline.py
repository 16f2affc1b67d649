"""Slow clients: a request body that stops arriving ends with 408, a steady one passes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from loadbay.app import create_app
from loadbay.settings import Settings


@pytest.fixture
def app(settings: Settings) -> Iterator[FastAPI]:
    application = create_app(settings.model_copy(update={"receive_timeout": 0.3}))
    with TestClient(application):  # runs the lifespan: the app is ready to serve
        yield application


def call(app: FastAPI, parts: list[bytes], pause: float) -> tuple[int, dict[str, str], Any]:
    """Send a POST /api/schemas whose body arrives in ``parts``, ``pause`` seconds apart."""
    sent: list[dict[str, Any]] = []

    async def run() -> None:
        queue = list(parts)

        async def receive() -> dict[str, Any]:
            if not queue:
                await asyncio.sleep(3600)  # the client is gone quiet; only a disconnect is left
            await asyncio.sleep(pause)
            chunk = queue.pop(0)
            return {"type": "http.request", "body": chunk, "more_body": bool(queue)}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/api/schemas",
            "raw_path": b"/api/schemas",
            "query_string": b"",
            "root_path": "",
            "headers": [(b"host", b"testserver"), (b"content-type", b"application/json")],
            "client": ("127.0.0.1", 5000),
            "server": ("testserver", 80),
            "state": {},
            "app": app,
        }
        await asyncio.wait_for(app(scope, receive, send), 10)

    asyncio.run(run())
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    headers = {k.decode(): v.decode() for k, v in start["headers"]}
    return start["status"], headers, json.loads(body)


def test_a_stalled_body_gets_408(app: FastAPI) -> None:
    document = json.dumps({"name": "slow", "fields": [{"name": "a"}]}).encode()
    status, headers, problem = call(app, [document[:10], document[10:]], pause=1.0)
    assert status == 408
    assert headers["content-type"] == "application/problem+json"
    assert headers["connection"] == "close"
    assert problem["type"] == "/problems/request-timeout"
    assert "LOADBAY_RECEIVE_TIMEOUT" in problem["detail"]


def test_a_steady_body_is_not_cut_off(app: FastAPI) -> None:
    document = json.dumps({"name": "steady", "fields": [{"name": "a"}]}).encode()
    parts = [document[i : i + 8] for i in range(0, len(document), 8)]
    status, _, body = call(app, parts, pause=0.1)  # 1 s in all, never 0.3 s idle
    assert status == 201, body
    assert body["name"] == "steady"
