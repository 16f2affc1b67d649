"""When the target table refuses the rows: the import fails, nothing is loaded, 409/422."""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from loadbay.destinations.sql import SqlDestination
from tests.imports.conftest import customer
from tests.imports.test_api import post_import, table_rows


def test_incompatible_existing_table_is_a_409(
    client: TestClient, customers: Any, target_engine: sa.Engine
) -> None:
    with target_engine.begin() as conn:
        conn.execute(sa.text('CREATE TABLE "customers" (id TEXT PRIMARY KEY, email TEXT)'))
        conn.execute(sa.text("INSERT INTO customers VALUES ('a', 'a@b.io')"))
    response = post_import(client, [customer(1)])
    assert response.status_code == 409
    problem = response.json()
    assert problem["type"] == "/problems/table-mismatch"
    assert problem["import"]["state"] == "failed"
    assert problem["import"]["counts"]["rows_loaded"] == 0
    assert 'table "customers" does not match the schema' in problem["detail"]
    assert table_rows(target_engine) == [{"id": "a", "email": "a@b.io"}]


def test_a_key_inserted_by_someone_else_since_validation_is_a_409(
    client: TestClient, customers: Any, target_engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert post_import(client, [customer(1)]).status_code == 201

    # The race: validation looked before another writer inserted id 1.
    def nothing_exists(self: SqlDestination, schema: Any, keys: pl.DataFrame) -> pl.Series:
        return pl.Series("exists", [False] * keys.height, dtype=pl.Boolean)

    monkeypatch.setattr(SqlDestination, "existing_keys", nothing_exists)
    response = post_import(client, [customer(2), customer(1, email="new@example.com")])
    assert response.status_code == 409
    problem = response.json()
    assert problem["type"] == "/problems/load-conflict"
    assert [(e["row"], e["column"], e["rule"]) for e in problem["errors"]] == [
        (2, "id", "primaryKey")
    ]
    assert [r["id"] for r in table_rows(target_engine)] == [1]
    errors = client.get(problem["import"]["links"]["errors"]).json()
    assert errors["items"][0]["row"] == 2


def test_upsert_needs_a_primary_key(client: TestClient) -> None:
    schema = {"name": "nokey", "fields": [{"name": "a", "type": "integer"}]}
    assert client.post("/api/schemas", json=schema).status_code == 201
    response = client.post(
        "/api/imports", json={"schema": "nokey", "records": [{"a": 1}], "mode": "upsert"}
    )
    assert response.status_code == 422
    assert response.json()["type"] == "/problems/upsert-requires-primary-key"
    assert client.get("/api/imports").json()["items"] == []


def test_text_with_nul_is_refused_by_postgresql_only(
    client: TestClient, customers: Any, target_engine: sa.Engine, backend: str
) -> None:
    response = post_import(client, [customer(1), customer(2, name="a\x00b")])
    if backend == "sqlite":  # SQLite stores NUL in text; PostgreSQL cannot
        assert response.status_code == 201, response.text
        assert [r["name"] for r in table_rows(target_engine)] == ["User 1", "a\x00b"]
        return
    assert response.status_code == 422
    problem = response.json()
    assert problem["type"] == "/problems/unstorable-value"
    assert problem["import"]["state"] == "failed"
    assert [(e["row"], e["column"]) for e in problem["errors"]] == [(2, "name")]
    assert table_rows(target_engine) == []
