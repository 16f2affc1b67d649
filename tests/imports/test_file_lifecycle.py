"""A file import through the API with the local executor: analyse, map, validate, fix, commit."""

from __future__ import annotations

import csv
import io

import sqlalchemy as sa
from fastapi.testclient import TestClient

from tests.imports.files_helpers import (
    customers_csv,
    register_customers,
    start_import,
    upload,
    wait_for,
)


def test_confident_mapping_validates_then_commits(
    client: TestClient, target_engine: sa.Engine
) -> None:
    register_customers(client)
    upload_id = upload(client, customers_csv(500, bad={7: {"age": 130}, 9: {"email": "nope"}}))
    created = start_import(client, upload_id)
    assert created["state"] in {"created", "analysing", "validating"}
    assert created["links"]["events"].endswith("/events")
    body = wait_for(client, created["id"], {"validated", "failed"})
    assert body["state"] == "validated", body
    assert body["analysis"]["format"] == "csv"
    assert body["analysis"]["delimiter"] == ","
    assert body["counts"]["rows_total"] == 500
    assert body["counts"]["rows_invalid"] == 2
    assert body["counts"]["errors_total"] == 2
    assert body["progress"] == 1.0
    assert {(e["row"], e["column"], e["rule"]) for e in body["first_errors"]} == {
        (7, "age", "maximum"),
        (9, "email", "type"),
    }
    # Committing everything is refused while rows are invalid…
    refused = client.post(f"/api/imports/{body['id']}/commit", json={"on_error": "abort"})
    assert refused.status_code == 422, refused.text
    # …so fix them in place.
    fixed = client.patch(
        f"/api/imports/{body['id']}/rows",
        json={
            "edits": [
                {"row": 7, "field": "age", "value": "31"},
                {"row": 9, "field": "email", "value": "user9@example.com"},
            ]
        },
    )
    assert fixed.status_code == 200, fixed.text
    assert fixed.json()["rows"] == {"7": [], "9": []}
    assert fixed.json()["import"]["counts"]["rows_invalid"] == 0
    started = client.post(f"/api/imports/{body['id']}/commit", json={"on_error": "abort"})
    assert started.status_code == 202, started.text
    done = wait_for(client, body["id"], {"completed", "failed"})
    assert done["state"] == "completed", done
    assert done["counts"]["rows_loaded"] == 500
    with target_engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT id, age, email FROM customers ORDER BY id")).all()
    assert len(rows) == 500
    assert rows[6] == (7, 31, "user7@example.com")
    assert rows[8][2] == "user9@example.com"


def test_unclear_headers_wait_for_a_mapping(client: TestClient, target_engine: sa.Engine) -> None:
    register_customers(client)
    content = customers_csv(20).replace(b"email,name", b"courriel,nom complet", 1)
    created = start_import(client, upload(client, content), options={"auto_commit": True})
    body = wait_for(client, created["id"], {"awaiting_mapping", "failed"})
    assert body["state"] == "awaiting_mapping", body
    assert "email" in body["mapping_proposal"]["missing_required"]
    preview = client.get(f"/api/imports/{body['id']}/preview", params={"rows": 5}).json()
    assert len(preview["rows"]) == 5
    assert preview["rows"][0]["source"]["courriel"] == "user1@example.com"
    mapping = {
        "id": "id",
        "email": "courriel",
        "name": "nom complet",
        "age": "age",
        "signup": "signup",
        "balance": "balance",
        "country": "country",
        "active": "active",
    }
    wrong = client.put(
        f"/api/imports/{body['id']}/mapping", json={"mapping": {**mapping, "email": "nope"}}
    )
    assert wrong.status_code == 422
    assert wrong.json()["errors"][0]["path"] == "$.mapping.email"
    put = client.put(f"/api/imports/{body['id']}/mapping", json={"mapping": mapping})
    assert put.status_code == 200, put.text
    done = wait_for(client, body["id"], {"completed", "failed"})
    assert done["state"] == "completed", done
    assert done["counts"]["rows_loaded"] == 20
    # Remembered: the same headers map by themselves next time.
    again = start_import(client, upload(client, content))
    second = wait_for(client, again["id"], {"validated", "failed", "awaiting_mapping"})
    assert second["state"] == "validated"
    assert second["mapping_proposal"]["from_memory"] is True


