"""An auto-commit into a table loads in its validate job, as it validates: one pass over
the file. The load commits only once every row has validated within what the import allows;
otherwise it rolls back and the import ends as a validation alone would."""

from __future__ import annotations

import logging
import uuid

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from loadbay.context import AppContext
from loadbay.jobs import service as jobs
from tests.imports.conftest import customer
from tests.imports.files_helpers import (
    customers_csv,
    import_file,
    register_customers,
    table_rows,
    wait_for,
)

# Enough rows for several batches: the first invalid row comes after rows were loaded.
ROWS = 6000
LATE = 5500


def job_kinds(context: AppContext, import_id: str) -> list[str]:
    return sorted(j.kind for j in jobs.jobs_of(context.sessions, subject_id=uuid.UUID(import_id)))


def ids(engine: sa.Engine) -> list[int]:
    return [row[0] for row in table_rows(engine, "customers", ["id"])]


def again(import_id: str, doing: str) -> str:
    """What the job logs when the table refused a key it was left to judge."""
    return f"import {import_id}: {doing} again, with the key checks on"


def test_one_pass_loads_every_row(
    client: TestClient, context: AppContext, target_engine: sa.Engine
) -> None:
    register_customers(client)
    body = import_file(
        client, customers_csv(ROWS), schema="customers", options={"auto_commit": True}
    )
    assert body["state"] == "completed", body
    counts = body["counts"]
    assert (counts["rows_total"], counts["rows_valid"], counts["rows_loaded"]) == (ROWS,) * 3
    assert ids(target_engine) == list(range(1, ROWS + 1))
    # No commit job: the validate job loaded the rows.
    assert job_kinds(context, body["id"]) == ["import.analyse", "import.validate"]


def test_an_invalid_row_late_in_the_file_rolls_the_load_back(
    client: TestClient, target_engine: sa.Engine
) -> None:
    register_customers(client)
    bad = {LATE: {"age": 130}, LATE + 1: {"email": "nope"}}
    body = import_file(
        client, customers_csv(ROWS, bad=bad), schema="customers", options={"auto_commit": True}
    )
    # As a validation alone: every error found and stored, nothing loaded, waiting for fixes.
    assert body["state"] == "validated", body
    counts = body["counts"]
    assert (counts["rows_total"], counts["rows_invalid"], counts["errors_total"]) == (ROWS, 2, 2)
    assert counts["rows_loaded"] == 0
    assert {(e["row"], e["rule"]) for e in body["first_errors"]} == {
        (LATE, "maximum"),
        (LATE + 1, "type"),
    }
    with target_engine.connect() as conn:
        assert conn.scalar(sa.text("SELECT count(*) FROM customers")) == 0
    # Fixed, then committed (by the commit job, a second pass): every row once.
    fixes = [
        {"row": LATE, "field": "age", "value": "40"},
        {"row": LATE + 1, "field": "email", "value": f"user{LATE + 1}@example.com"},
    ]
    patched = client.patch(f"/api/imports/{body['id']}/rows", json={"edits": fixes})
    assert patched.status_code == 200, patched.text
    committed = client.post(f"/api/imports/{body['id']}/commit", json={})
    assert committed.status_code == 202, committed.text
    done = wait_for(client, body["id"], {"completed", "failed"})
    assert done["state"] == "completed", done
    assert ids(target_engine) == list(range(1, ROWS + 1))


def test_skip_loads_the_valid_rows_of_the_one_pass(
    client: TestClient, target_engine: sa.Engine
) -> None:
    register_customers(client)
    bad = {3: {"age": -1}, LATE: {"signup": "2024-02-30"}}
    body = import_file(
        client,
        customers_csv(ROWS, bad=bad),
        schema="customers",
        options={"auto_commit": True, "on_error": "skip"},
    )
    assert body["state"] == "completed", body
    counts = body["counts"]
    assert (counts["rows_valid"], counts["rows_invalid"], counts["rows_loaded"]) == (
        ROWS - 2,
        2,
        ROWS - 2,
    )
    assert ids(target_engine) == [i for i in range(1, ROWS + 1) if i not in bad]


def test_a_key_already_in_the_table_is_found_while_loading(
    client: TestClient, target_engine: sa.Engine
) -> None:
    """Into a table with rows the load stages, and the validator looks keys up in the table
    as it goes: a clash is a row error, not a failed load."""
    register_customers(client)
    # The same id as the file's row LATE, another email.
    record = customer(LATE, email="seeded@example.com")
    seeded = client.post("/api/imports", json={"schema": "customers", "records": [record]})
    assert seeded.status_code == 201, seeded.text
    body = import_file(
        client,
        customers_csv(ROWS),
        schema="customers",
        options={"auto_commit": True, "on_error": "skip"},
    )
    assert body["state"] == "completed", body
    assert body["counts"]["rows_invalid"] == 1
    assert [(e["row"], e["rule"]) for e in body["first_errors"]] == [(LATE, "primaryKey")]
    assert ids(target_engine) == list(range(1, ROWS + 1))


