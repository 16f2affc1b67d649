"""``/api/schemas`` through the app (``client`` fixture) on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from loadbay.app import create_app
from loadbay.schemas.document import fingerprint, parse_schema
from loadbay.settings import Settings
from tests.schemas.documents import ORDERS, orders

PROBLEM = "application/problem+json"


def problem(response: Response, status: int, type_: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert (body["status"], body["type"]) == (status, f"/problems/{type_}")
    return body


def error_paths(body: dict[str, Any]) -> list[tuple[str, str]]:
    return [(error["path"], error["message"]) for error in body["errors"]]


def test_post_registers_a_schema(client: TestClient) -> None:
    response = client.post("/api/schemas", json=ORDERS)

    assert response.status_code == 201
    assert response.headers["location"] == "/api/schemas/orders"
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {
        "name",
        "version",
        "fingerprint",
        "created_at",
        "updated_at",
        "schema",
        "links",
    }
    assert (body["name"], body["version"]) == ("orders", 1)
    assert body["fingerprint"] == fingerprint(parse_schema(ORDERS))
    assert body["schema"] == parse_schema(ORDERS).to_document()
    assert body["links"] == {
        "self": "/api/schemas/orders?version=1",
        "versions": "/api/schemas/orders/versions",
    }
    assert body["created_at"] == body["updated_at"]
    assert body["created_at"].endswith("Z")


def test_post_answers_with_the_canonical_document(client: TestClient) -> None:
    verbose = orders(primaryKey="id", missingValues=[""])

    body = client.post("/api/schemas", json=verbose).json()

    assert body["schema"]["primaryKey"] == ["id"]
    assert "missingValues" not in body["schema"]


def test_post_an_existing_name_is_409(client: TestClient) -> None:
    client.post("/api/schemas", json=ORDERS)

    body = problem(client.post("/api/schemas", json=ORDERS), 409, "schema-exists")

    assert body["detail"] == 'a schema named "orders" exists already; update it to add a version'


def test_post_an_invalid_schema_is_422_naming_every_problem(client: TestClient) -> None:
    document = orders(name="orders;--")
    document["fields"][0]["type"] = "object"
    document["fields"][2]["name"] = "x" * 10_000

    body = problem(client.post("/api/schemas", json=document), 422, "invalid-schema")

    assert error_paths(body) == [
        (
            "$.fields[0].type",
            'unsupported type "object" (supported: string, integer, number, boolean, date, '
            "datetime, time, year)",
        ),
        (
            "$.name",
            "may contain only ASCII letters, digits, '_' and '-' because it is used in URLs; "
            'found ";"',
        ),
        (
            "$.fields[2].name",
            "is 10000 bytes long in UTF-8; at most 63 are allowed "
            "(PostgreSQL's limit for identifiers)",
        ),
    ]
    assert body["title"] == "Invalid schema"
    assert body["detail"].startswith("invalid schema: $.fields[0].type: unsupported type")
    assert client.get("/api/schemas").json() == {"items": []}


def test_post_a_json_array_is_422(client: TestClient) -> None:
    body = problem(client.post("/api/schemas", json=[ORDERS]), 422, "invalid-schema")

    assert error_paths(body) == [("$", "must be an object")]


def test_post_malformed_json_is_400_with_line_and_column(client: TestClient) -> None:
    response = client.post(
        "/api/schemas",
        content=b'{"name": "orders",\n "fields": [}',
        headers={"content-type": "application/json"},
    )

    body = problem(response, 400, "malformed-json")
    assert body["detail"] == "Expecting value at line 2, column 13"
    assert (body["line"], body["column"]) == (2, 13)


def test_post_json_with_nan_is_422(client: TestClient) -> None:
    # Python's json module accepts NaN; a stored schema could then not be valid JSON.
    content = json.dumps(orders(**{"x-score": float("nan")})).encode()

    response = client.post(
        "/api/schemas", content=content, headers={"content-type": "application/json"}
    )

    body = problem(response, 422, "invalid-schema")
    assert error_paths(body) == [("$.x-score", "NaN and Infinity are not valid JSON numbers")]


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-yaml", None])
def test_post_other_media_types_is_415(client: TestClient, content_type: str | None) -> None:
    headers = {"content-type": content_type} if content_type else {}

    response = client.post("/api/schemas", content=json.dumps(ORDERS).encode(), headers=headers)

    problem(response, 415, "unsupported-media-type")


def test_a_json_media_type_with_parameters_or_suffix_is_accepted(client: TestClient) -> None:
    response = client.post(
        "/api/schemas",
        content=json.dumps(ORDERS).encode(),
        headers={"content-type": "application/schema+json; charset=utf-8"},
    )

    assert response.status_code == 201


@pytest.fixture
def small_client(settings: Settings) -> Iterator[TestClient]:
    app = create_app(settings.model_copy(update={"max_body_bytes": 300}))
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def test_post_a_body_over_the_limit_is_413(small_client: TestClient) -> None:
    big = orders(description="x" * 300)

    body = problem(small_client.post("/api/schemas", json=big), 413, "body-too-large")

    assert body["limit"] == 300
    assert small_client.post("/api/schemas", json=ORDERS).status_code == 201


def test_list_schemas(client: TestClient) -> None:
    for name in ["beta", "alpha", "Gamma"]:
        client.post("/api/schemas", json=orders(name=name))

    body = client.get("/api/schemas").json()

    assert [item["name"] for item in body["items"]] == ["Gamma", "alpha", "beta"]
    assert body["items"][0]["links"]["self"] == "/api/schemas/Gamma?version=1"


def test_get_a_schema_and_its_versions(client: TestClient) -> None:
    client.post("/api/schemas", json=ORDERS)
    client.put("/api/schemas/orders", json=orders(title="Orders 2"))

    latest = client.get("/api/schemas/orders")
    first = client.get("/api/schemas/orders", params={"version": 1})
    versions = client.get("/api/schemas/orders/versions")

    assert latest.status_code == first.status_code == versions.status_code == 200
    assert (latest.json()["version"], latest.json()["schema"]["title"]) == (2, "Orders 2")
    assert (first.json()["version"], first.json()["schema"]["title"]) == (1, "Orders")
    assert [item["version"] for item in versions.json()["items"]] == [1, 2]
    assert versions.json()["items"][1] == latest.json()


@pytest.mark.parametrize(
    ("path", "detail"),
    [
        ("/api/schemas/invoices", 'there is no schema named "invoices"'),
        ("/api/schemas/invoices/versions", 'there is no schema named "invoices"'),
        ("/api/schemas/orders?version=7", 'schema "orders" has no version 7 (the latest is 1)'),
        ("/api/schemas/a%00b", 'there is no schema named "a\\u0000b"'),
        ("/api/schemas/x';--", 'there is no schema named "x\';--"'),
    ],
)
def test_unknown_schemas_and_versions_are_404(client: TestClient, path: str, detail: str) -> None:
    client.post("/api/schemas", json=ORDERS)

    assert problem(client.get(path), 404, "schema-not-found")["detail"] == detail


@pytest.mark.parametrize("version", ["0", "-1", "two"])
def test_a_bad_version_parameter_is_422(client: TestClient, version: str) -> None:
    client.post("/api/schemas", json=ORDERS)

    response = client.get("/api/schemas/orders", params={"version": version})

    body = problem(response, 422, "invalid-request")
    assert [error["path"] for error in body["errors"]] == ["$.query.version"]


def test_put_creates_then_updates(client: TestClient) -> None:
    created = client.put("/api/schemas/orders", json=ORDERS)
    unchanged = client.put("/api/schemas/orders", json=orders(primaryKey="id"))
    changed = client.put("/api/schemas/orders", json=orders(title="Orders 2"))

    assert (created.status_code, created.headers["location"]) == (201, "/api/schemas/orders")
    assert (unchanged.status_code, unchanged.json()) == (200, created.json())
    assert "location" not in unchanged.headers
    assert (changed.status_code, changed.json()["version"]) == (200, 2)
    assert changed.json()["created_at"] == created.json()["created_at"]


def test_put_a_document_with_another_name_is_422(client: TestClient) -> None:
    body = problem(
        client.put("/api/schemas/orders", json=orders(name="invoices")), 422, "invalid-schema"
    )

    assert error_paths(body) == [
        ("$.name", '"invoices" does not match the schema being updated, "orders"')
    ]


def test_put_checks_the_body_like_post(client: TestClient) -> None:
    malformed = client.put(
        "/api/schemas/orders", content=b"{", headers={"content-type": "application/json"}
    )
    wrong_type = client.put(
        "/api/schemas/orders", content=b"{}", headers={"content-type": "text/csv"}
    )

    problem(malformed, 400, "malformed-json")
    problem(wrong_type, 415, "unsupported-media-type")


def test_delete(client: TestClient) -> None:
    client.post("/api/schemas", json=ORDERS)

    deleted = client.delete("/api/schemas/orders")

    assert (deleted.status_code, deleted.content) == (204, b"")
    assert problem(client.get("/api/schemas/orders"), 404, "schema-not-found")["detail"] == (
        'schema "orders" was deleted'
    )
    problem(client.delete("/api/schemas/orders"), 404, "schema-not-found")
    assert client.get("/api/schemas").json() == {"items": []}
    recreated = client.post("/api/schemas", json=ORDERS)
    assert (recreated.status_code, recreated.json()["version"]) == (201, 2)


def test_delete_unknown_is_404(client: TestClient) -> None:
    problem(client.delete("/api/schemas/orders"), 404, "schema-not-found")


def test_openapi_documents_bodies_and_responses(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    post = spec["paths"]["/api/schemas"]["post"]
    put = spec["paths"]["/api/schemas/{name}"]["put"]
    resource = spec["components"]["schemas"]["SchemaResource"]

    for operation in (post, put):
        body = operation["requestBody"]["content"]["application/json"]["schema"]
        assert body["required"] == ["name", "fields"]
        assert "primaryKey" in body["properties"]
        assert "$ref" not in json.dumps(body)  # self-contained
        assert set(operation["responses"]) >= {"400", "409", "413", "415", "422"}
        assert PROBLEM in operation["responses"]["422"]["content"]
    assert set(put["responses"]) >= {"200", "201"}
    assert set(resource["properties"]) == {
        "name",
        "version",
        "fingerprint",
        "created_at",
        "updated_at",
        "schema",
        "links",
    }
    assert "fields" in resource["properties"]["schema"]["properties"]
    assert set(spec["paths"]["/api/schemas/{name}"]["delete"]["responses"]) >= {"204", "404"}