def test_cancel_at_rest_ends_at_once_and_twice_is_409(
    client: TestClient, target_engine: sa.Engine
) -> None:
    register_customers(client)
    created = start_import(client, upload(client, customers_csv(10, bad={2: {"age": -5}})))
    body = wait_for(client, created["id"], {"validated"})
    cancelled = client.post(f"/api/imports/{body['id']}/cancel")
    assert cancelled.status_code == 202, cancelled.text
    assert cancelled.json()["state"] == "cancelled"
    assert cancelled.json()["finished_at"] is not None
    again = client.post(f"/api/imports/{body['id']}/cancel")
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"
    # Nothing to commit or edit any more; nothing reached the table.
    assert client.post(f"/api/imports/{body['id']}/commit", json={}).status_code == 409
    edit = {"edits": [{"row": 2, "field": "age", "value": "5"}]}
    assert client.patch(f"/api/imports/{body['id']}/rows", json=edit).status_code == 409
    with target_engine.connect() as conn:
        tables = sa.inspect(conn).get_table_names()
    assert "customers" not in tables


def test_skip_loads_only_the_valid_rows_and_stored_rows_show_the_rest(
    client: TestClient, target_engine: sa.Engine
) -> None:
    register_customers(client)
    bad = {3: {"country": "XX"}, 4: {"age": "old", "signup": "2023-02-30"}}
    created = start_import(client, upload(client, customers_csv(12, bad=bad)))
    body = wait_for(client, created["id"], {"validated"})
    rows = client.get(f"/api/imports/{body['id']}/rows").json()
    assert rows["rows_invalid"] == 2
    assert [r["row"] for r in rows["items"]] == [3, 4]
    assert rows["items"][1]["values"]["age"] == "old"
    assert {e["column"] for e in rows["items"][1]["errors"]} == {"age", "signup"}
    started = client.post(
        f"/api/imports/{body['id']}/commit", json={"mode": "insert", "on_error": "skip"}
    )
    assert started.status_code == 202, started.text
    done = wait_for(client, body["id"], {"completed", "failed"})
    assert done["state"] == "completed", done
    assert done["counts"]["rows_loaded"] == 10
    with target_engine.connect() as conn:
        ids = conn.execute(sa.text("SELECT id FROM customers ORDER BY id")).scalars().all()
    assert ids == [1, 2, 5, 6, 7, 8, 9, 10, 11, 12]


def test_a_file_import_of_an_unfinished_upload_is_409(client: TestClient) -> None:
    register_customers(client)
    response = client.post(
        "/api/uploads", headers={"Tus-Resumable": "1.0.0", "Upload-Length": "100"}
    )
    upload_id = response.headers["location"].rsplit("/", 1)[-1]
    refused = client.post("/api/imports", json={"upload_id": upload_id, "schema": "customers"})
    assert refused.status_code == 409, refused.text
    assert refused.json()["type"].endswith("/upload-not-ready")
    unknown = client.post(
        "/api/imports",
        json={"upload_id": "00000000-0000-0000-0000-000000000000", "schema": "customers"},
    )
    assert unknown.status_code == 404


def test_failed_rows_after_a_skip_commit_are_only_the_invalid_ones(
    client: TestClient,
) -> None:
    register_customers(client)
    created = start_import(client, upload(client, customers_csv(6, bad={5: {"age": 999}})))
    body = wait_for(client, created["id"], {"validated"})
    client.post(f"/api/imports/{body['id']}/commit", json={"on_error": "skip"})
    assert wait_for(client, body["id"], {"completed"})["counts"]["rows_loaded"] == 5
    # Read again after the commit, the import's own loaded rows are not duplicates of
    # themselves: the CSV still holds only the row that was invalid.
    text = client.get(f"/api/imports/{body['id']}/errors?format=csv").text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(r["id"], r["_row"]) for r in rows] == [("5", "5")]
    assert rows[0]["_error"].startswith("age: ")