def test_an_exceeded_error_budget_fails_and_loads_nothing(
    client: TestClient, target_engine: sa.Engine
) -> None:
    register_customers(client)
    bad = {i: {"age": 999} for i in range(LATE, LATE + 20)}
    body = import_file(
        client,
        customers_csv(ROWS, bad=bad),
        schema="customers",
        options={"auto_commit": True, "on_error": "skip", "max_errors": 10},
    )
    assert body["state"] == "failed", body
    assert body["failure"]["type"] == "error-budget-exceeded"
    assert body["counts"]["rows_loaded"] == 0
    with target_engine.connect() as conn:
        assert conn.scalar(sa.text("SELECT count(*) FROM customers")) == 0


def test_repeats_left_to_an_empty_table_are_found_and_reported_as_rows(
    client: TestClient, target_engine: sa.Engine, caplog: pytest.LogCaptureFixture
) -> None:
    """Into an empty table that refuses repeated keys itself, the one pass leaves the key
    checks to the load. The table refuses the repeat: the file is validated again with the
    checks on, and the repeats are row errors, as a validation alone finds them."""
    register_customers(client)
    bad = {LATE: {"email": "user7@example.com"}, LATE + 1: {"id": 8}}
    with caplog.at_level(logging.INFO, logger="loadbay.imports"):
        body = import_file(
            client, customers_csv(ROWS, bad=bad), schema="customers", options={"auto_commit": True}
        )
    assert body["state"] == "validated", body
    counts = body["counts"]
    assert (counts["rows_total"], counts["rows_invalid"], counts["rows_loaded"]) == (ROWS, 2, 0)
    assert [(e["row"], e["rule"]) for e in body["first_errors"]] == [
        (LATE, "unique"),
        (LATE + 1, "primaryKey"),
    ]
    assert [(e["column"], e["message"]) for e in body["first_errors"]] == [
        ("email", 'duplicate value of unique field "email" (first seen in row 7)'),
        ("id", 'duplicate primary key "id" (first seen in row 8)'),
    ]
    assert again(body["id"], "validating") in caplog.messages
    with target_engine.connect() as conn:
        assert conn.scalar(sa.text("SELECT count(*) FROM customers")) == 0


def test_skip_leaves_out_the_repeats_an_empty_table_refused(
    client: TestClient, target_engine: sa.Engine, caplog: pytest.LogCaptureFixture
) -> None:
    register_customers(client)
    with caplog.at_level(logging.INFO, logger="loadbay.imports"):
        body = import_file(
            client,
            customers_csv(ROWS, bad={LATE: {"id": 7}}),
            schema="customers",
            options={"auto_commit": True, "on_error": "skip"},
        )
    assert body["state"] == "completed", body
    assert (body["counts"]["rows_invalid"], body["counts"]["rows_loaded"]) == (1, ROWS - 1)
    assert again(body["id"], "validating") in caplog.messages
    assert ids(target_engine) == [i for i in range(1, ROWS + 1) if i != LATE]


def test_a_commit_job_into_an_empty_table_leaves_it_the_keys_too(
    client: TestClient, target_engine: sa.Engine, caplog: pytest.LogCaptureFixture
) -> None:
    """The commit job of a validated import does as the one pass does: the rows it found
    valid without the key checks go in, the table refuses the repeat, and the commit done
    again with the checks leaves it out (on_error=skip)."""
    register_customers(client)
    body = import_file(client, customers_csv(ROWS, bad={LATE: {"id": 7}}), schema="customers")
    assert (body["state"], body["counts"]["rows_invalid"]) == ("validated", 1), body
    with caplog.at_level(logging.INFO, logger="loadbay.imports"):
        committed = client.post(f"/api/imports/{body['id']}/commit", json={"on_error": "skip"})
        assert committed.status_code == 202, committed.text
        done = wait_for(client, body["id"], {"completed", "failed"})
    assert done["state"] == "completed", done
    assert done["counts"]["rows_loaded"] == ROWS - 1
    assert again(body["id"], "committing") in caplog.messages
    assert ids(target_engine) == [i for i in range(1, ROWS + 1) if i != LATE]
