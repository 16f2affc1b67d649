"""POST /api/imports and the import resources, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient

from tests.imports.conftest import customer

PROBLEM = "application/problem+json"


def post_import(client: TestClient, records: list[Any], **options: Any) -> Any:
    return client.post("/api/imports", json={"schema": "customers", "records": records} | options)


def table_rows(engine: sa.Engine, table: str = "customers") -> list[dict[str, Any]]:
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table(table):
            return []
        result = conn.execute(sa.text(f'SELECT * FROM "{table}" ORDER BY 1'))
        return [dict(row._mapping) for row in result]


def test_valid_records_are_loaded(client: TestClient, customers: Any, target_engine: Any) -> None:
    response = post_import(client, [customer(1), customer(2), customer(3)])
    assert response.status_code == 201, response.text
    body = response.json()
    assert response.headers["location"] == f"/api/imports/{body['id']}"
    assert body["state"] == "completed"
    assert body["schema"] == {"name": "customers", "version": 1}
    assert body["counts"] == {
        "rows_total": 3,
        "rows_valid": 3,
        "rows_invalid": 0,
        "rows_loaded": 3,
        "errors_total": 0,
        "errors_stored": 0,
    }
    assert body["first_errors"] == []
    assert body["progress"] == 1.0
    assert body["created_by"] == "local"  # a local-mode server, no key
    assert body["links"]["errors"] == f"/api/imports/{body['id']}/errors"
    rows = table_rows(target_engine)
    assert [r["id"] for r in rows] == [1, 2, 3]
    assert {str(r["_loadbay_import_id"]).replace("-", "") for r in rows} == {
        body["id"].replace("-", "")
    }
    assert client.get(body["links"]["self"]).json()["state"] == "completed"


def test_abort_loads_nothing_and_reports_every_error(
    client: TestClient, customers: Any, target_engine: Any
) -> None:
    assert post_import(client, [customer(1)]).status_code == 201
    before = table_rows(target_engine)
    records = [
        customer(2),
        customer(3, age=130),
        customer(4, email="not-an-email", country="XX"),
        customer(5, signup="2023-02-30"),
    ]
    response = post_import(client, records)
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["type"] == "/problems/validation-failed"
    assert problem["detail"] == (
        "3 of 4 record(s) are invalid (4 error(s)); nothing was loaded (on_error=abort)"
    )
    found = {(e["row"], e["column"], e["rule"]) for e in problem["errors"]}
    assert found == {
        (2, "age", "maximum"),
        (3, "email", "type"),
        (3, "country", "enum"),
        (4, "signup", "type"),
    }
    imported = problem["import"]
    assert imported["state"] == "failed"
    assert imported["counts"]["rows_loaded"] == 0
    assert imported["failure"]["type"] == "validation-failed"
    assert table_rows(target_engine) == before
    stored = client.get(f"/api/imports/{imported['id']}").json()
    assert stored["state"] == "failed"
    assert stored["counts"]["rows_invalid"] == 3


def test_skip_loads_the_valid_records(
    client: TestClient, customers: Any, target_engine: Any
) -> None:
    records = [customer(1), customer(2, name=None), customer(3), customer(4, active="maybe")]
    response = post_import(client, records, on_error="skip")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["state"] == "completed"
    assert body["counts"]["rows_loaded"] == 2
    assert body["counts"]["rows_invalid"] == 2
    assert [(e["row"], e["column"], e["rule"]) for e in body["first_errors"]] == [
        (2, "name", "required"),
        (4, "active", "type"),
    ]
    assert [r["id"] for r in table_rows(target_engine)] == [1, 3]


def test_duplicate_keys_within_the_batch_and_against_the_table(
    client: TestClient, customers: Any, target_engine: Any
) -> None:
    assert post_import(client, [customer(1)]).status_code == 201
    records = [customer(2), customer(2, email="other@example.com"), customer(1, email="x@y.io")]
    response = post_import(client, records)
    assert response.status_code == 422
    rules = {(e["row"], e["rule"]) for e in response.json()["errors"]}
    assert rules == {(2, "primaryKey"), (3, "primaryKey")}
    assert [r["id"] for r in table_rows(target_engine)] == [1]


def test_upsert_and_replace_modes(client: TestClient, customers: Any, target_engine: Any) -> None:
    assert post_import(client, [customer(1), customer(2)]).status_code == 201
    response = post_import(client, [customer(2, name="Changed"), customer(3)], mode="upsert")
    assert response.status_code == 201, response.text
    rows = table_rows(target_engine)
    assert [(r["id"], r["name"]) for r in rows] == [(1, "User 1"), (2, "Changed"), (3, "User 3")]
    response = post_import(client, [customer(9)], mode="replace")
    assert response.status_code == 201, response.text
    assert [r["id"] for r in table_rows(target_engine)] == [9]


def test_missing_values_null_and_empty_strings(
    client: TestClient, customers: Any, target_engine: Any
) -> None:
    records = [
        customer(1, age=None, country=""),
        customer(2, age="NA", balance="NA"),
        customer(3, name=""),
        customer(4, name="NA"),
    ]
    response = post_import(client, records, on_error="skip")
    assert response.status_code == 201, response.text
    body = response.json()
    assert [(e["row"], e["column"], e["rule"]) for e in body["first_errors"]] == [
        (3, "name", "required"),
        (4, "name", "required"),
    ]
    rows = table_rows(target_engine)
    assert [(r["id"], r["age"], r["country"], r["balance"]) for r in rows] == [
        (1, None, None, 12.5),
        (2, None, "FR", None),
    ]


def test_unicode_and_large_values(client: TestClient, customers: Any, target_engine: Any) -> None:
    big = "x" * 1_000_000
    records = [customer(1, name="Zoë 🚀 李雷"), customer(2, name=big)]
    response = post_import(client, records, on_error="skip")
    assert response.status_code == 201, response.text
    (error,) = response.json()["first_errors"]
    assert (error["row"], error["column"], error["rule"]) == (2, "name", "maxLength")
    assert len(error["value"]) < 300
    assert [r["name"] for r in table_rows(target_engine)] == ["Zoë 🚀 李雷"]


def test_unknown_fields_policies(client: TestClient, target_engine: Any) -> None:
    for policy in ("ignore", "reject"):
        schema = {
            "name": f"t_{policy}",
            "fields": [{"name": "a", "type": "integer"}],
            "x-loadbay": {"unknownFields": policy},
        }
        assert client.post("/api/schemas", json=schema).status_code == 201
    records = [{"a": 1, "extra": "x"}]
    ignored = client.post("/api/imports", json={"schema": "t_ignore", "records": records})
    assert ignored.status_code == 201
    assert table_rows(target_engine, "t_ignore")[0]["a"] == 1
    assert "extra" not in table_rows(target_engine, "t_ignore")[0]
    rejected = client.post("/api/imports", json={"schema": "t_reject", "records": records})
    assert rejected.status_code == 422
    (error,) = rejected.json()["errors"]
    assert (error["row"], error["column"], error["rule"]) == (1, "extra", "unknownField")
    assert table_rows(target_engine, "t_reject") == []


def test_hostile_field_and_table_names_are_quoted(client: TestClient, target_engine: Any) -> None:
    names = ['a"b', "x;--", "DROP TABLE customers", "it's", "名前 🚀"]
    schema = {
        "name": "hostile",
        "fields": [{"name": n, "type": "string"} for n in names],
        "x-loadbay": {"table": 'h"; DROP TABLE imports; --'},
    }
    assert client.post("/api/schemas", json=schema).status_code == 201, "schema refused"
    record = {n: f"value of {n}" for n in names}
    response = client.post("/api/imports", json={"schema": "hostile", "records": [record]})
    assert response.status_code == 201, response.text
    with target_engine.connect() as conn:
        row = conn.execute(sa.text('SELECT * FROM "h""; DROP TABLE imports; --"')).one()
    assert {k: v for k, v in row._mapping.items() if not k.startswith("_loadbay")} == record
    assert client.get("/api/imports").status_code == 200


def test_one_hundred_thousand_records(
    client: TestClient, customers: Any, target_engine: Any
) -> None:
    records = [customer(i) for i in range(1, 100_001)]
    response = post_import(client, records)
    assert response.status_code == 201, response.text[:500]
    assert response.json()["counts"]["rows_loaded"] == 100_000
    with target_engine.connect() as conn:
        assert conn.execute(sa.text('SELECT count(*) FROM "customers"')).scalar() == 100_000


def test_error_pages_and_csv_download(client: TestClient, customers: Any) -> None:
    records = [customer(i, country="=1+1") for i in range(1, 8)]
    response = post_import(client, records)
    assert response.status_code == 422
    import_id = response.json()["import"]["id"]
    first = client.get(f"/api/imports/{import_id}/errors", params={"limit": 5}).json()
    assert first["errors_total"] == 7
    assert [e["row"] for e in first["items"]] == [1, 2, 3, 4, 5]
    second = client.get(
        f"/api/imports/{import_id}/errors", params={"limit": 5, "cursor": first["next_cursor"]}
    ).json()
    assert [e["row"] for e in second["items"]] == [6, 7]
    assert second["next_cursor"] is None
    download = client.get(f"/api/imports/{import_id}/errors", params={"format": "csv"})
    assert download.status_code == 200
    assert download.headers["content-type"] == "text/csv; charset=utf-8"
    assert "attachment" in download.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(download.text)))
    assert rows[0] == ["row", "column", "value", "rule", "message"]
    assert len(rows) == 8
    assert rows[1][:4] == ["1", "country", "'=1+1", "enum"]


def test_list_filters_and_pages(client: TestClient, customers: Any) -> None:
    for i in range(1, 4):
        assert post_import(client, [customer(i)]).status_code == 201
    assert post_import(client, [customer(10, age=-1)]).status_code == 422
    page = client.get("/api/imports", params={"limit": 2}).json()
    assert len(page["items"]) == 2
    rest = client.get("/api/imports", params={"limit": 2, "cursor": page["next_cursor"]}).json()
    assert len(rest["items"]) == 2
    assert rest["next_cursor"] is None
    ids = [i["id"] for i in page["items"] + rest["items"]]
    assert len(set(ids)) == 4
    failed = client.get("/api/imports", params={"state": "failed"}).json()["items"]
    assert [i["state"] for i in failed] == ["failed"]
    assert client.get("/api/imports", params={"schema": "other"}).json()["items"] == []
    bad = client.get("/api/imports", params={"cursor": "garbage"})
    assert bad.status_code == 400
    assert bad.json()["type"] == "/problems/invalid-cursor"
