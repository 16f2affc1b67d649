"""Refused requests on file imports: each answers its status with a problem naming what and
where, and changes nothing."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.imports.conftest import customer
from tests.imports.files_helpers import (
    customers_csv,
    register_customers,
    start_import,
    upload,
    wait_for,
)


def problem(response: Any, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["type"] == f"/problems/{slug}"
    return body


def validated_with_bad_row(client: TestClient) -> dict[str, Any]:
    register_customers(client)
    created = start_import(client, upload(client, customers_csv(4, bad={2: {"age": 999}})))
    return wait_for(client, created["id"], {"validated"})


def test_edits_naming_an_unknown_field_or_row_are_refused_whole(client: TestClient) -> None:
    body = validated_with_bad_row(client)
    edits = [
        {"row": 2, "field": "age", "value": "30"},
        {"row": 2, "field": "shoe_size", "value": "44"},
        {"row": 99, "field": "age", "value": "30"},
    ]
    refused = problem(
        client.patch(f"/api/imports/{body['id']}/rows", json={"edits": edits}),
        422,
        "invalid-input",
    )
    assert refused["detail"] == "2 edit(s) cannot apply"
    assert refused["errors"] == [
        {"path": "$.edits[1].field", "message": "'shoe_size' is not a schema field"},
        {"path": "$.edits[2].row", "message": "row 99 is not in the file"},
    ]
    # Nothing was stored: the valid edit of the same request did not apply either.
    assert client.get(f"/api/imports/{body['id']}").json()["counts"]["rows_invalid"] == 1


def test_an_all_or_nothing_commit_with_invalid_rows_is_refused(client: TestClient) -> None:
    body = validated_with_bad_row(client)
    refused = problem(
        client.post(f"/api/imports/{body['id']}/commit", json={"on_error": "abort"}),
        422,
        "invalid-input",
    )
    assert refused["detail"].startswith("1 row(s) are invalid: fix them (PATCH …/rows)")
    assert refused["rows_invalid"] == 1
    assert client.get(f"/api/imports/{body['id']}").json()["state"] == "validated"


def test_file_routes_on_an_inline_import_are_409(client: TestClient) -> None:
    register_customers(client)
    inline = client.post("/api/imports", json={"schema": "customers", "records": [customer(1)]})
    import_id = inline.json()["id"]
    commit = problem(
        client.post(f"/api/imports/{import_id}/commit", json={}), 409, "import-state-conflict"
    )
    assert commit["detail"] == f"import {import_id} imported inline records; it is committed"
    edit = {"edits": [{"row": 1, "field": "age", "value": "1"}]}
    patch = problem(
        client.patch(f"/api/imports/{import_id}/rows", json=edit), 409, "import-state-conflict"
    )
    assert patch["detail"] == f"import {import_id} imported inline records; nothing to patch"
    preview = problem(client.get(f"/api/imports/{import_id}/preview"), 409, "import-state-conflict")
    assert preview["detail"] == f"import {import_id} has not been analysed yet"


def test_a_mapping_while_validating_and_an_unknown_mapping_field_at_creation(
    client: TestClient,
) -> None:
    body = validated_with_bad_row(client)
    cancelled = client.post(f"/api/imports/{body['id']}/cancel")
    assert cancelled.status_code == 202
    late = problem(
        client.put(f"/api/imports/{body['id']}/mapping", json={"mapping": {"id": "id"}}),
        409,
        "import-state-conflict",
    )
    assert late["detail"] == (
        f"import {body['id']} is cancelled; a mapping can be set while it is awaiting_mapping "
        "or validated"
    )
    unknown = problem(
        client.post(
            "/api/imports",
            json={
                "upload_id": body["upload_id"],
                "schema": "customers",
                "mapping": {"shoe_size": "id"},
            },
        ),
        422,
        "invalid-mapping",
    )
    assert unknown["errors"] == [
        {"path": "$.mapping.shoe_size", "message": "not a field of the schema"}
    ]
