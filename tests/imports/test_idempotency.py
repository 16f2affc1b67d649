"""Idempotency-Key on POST /api/imports."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi.testclient import TestClient

from loadbay.idempotency import service as idempotency
from tests.imports.conftest import customer


def post(client: TestClient, records: list[Any], key: str) -> Any:
    return client.post(
        "/api/imports",
        json={"schema": "customers", "records": records},
        headers={"Idempotency-Key": key},
    )


def test_same_key_and_body_replays_the_response(client: TestClient, customers: Any) -> None:
    first = post(client, [customer(1)], "key-1")
    assert first.status_code == 201
    again = post(client, [customer(1)], "key-1")
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["location"] == first.headers["location"]
    assert len(client.get("/api/imports").json()["items"]) == 1


def test_failed_import_is_replayed_too(client: TestClient, customers: Any) -> None:
    first = post(client, [customer(1, age=500)], "key-f")
    assert first.status_code == 422
    again = post(client, [customer(1, age=500)], "key-f")
    assert again.status_code == 422
    assert again.json() == first.json()
    assert again.headers["content-type"] == "application/problem+json"


def test_same_key_other_body_is_refused(client: TestClient, customers: Any) -> None:
    assert post(client, [customer(1)], "key-2").status_code == 201
    response = post(client, [customer(2)], "key-2")
    assert response.status_code == 422
    assert response.json()["type"] == "/problems/idempotency-key-reused"


def test_concurrent_duplicate_gets_409(client: TestClient, customers: Any) -> None:
    context = client.app.state.context  # type: ignore[attr-defined]
    body = b'{"schema": "customers", "records": []}'
    # Another request holds the key: claimed, no response yet.
    assert (
        idempotency.claim(
            context.sessions,
            scope="POST /api/imports",
            key="key-3",
            request_fingerprint=idempotency.fingerprint(body),
            ttl=dt.timedelta(hours=1),
        )
        is None
    )
    response = client.post(
        "/api/imports",
        content=body,
        headers={"Idempotency-Key": "key-3", "content-type": "application/json"},
    )
    assert response.status_code == 409
    assert response.json()["type"] == "/problems/idempotency-key-in-use"


def test_a_request_that_created_nothing_releases_the_key(
    client: TestClient, customers: Any
) -> None:
    response = client.post(
        "/api/imports",
        json={"schema": "missing", "records": []},
        headers={"Idempotency-Key": "key-4"},
    )
    assert response.status_code == 404
    assert post(client, [customer(1)], "key-4").status_code == 201


def test_malformed_key(client: TestClient, customers: Any) -> None:
    response = post(client, [customer(1)], "has space")
    assert response.status_code == 400
    assert response.json()["type"] == "/problems/invalid-idempotency-key"
