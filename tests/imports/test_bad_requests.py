"""Every rejected request is a precise problem+json, and nothing is written."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from loadbay.app import create_app
from loadbay.settings import Settings
from tests.imports.conftest import CUSTOMERS, customer

PROBLEM = "application/problem+json"


def assert_problem(response: Any, status: int, type_: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["type"] == type_
    assert body["status"] == status
    assert body["title"]
    assert body["detail"]
    return body


def test_wrong_content_type(client: TestClient) -> None:
    response = client.post(
        "/api/imports", content=b"schema=customers", headers={"content-type": "text/plain"}
    )
    body = assert_problem(response, 415, "/problems/unsupported-media-type")
    assert "text/plain" in body["detail"]


def test_broken_json_names_line_and_column(client: TestClient) -> None:
    response = client.post(
        "/api/imports",
        content=b'{"schema": "customers",\n "records": [1, 2,]}',
        headers={"content-type": "application/json"},
    )
    body = assert_problem(response, 400, "/problems/malformed-json")
    assert (body["line"], body["column"]) == (2, 19)
    assert "line 2, column 19" in body["detail"]


def test_array_where_an_object_belongs(client: TestClient) -> None:
    response = client.post("/api/imports", json=[{"schema": "customers"}])
    body = assert_problem(response, 422, "/problems/invalid-request")
    assert body["errors"] == [{"message": "expected an object", "path": "$"}]


def test_records_must_be_an_array(client: TestClient, customers: Any) -> None:
    response = client.post("/api/imports", json={"schema": "customers", "records": {"id": 1}})
    body = assert_problem(response, 422, "/problems/invalid-request")
    assert [e["path"] for e in body["errors"]] == ["$.records"]


def test_unknown_option_and_bad_mode(client: TestClient, customers: Any) -> None:
    response = client.post(
        "/api/imports",
        json={"schema": "customers", "records": [], "mode": "merge", "onerror": "x"},
    )
    body = assert_problem(response, 422, "/problems/invalid-request")
    assert sorted(e["path"] for e in body["errors"]) == ["$.mode", "$.onerror"]


def test_unknown_schema(client: TestClient) -> None:
    response = client.post("/api/imports", json={"schema": "nope", "records": [{"a": 1}]})
    body = assert_problem(response, 404, "/problems/schema-not-found")
    assert "nope" in body["detail"]
    assert client.get("/api/imports").json()["items"] == []


def test_unknown_import(client: TestClient) -> None:
    response = client.get("/api/imports/00000000-0000-0000-0000-000000000000")
    assert_problem(response, 404, "/problems/import-not-found")
    assert_problem(client.get("/api/imports/not-a-uuid"), 422, "/problems/invalid-request")
    assert_problem(client.get("/api/nothing-here"), 404, "/problems/not-found")


def test_non_object_records_are_row_errors(client: TestClient, customers: Any) -> None:
    response = client.post(
        "/api/imports",
        json={"schema": "customers", "records": [customer(1), [1, 2], "x", None]},
    )
    body = assert_problem(response, 422, "/problems/validation-failed")
    assert [(e["row"], e["rule"]) for e in body["errors"]] == [
        (2, "record"),
        (3, "record"),
        (4, "record"),
    ]


def test_error_budget_stops_early(client: TestClient, customers: Any) -> None:
    records = [customer(i, age=-1) for i in range(1, 1001)]
    response = client.post(
        "/api/imports", json={"schema": "customers", "records": records, "max_errors": 10}
    )
    body = assert_problem(response, 422, "/problems/error-budget-exceeded")
    assert body["import"]["budget_exceeded"] is True
    assert body["import"]["counts"]["rows_loaded"] == 0


@pytest.fixture
def small_client(settings: Settings) -> Iterator[TestClient]:
    limited = settings.model_copy(update={"max_records": 3, "max_body_bytes": 2000})
    with TestClient(create_app(limited)) as test_client:
        assert test_client.post("/api/schemas", json=CUSTOMERS).status_code == 201
        yield test_client


def test_too_many_records(small_client: TestClient) -> None:
    records = [{"id": i} for i in range(4)]
    response = small_client.post("/api/imports", json={"schema": "customers", "records": records})
    body = assert_problem(response, 413, "/problems/too-many-records")
    assert "LOADBAY_MAX_RECORDS" in body["detail"]


def test_body_too_large(small_client: TestClient) -> None:
    records = [customer(i) for i in range(3)] + [{"name": "x" * 3000}]
    response = small_client.post("/api/imports", json={"schema": "customers", "records": records})
    assert_problem(response, 413, "/problems/body-too-large")
