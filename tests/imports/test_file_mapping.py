"""Column mapping of file imports through the API: what is proposed and why, what makes an
import wait for a person, what a person's mapping must satisfy, the preview's error flags,
the failed-rows CSV and a follow-up import of the fixed rows."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from tests.imports.conftest import CUSTOMERS
from tests.imports.files_helpers import (
    SETTLED,
    customers_csv,
    import_file,
    register_customers,
    table_rows,
    upload,
    wait_for,
)

CONTACTS: dict[str, Any] = {
    "name": "contacts",
    "fields": [
        {
            "name": "email",
            "type": "string",
            "format": "email",
            "constraints": {"required": True},
            "x-loadbay": {"aliases": ["mail address"]},
        },
        {
            "name": "full_name",
            "type": "string",
            "constraints": {"required": True},
            "x-loadbay": {"aliases": ["Customer Name", "Client Name"]},
        },
        {"name": "phone", "type": "string"},
    ],
}
AUTO = {"auto_commit": True}


@pytest.fixture
def contacts(client: TestClient) -> None:
    register_customers(client, CONTACTS)


def contacts_csv(header: list[str], n: int = 3) -> bytes:
    lines = [",".join(header)]
    lines += [
        ",".join([f"c{i}@example.com", f"Contact {i}", f"+33 1 00 00 00 0{i}"]) for i in range(n)
    ]
    return ("\n".join(lines) + "\n").encode()


def matches(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["field"]: m for m in body["mapping_proposal"]["proposal"]}


@pytest.mark.usefixtures("contacts")
def test_exact_names_map_and_load(client: TestClient, target_engine: sa.Engine) -> None:
    body = import_file(
        client, contacts_csv(["email", "full_name", "phone"]), schema="contacts", options=AUTO
    )
    assert body["state"] == "completed", body
    assert {f: (m["column"], m["confidence"], m["reason"]) for f, m in matches(body).items()} == {
        "email": ("email", 1.0, "exact"),
        "full_name": ("full_name", 1.0, "exact"),
        "phone": ("phone", 1.0, "exact"),
    }
    assert body["mapping_proposal"]["from_memory"] is False
    assert body["mapping_proposal"]["missing_required"] == []
    assert table_rows(target_engine, "contacts", ["email", "full_name"]) == [
        (f"c{i}@example.com", f"Contact {i}") for i in range(3)
    ]


@pytest.mark.usefixtures("contacts")
def test_an_alias_maps_confidently(client: TestClient, target_engine: sa.Engine) -> None:
    body = import_file(
        client, contacts_csv(["email", "Customer Name", "tel"]), schema="contacts", options=AUTO
    )
    assert body["state"] == "completed", body
    full_name = matches(body)["full_name"]
    assert (full_name["column"], full_name["confidence"], full_name["reason"]) == (
        "Customer Name",
        0.9,
        "alias",
    )
    assert matches(body)["phone"]["column"] is None
    assert body["mapping_proposal"]["unmapped_columns"] == ["tel"]
    assert body["mapping"] == {"email": "email", "full_name": "Customer Name"}
    assert table_rows(target_engine, "contacts", ["email", "full_name", "phone"])[0] == (
        "c0@example.com",
        "Contact 0",
        None,
    )


@pytest.mark.usefixtures("contacts")
def test_fuzzy_header_waits_then_is_remembered(
    client: TestClient, target_engine: sa.Engine
) -> None:
    header = ["E-mail Address", "full_name", "phone"]
    body = import_file(client, contacts_csv(header), schema="contacts", options=AUTO)
    # A fuzzy match alone never lets an import go on without a person.
    assert body["state"] == "awaiting_mapping", body
    email = matches(body)["email"]
    assert (email["column"], email["reason"]) == ("E-mail Address", "fuzzy")
    assert 0 < email["confidence"] < 0.9
    assert body["mapping_proposal"]["from_memory"] is False
    assert body["mapping"] is None

    mapping = {"email": "E-mail Address", "full_name": "full_name", "phone": "phone"}
    put = client.put(
        f"/api/imports/{body['id']}/mapping", json={"mapping": mapping, "remember": True}
    )
    assert put.status_code == 200, put.text
    done = wait_for(client, body["id"], SETTLED)
    assert done["state"] == "completed", done
    assert done["mapping"] == mapping

    # The same header row again: the confirmed mapping comes first, and nobody is asked.
    again = import_file(client, contacts_csv(header, n=2), schema="contacts", options=AUTO)
    assert again["state"] == "completed", again
    assert again["mapping_proposal"]["from_memory"] is True
    assert {f: (m["column"], m["reason"]) for f, m in matches(again).items()} == {
        "email": ("E-mail Address", "memory"),
        "full_name": ("full_name", "memory"),
        "phone": ("phone", "memory"),
    }
    assert len(table_rows(target_engine, "contacts", ["email"])) == 5


@pytest.mark.usefixtures("contacts")
def test_mapping_without_remember_is_not_proposed_again(client: TestClient) -> None:
    header = ["E-mail Address", "full_name"]
    body = import_file(client, contacts_csv(header), schema="contacts")
    mapping = {"email": "E-mail Address", "full_name": "full_name"}
    put = client.put(
        f"/api/imports/{body['id']}/mapping", json={"mapping": mapping, "remember": False}
    )
    assert put.status_code == 200, put.text
    assert wait_for(client, body["id"], SETTLED)["state"] == "validated"
    again = import_file(client, contacts_csv(header), schema="contacts")
    assert again["state"] == "awaiting_mapping", again
    assert again["mapping_proposal"]["from_memory"] is False


@pytest.mark.usefixtures("contacts")
def test_two_headers_for_one_field_are_ambiguous(client: TestClient) -> None:
    header = ["email", "Customer Name", "Client Name"]
    body = import_file(client, contacts_csv(header), schema="contacts", options=AUTO)
    assert body["state"] == "awaiting_mapping", body
    full_name = matches(body)["full_name"]
    assert [(c["column"], c["confidence"], c["reason"]) for c in full_name["candidates"]] == [
        ("Customer Name", 0.9, "alias"),
        ("Client Name", 0.9, "alias"),
    ]
    assert full_name["column"] == "Customer Name"  # proposed, but a person must choose
    assert matches(body)["email"]["candidates"] == []
    # The person picks the other one.
    put = client.put(
        f"/api/imports/{body['id']}/mapping",
        json={"mapping": {"email": "email", "full_name": "Client Name"}},
    )
    assert put.status_code == 200, put.text
    assert wait_for(client, body["id"], SETTLED)["state"] == "completed"


@pytest.mark.usefixtures("contacts")
def test_missing_required_field(client: TestClient) -> None:
    body = import_file(client, contacts_csv(["name", "full_name", "phone"]), schema="contacts")
    assert body["state"] == "awaiting_mapping", body
    assert body["mapping_proposal"]["missing_required"] == ["email"]
    assert matches(body)["email"]["column"] is None
    assert body["mapping_proposal"]["unmapped_columns"] == ["name"]
    put = client.put(
        f"/api/imports/{body['id']}/mapping",
        json={"mapping": {"full_name": "full_name", "phone": "phone"}},
    )
    assert put.status_code == 422, put.text
    problem = put.json()
    assert problem["type"].endswith("invalid-mapping"), problem
    assert problem["errors"] == [
        {"path": "$.mapping.email", "message": "required field is not mapped to a column"}
    ]
    # Refused: nothing changed.
    assert client.get(f"/api/imports/{body['id']}").json()["state"] == "awaiting_mapping"


@pytest.mark.usefixtures("contacts")
def test_mapping_given_at_creation_naming_an_unknown_column_waits(client: TestClient) -> None:
    body = import_file(
        client,
        contacts_csv(["email", "full_name", "phone"]),
        schema="contacts",
        options=AUTO,
        mapping={"email": "e_mail", "full_name": "full_name"},
    )
    assert body["state"] == "awaiting_mapping", body
    assert body["mapping"] is None
    assert body["mapping_proposal"]["problems"] == [
        {"path": "$.mapping.email", "message": 'column "e_mail" is not in the file'}
    ]
    # The proposal is still there for the person to accept.
    assert matches(body)["email"]["column"] == "email"
    # Reads through the file show the proposal, not the unusable mapping.
    preview = client.get(f"/api/imports/{body['id']}/preview", params={"rows": 2})
    assert preview.status_code == 200, preview.text
    assert preview.json()["mapping"] == {
        "email": "email",
        "full_name": "full_name",
        "phone": "phone",
    }
    assert preview.json()["rows"][0]["values"]["email"] == "c0@example.com"
    failed_rows = client.get(f"/api/imports/{body['id']}/errors", params={"format": "csv"})
    assert failed_rows.status_code == 409, failed_rows.text


def test_preview_flags_each_cell(client: TestClient) -> None:
    register_customers(client)
    content = customers_csv(6, bad={2: {"age": 130}, 4: {"email": "nope", "country": "XX"}})
    body = import_file(client, content, schema="customers")
    assert body["state"] == "validated", body
    response = client.get(f"/api/imports/{body['id']}/preview", params={"rows": 5})
    assert response.status_code == 200, response.text
    preview = response.json()
    assert preview["fields"] == [f["name"] for f in CUSTOMERS["fields"]]
    rows = {r["row"]: r for r in preview["rows"]}
    assert sorted(rows) == [1, 2, 3, 4, 5]
    assert {n: r["valid"] for n, r in rows.items()} == {
        1: True,
        2: False,
        3: True,
        4: False,
        5: True,
    }
    assert rows[1]["errors"] == {}
    assert rows[1]["row_errors"] == []
    assert {c: [e["rule"] for e in es] for c, es in rows[2]["errors"].items()} == {
        "age": ["maximum"]
    }
    assert {c: [e["rule"] for e in es] for c, es in rows[4]["errors"].items()} == {
        "email": ["type"],
        "country": ["enum"],
    }
    assert rows[4]["values"]["email"] == "nope"
    assert rows[4]["source"]["email"] == "nope"


def test_failed_rows_csv_and_a_follow_up_import(
    client: TestClient, target_engine: sa.Engine
) -> None:
    register_customers(client)
    content = customers_csv(10, bad={3: {"age": 130, "name": "=1+1"}, 5: {"email": "nope"}})
    first = import_file(client, content, schema="customers")
    assert first["state"] == "validated", first
    assert first["counts"]["rows_invalid"] == 2
    response = client.get(f"/api/imports/{first['id']}/errors", params={"format": "csv"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    table = list(csv.reader(io.StringIO(response.text)))
    fields = [f["name"] for f in CUSTOMERS["fields"]]
    assert table[0] == [*fields, "_row", "_error"]
    failed = {int(r[-2]): dict(zip(table[0], r, strict=True)) for r in table[1:]}
    assert sorted(failed) == [3, 5]
    assert failed[3]["name"] == "'=1+1"  # neutralised: a spreadsheet shows it, never runs it
    assert failed[3]["_error"].startswith("age: ")
    assert failed[5]["email"] == "nope"
    assert failed[5]["_error"].startswith("email: ")

    # The valid rows go in now; the failed ones follow once fixed.
    commit = client.post(f"/api/imports/{first['id']}/commit", json={"on_error": "skip"})
    assert commit.status_code == 202, commit.text
    committed = wait_for(client, first["id"], SETTLED - {"validated"})
    assert committed["state"] == "completed", committed
    assert committed["counts"]["rows_loaded"] == 8

    # Fixed in a spreadsheet, saved with the _row and _error columns still there.
    failed[3] |= {"age": "31", "name": "User 3"}
    failed[5]["email"] = "user5@example.com"
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=table[0], lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(failed.values())
    created = client.post(
        "/api/imports",
        json={
            "upload_id": upload(client, out.getvalue().encode(), "fixed.csv"),
            "schema": "customers",
            "follow_up_of": first["id"],
            "options": AUTO,
        },
    )
    assert created.status_code == 202, created.text
    follow_up = wait_for(client, created.json()["id"], SETTLED)
    assert follow_up["state"] == "completed", follow_up
    assert follow_up["follow_up_of"] == first["id"]
    assert follow_up["links"]["follow_up_of"] == f"/api/imports/{first['id']}"
    assert follow_up["counts"]["rows_loaded"] == 2
    assert set(follow_up["mapping_proposal"]["unmapped_columns"]) == {"_row", "_error"}
    rows = table_rows(target_engine, "customers", ["id", "age", "email", "name"])
    assert [r[0] for r in rows] == list(range(1, 11))
    assert rows[2] == (3, 31, "user3@example.com", "User 3")
    assert rows[4][2] == "user5@example.com"


def test_follow_up_of_an_unknown_import_is_refused(client: TestClient) -> None:
    register_customers(client)
    response = client.post(
        "/api/imports",
        json={
            "upload_id": upload(client, customers_csv(2)),
            "schema": "customers",
            "follow_up_of": "00000000-0000-4000-8000-000000000000",
        },
    )
    assert response.status_code == 404, response.text
