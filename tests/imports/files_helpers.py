"""Helpers for file-import tests: upload bytes, wait for states, generate CSV rows."""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient

from tests.imports.conftest import CUSTOMERS

HEADER = "id,email,name,age,signup,balance,country,active"


def csv_row(i: int, **overrides: Any) -> str:
    values: dict[str, Any] = {
        "id": i,
        "email": f"user{i}@example.com",
        "name": f'"User {i}, Jr."',
        "age": 20 + i % 60,
        "signup": "2024-02-29",
        "balance": f"{i}.50",
        "country": ("FR", "DE", "CN", "US")[i % 4],
        "active": "true" if i % 2 else "false",
    }
    values |= overrides
    return ",".join(str(v) for v in values.values())


def customers_csv(n: int, bad: dict[int, dict[str, Any]] | None = None) -> bytes:
    bad = bad or {}
    lines = [HEADER] + [csv_row(i, **bad.get(i, {})) for i in range(1, n + 1)]
    return ("\r\n".join(lines) + "\r\n").encode()


def upload(client: TestClient, content: bytes, name: str = "customers.csv") -> str:
    response = client.post("/api/uploads", files={"file": (name, content, "text/csv")})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def register_customers(client: TestClient, schema: dict[str, Any] | None = None) -> None:
    response = client.post("/api/schemas", json=schema or CUSTOMERS)
    assert response.status_code == 201, response.text


def wait_for(
    client: TestClient, import_id: str, states: set[str], timeout: float = 30.0
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body: dict[str, Any] = client.get(f"/api/imports/{import_id}").json()
        if body["state"] in states:
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"import {import_id} stayed {body['state']}: {body}")
        time.sleep(0.05)


def start_import(client: TestClient, upload_id: str, **extra: Any) -> dict[str, Any]:
    response = client.post(
        "/api/imports", json={"upload_id": upload_id, "schema": "customers", **extra}
    )
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    return body


# States in which no job works on the import: a test waiting for one of these never races.
SETTLED = {"awaiting_mapping", "validated", "completed", "failed", "cancelled", "reverted"}


def import_file(
    client: TestClient,
    content: bytes,
    *,
    schema: str,
    name: str = "data.csv",
    options: dict[str, Any] | None = None,
    timeout: float = 30.0,
    **extra: Any,
) -> dict[str, Any]:
    """Upload ``content``, import it into ``schema`` and wait until no job works on it."""
    response = client.post(
        "/api/imports",
        json={
            "upload_id": upload(client, content, name),
            "schema": schema,
            "options": options or {},
            **extra,
        },
    )
    assert response.status_code == 202, response.text
    return wait_for(client, str(response.json()["id"]), SETTLED, timeout=timeout)


def table_rows(engine: sa.Engine, table: str, columns: list[str]) -> list[tuple[Any, ...]]:
    """The rows of ``table``, ordered by the first column."""
    names = ", ".join(f'"{c}"' for c in columns)
    with engine.connect() as conn:
        query = sa.text(f'SELECT {names} FROM "{table}" ORDER BY "{columns[0]}"')
        return [tuple(row) for row in conn.execute(query)]
