"""Body limits per route: control bodies, JSON documents and uploads each have their own."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from loadbay.app import create_app
from loadbay.security.body_limits import body_limit
from loadbay.settings import Settings

CONTROL = 400
DOCUMENT = 4000


@pytest.fixture
def limited(settings: Settings) -> Iterator[TestClient]:
    small = settings.model_copy(
        update={"max_control_body_bytes": CONTROL, "max_body_bytes": DOCUMENT}
    )
    with TestClient(create_app(small), raise_server_exceptions=False) as client:
        yield client


def chunks(data: bytes, size: int = 100) -> Iterator[bytes]:
    """A body sent without Content-Length (chunked), ``size`` bytes at a time."""
    for start in range(0, len(data), size):
        yield data[start : start + size]


def assert_too_large(response: Any, limit: int, setting: str) -> None:
    assert response.status_code == 413, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["connection"] == "close"
    body = response.json()
    assert body["type"] == "/problems/body-too-large"
    assert body["limit"] == limit
    assert body["detail"] == f"the body is larger than the limit of {limit} bytes ({setting})"


def mapping_body(size: int) -> bytes:
    """A mapping document of exactly ``size`` bytes."""
    empty = b'{"mapping": {"id": ""}}'
    return empty[:-3] + b"x" * (size - len(empty)) + empty[-3:]


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("POST", "/api/imports", ("max_body_bytes", "LOADBAY_MAX_BODY_BYTES")),
        ("POST", "/api/schemas", ("max_body_bytes", "LOADBAY_MAX_BODY_BYTES")),
        ("PUT", "/api/schemas/orders", ("max_body_bytes", "LOADBAY_MAX_BODY_BYTES")),
        (
            "PUT",
            "/api/imports/1/mapping",
            ("max_control_body_bytes", "LOADBAY_MAX_CONTROL_BODY_BYTES"),
        ),
        (
            "PATCH",
            "/api/imports/1/rows",
            ("max_control_body_bytes", "LOADBAY_MAX_CONTROL_BODY_BYTES"),
        ),
        (
            "POST",
            "/api/imports/1/commit",
            ("max_control_body_bytes", "LOADBAY_MAX_CONTROL_BODY_BYTES"),
        ),
        ("POST", "/api/webhooks", ("max_control_body_bytes", "LOADBAY_MAX_CONTROL_BODY_BYTES")),
        ("POST", "/api/session", ("max_control_body_bytes", "LOADBAY_MAX_CONTROL_BODY_BYTES")),
        ("POST", "/api/schemasx", ("max_control_body_bytes", "LOADBAY_MAX_CONTROL_BODY_BYTES")),
        ("POST", "/api/uploads", None),
        ("PATCH", "/api/uploads/abc", None),
    ],
)
def test_each_route_has_its_limit(
    settings: Settings, method: str, path: str, expected: tuple[str, str] | None
) -> None:
    limit = body_limit(settings, method, path)
    if expected is None:
        assert limit is None
    else:
        field, setting = expected
        assert limit == (getattr(settings, field), setting)


def test_a_declared_length_over_the_control_limit_is_refused_unread(limited: TestClient) -> None:
    response = limited.put(
        f"/api/imports/{uuid.uuid4()}/mapping",
        content=mapping_body(CONTROL + 1),
        headers={"content-type": "application/json"},
    )

    assert_too_large(response, CONTROL, "LOADBAY_MAX_CONTROL_BODY_BYTES")


def test_a_chunked_body_over_the_control_limit_is_cut_off(limited: TestClient) -> None:
    # FastAPI parses this route's body itself; the cut-off must still answer 413, not 400.
    response = limited.put(
        f"/api/imports/{uuid.uuid4()}/mapping",
        content=chunks(mapping_body(CONTROL * 3)),
        headers={"content-type": "application/json"},
    )

    assert "content-length" not in response.request.headers
    assert_too_large(response, CONTROL, "LOADBAY_MAX_CONTROL_BODY_BYTES")


@pytest.mark.parametrize("chunked", [False, True])
def test_a_body_within_the_limit_reaches_the_route(limited: TestClient, chunked: bool) -> None:
    body = mapping_body(CONTROL - 10)
    response = limited.put(
        f"/api/imports/{uuid.uuid4()}/mapping",
        content=chunks(body) if chunked else body,
        headers={"content-type": "application/json"},
    )

    assert response.status_code == 404  # the route ran: no such import
    assert response.json()["type"] == "/problems/import-not-found"


@pytest.mark.parametrize("chunked", [False, True])
def test_documents_take_the_larger_limit(limited: TestClient, chunked: bool) -> None:
    fields = [{"name": f"field_{n}"} for n in range(40)]
    schema = {"name": "wide", "fields": fields}
    data = json.dumps(schema).encode()
    assert CONTROL < len(data) < DOCUMENT
    response = limited.post(
        "/api/schemas",
        content=chunks(data) if chunked else data,
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 201, response.text

    huge = json.dumps({"name": "huge", "fields": fields * 3, "description": "x" * DOCUMENT})
    too_big = limited.post(
        "/api/schemas",
        content=chunks(huge.encode()) if chunked else huge.encode(),
        headers={"content-type": "application/json"},
    )
    assert_too_large(too_big, DOCUMENT, "LOADBAY_MAX_BODY_BYTES")
    assert limited.get("/api/schemas/huge").status_code == 404


def test_uploads_are_not_held_to_the_control_limit(limited: TestClient) -> None:
    data = b"id,name\n" + b"".join(b"%d,name %d\n" % (n, n) for n in range(500))
    assert len(data) > DOCUMENT

    response = limited.post("/api/uploads", files={"file": ("people.csv", data, "text/csv")})

    assert response.status_code == 201, response.text
    assert response.json()["size"] == len(data)
