"""The HTTP destination end to end, against a real receiving API on loopback: batches with
idempotency keys, retries, 413 splits, per-record rejections as row errors, resuming a
commit without resending what was acknowledged, auth, the SSRF guard, metrics."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from pydantic import SecretStr

from loadbay.app import create_app
from loadbay.context import AppContext
from loadbay.db import transaction
from loadbay.destinations.http import HttpDestination
from loadbay.imports import pipeline
from loadbay.imports.files import begin_commit
from loadbay.imports.service import get_import
from loadbay.jobs.runner import JobControl
from loadbay.settings import Settings
from tests.destinations.receiver import Behaviour, ReceiverServer
from tests.imports.conftest import CUSTOMERS, customer
from tests.imports.files_helpers import SETTLED, customers_csv, import_file, wait_for

SECRET = "tok-3f9a1c"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # The receiver is on loopback, which the guard refuses unless allowed; retries wait
    # milliseconds, not seconds.
    return settings.model_copy(
        update={
            "outbound_allow": ["127.0.0.0/8"],
            "outbound_retry_base": 0.01,
            "outbound_retry_max_wait": 0.05,
            "outbound_read_timeout": 5.0,
            "job_poll_interval": 0.05,
            "destination_secrets": {"crm": SecretStr(SECRET)},
        }
    )


@pytest.fixture
def receiver() -> Iterator[ReceiverServer]:
    with ReceiverServer() as server:
        yield server


def schema_to(url: str, **destination: Any) -> dict[str, Any]:
    config = {"type": "http", "url": url, "batch_size": 3} | destination
    return CUSTOMERS | {"x-loadbay": {"destination": config}}


def register(client: TestClient, document: dict[str, Any]) -> None:
    response = client.post("/api/schemas", json=document)
    assert response.status_code == 201, response.text


def post_records(client: TestClient, records: list[dict[str, Any]], **extra: Any) -> httpx.Response:
    return client.post("/api/imports", json={"schema": "customers", "records": records, **extra})


def received_ids(receiver: ReceiverServer) -> list[int]:
    return sorted(int(r["id"]) for r in receiver.rows())


def stored_errors(client: TestClient, import_id: str) -> list[dict[str, Any]]:
    response = client.get(f"/api/imports/{import_id}/errors")
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def table_exists(engine: sa.Engine, table: str) -> bool:
    return sa.inspect(engine).has_table(table)


def sample(name: str, labels: dict[str, str] | None = None) -> float:
    return REGISTRY.get_sample_value(name, labels or {}) or 0.0


# --- JSON batch imports --------------------------------------------------------------------


def test_records_arrive_once_in_keyed_batches_despite_failures(
    client: TestClient, receiver: ReceiverServer, target_engine: sa.Engine
) -> None:
    receiver.behaviour = Behaviour(fail_once={"2": "500", "3": "lost-ack", "4": "reset"})
    register(client, schema_to(receiver.url, auth={"type": "bearer", "secret": "crm"}))
    accepted_before = sample("loadbay_destination_http_batches_total", {"outcome": "accepted"})
    response = post_records(client, [customer(i) for i in range(1, 11)])
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["state"] == "completed"
    assert body["counts"]["rows_loaded"] == 10
    # Exactly the valid rows, once each, although batches 2-4 were sent twice.
    assert received_ids(receiver) == list(range(1, 11))
    import_id = body["id"]
    keys = {f"{import_id}:{n}" for n in ("1", "2", "3", "4")}
    assert set(receiver.attempts) == keys
    assert receiver.attempts[f"{import_id}:1"] == 1
    assert all(receiver.attempts[f"{import_id}:{n}"] == 2 for n in ("2", "3", "4"))
    request = receiver.requests[0]
    assert request.method == "POST"
    assert request.headers["authorization"] == f"Bearer {SECRET}"
    assert request.headers["content-type"] == "application/json"
    first = [r for r in receiver.requests if r.headers["idempotency-key"].endswith(":1")]
    assert [len(r.records) for r in first] == [3]
    # Delivered values are typed JSON: the schema's fields, not the internal row number.
    assert receiver.requests[0].records[0] == {
        "id": 1,
        "email": "user1@example.com",
        "name": "User 1",
        "age": 31,
        "signup": "2024-02-29",
        "balance": 12.5,
        "country": "FR",
        "active": True,
    }
    # The endpoint replaces the table unless also_table says otherwise.
    assert not table_exists(target_engine, "customers")
    assert (
        sample("loadbay_destination_http_batches_total", {"outcome": "accepted"})
        == accepted_before + 4
    )


def test_a_413_splits_the_batch_down_to_what_fits(
    client: TestClient, receiver: ReceiverServer
) -> None:
    receiver.behaviour = Behaviour(max_records=2)
    register(client, schema_to(receiver.url, batch_size=5, method="PUT"))
    split_before = sample("loadbay_destination_http_batches_total", {"outcome": "split"})
    response = post_records(client, [customer(i) for i in range(1, 7)])
    assert response.status_code == 201, response.text
    assert response.json()["counts"]["rows_loaded"] == 6
    # 1 (5 records): 413 -> 1.1 (3): 413 -> 1.1.1 (2), 1.1.2 (1); 1.2 (2); then 2 (1).
    assert receiver.batches() == ["1", "1.1", "1.1.1", "1.1.2", "1.2", "2"]
    assert {r.method for r in receiver.requests} == {"PUT"}
    assert received_ids(receiver) == list(range(1, 7))
    split = sample("loadbay_destination_http_batches_total", {"outcome": "split"})
    assert split == split_before + 2


def test_one_record_still_too_large_is_a_row_error(
    client: TestClient, receiver: ReceiverServer
) -> None:
    receiver.behaviour = Behaviour(max_records=0)
    register(client, schema_to(receiver.url, batch_size=2))
    response = post_records(client, [customer(1), customer(2)], on_error="skip")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["counts"]["rows_loaded"] == 0
    errors = stored_errors(client, body["id"])
    assert [(e["row"], e["rule"]) for e in errors] == [(1, "destination"), (2, "destination")]
    assert "413" in errors[0]["message"]


def rejects_bad_emails(record: dict[str, Any]) -> str | None:
    return "mailbox does not exist" if "bad" in record["email"] else None


def test_rejected_records_become_row_errors_and_delivery_goes_on_with_skip(
    client: TestClient, receiver: ReceiverServer
) -> None:
    receiver.behaviour = Behaviour(reject=rejects_bad_emails)
    register(client, schema_to(receiver.url))
    records = [customer(i) for i in range(1, 9)]
    records[1]["email"] = "bad2@example.com"  # row 2, batch 1
    records[6]["email"] = "bad7@example.com"  # row 7, batch 3
    records[4]["age"] = 500  # invalid before delivery: never sent
    rejected_before = sample("loadbay_destination_http_records_total", {"outcome": "rejected"})
    response = post_records(client, records, on_error="skip")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["counts"]["rows_loaded"] == 5
    assert body["counts"]["rows_valid"] == 5
    assert body["counts"]["rows_invalid"] == 3
    assert received_ids(receiver) == [1, 3, 4, 6, 8]
    errors = stored_errors(client, body["id"])
    by_rule = sorted((e["row"], e["rule"], e.get("column")) for e in errors)
    assert by_rule == [
        (2, "destination", "email"),
        (5, "maximum", "age"),
        (7, "destination", "email"),
    ]
    rejection = next(e for e in errors if e["row"] == 2)
    assert rejection["value"] == "bad2@example.com"
    assert rejection["message"] == (
        "the HTTP destination rejected the record: mailbox does not exist"
    )
    assert body["counts"]["errors_total"] == 3
    assert (
        sample("loadbay_destination_http_records_total", {"outcome": "rejected"})
        == rejected_before + 2
    )


def test_with_abort_the_first_rejecting_batch_fails_the_import(
    client: TestClient, receiver: ReceiverServer
) -> None:
    receiver.behaviour = Behaviour(reject=rejects_bad_emails, partial_status=422)
    register(client, schema_to(receiver.url, format="ndjson"))
    records = [customer(i) for i in range(1, 10)]
    records[4]["email"] = "bad5@example.com"  # batch 2
    response = post_records(client, records)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["type"] == "/problems/destination-rejected"
    assert "batch 2" in problem["detail"]
    assert (
        "accepted batch(es) 1-2 before; delivered batches cannot be rolled back"
        in problem["detail"]
    )
    assert problem["import"]["state"] == "failed"
    assert receiver.batches() == ["1", "2"]  # batch 3 was never sent
    assert receiver.requests[0].headers["content-type"] == "application/x-ndjson"
    assert [e["rule"] for e in problem["errors"]] == ["destination"]
    assert problem["errors"][0]["row"] == 5


def test_a_client_error_fails_the_import_naming_batch_status_and_url(
    client: TestClient, receiver: ReceiverServer
) -> None:
    receiver.behaviour = Behaviour(fail_always={"2": 400})
    url = receiver.url + "?token=hunter2"
    register(client, schema_to(url, auth={"type": "api_key", "secret": "crm", "header": "X-Key"}))
    response = post_records(client, [customer(i) for i in range(1, 8)])
    assert response.status_code == 502, response.text
    problem = response.json()
    assert problem["type"] == "/problems/destination-failed"
    detail = problem["detail"]
    assert "batch 2 with HTTP 400 Bad Request" in detail
    assert receiver.url + "?token=[redacted]" in detail
    assert "accepted batch(es) 1 before" in detail
    assert "hunter2" not in response.text
    assert SECRET not in response.text
    assert receiver.requests[0].headers["x-key"] == SECRET
    assert receiver.batches() == ["1", "2"]


def test_a_422_naming_no_record_fails_the_import(
    client: TestClient, receiver: ReceiverServer
) -> None:
    receiver.behaviour = Behaviour(fail_always={"1": 422})
    register(client, schema_to(receiver.url))
    response = post_records(client, [customer(1)], on_error="skip")
    assert response.status_code == 502, response.text
    assert "batch 1 with HTTP 422 Unprocessable" in response.json()["detail"]


def test_retries_exhausted_fail_the_import(
    client: TestClient, receiver: ReceiverServer, settings: Settings
) -> None:
    receiver.behaviour = Behaviour(fail_always={"1": 503})
    register(client, schema_to(receiver.url))
    response = post_records(client, [customer(1)])
    assert response.status_code == 502, response.text
    detail = response.json()["detail"]
    assert f"failed after {settings.outbound_retry_attempts} attempts: HTTP 503" in detail
    assert "No batch was delivered." in detail
    assert receiver.batches() == ["1"] * settings.outbound_retry_attempts


def test_a_destination_not_allow_listed_is_refused(
    settings: Settings, receiver: ReceiverServer
) -> None:
    guarded = settings.model_copy(update={"outbound_allow": []})
    with TestClient(create_app(guarded)) as client:
        register(client, schema_to(receiver.url))
        response = post_records(client, [customer(1)])
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["type"] == "/problems/outbound-refused"
    assert "loopback" in problem["detail"]
    assert receiver.requests == []


def test_a_secret_that_is_not_configured_fails_before_sending(
    client: TestClient, receiver: ReceiverServer
) -> None:
    register(client, schema_to(receiver.url, auth={"type": "bearer", "secret": "nope"}))
    response = post_records(client, [customer(1)])
    assert response.status_code == 422, response.text
    assert response.json()["type"] == "/problems/destination-secret-missing"
    assert receiver.requests == []


def test_destination_config_is_checked_at_schema_creation(client: TestClient) -> None:
    document = CUSTOMERS | {
        "x-loadbay": {
            "destination": {
                "type": "http",
                "url": "ftp://example.com/in",
                "method": "PATCH",
                "batch_size": 0,
                "auth": {"type": "basic", "secret": "crm"},
                "headers": {"Idempotency-Key": "mine"},
                "token": "plain",
            }
        }
    }
    response = client.post("/api/schemas", json=document)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["type"] == "/problems/invalid-schema"
    paths = sorted(e["path"] for e in problem["errors"])
    prefix = "$.x-loadbay.destination"
    assert paths == sorted(
        f"{prefix}{suffix}"
        for suffix in (".url", ".method", ".batch_size", ".auth", ".headers", ".token")
    )


# --- file imports --------------------------------------------------------------------------


def test_a_file_import_delivers_and_keeps_the_table_too(
    client: TestClient, receiver: ReceiverServer, target_engine: sa.Engine
) -> None:
    receiver.behaviour = Behaviour(fail_once={"2": "reset"}, reject=rejects_bad_emails)
    register(
        client,
        schema_to(
            receiver.url,
            batch_size=4,
            format="ndjson",
            also_table=True,
            auth={"type": "basic", "username": "loader", "secret": "crm"},
            headers={"X-Tenant": "acme"},
        ),
    )
    content = customers_csv(10, bad={3: {"email": "bad3@example.com"}})
    body = import_file(
        client, content, schema="customers", options={"auto_commit": True, "on_error": "skip"}
    )
    assert body["state"] == "completed", body
    assert body["counts"]["rows_loaded"] == 9
    assert body["counts"]["rows_invalid"] == 1
    assert received_ids(receiver) == [i for i in range(1, 11) if i != 3]
    assert receiver.batches() == ["1", "2", "2", "3"]
    request = receiver.requests[0]
    assert request.headers["authorization"] == httpx.BasicAuth("loader", SECRET)._auth_header
    assert request.headers["x-tenant"] == "acme"
    errors = stored_errors(client, body["id"])
    assert [(e["row"], e["rule"]) for e in errors] == [(3, "destination")]
    # The table keeps every valid row, the one the endpoint rejected included.
    with target_engine.connect() as conn:
        assert conn.scalar(sa.text('SELECT count(*) FROM "customers"')) == 10


class Crash(BaseException):
    """The job's process dying: nothing in the job catches it."""


def test_a_commit_run_again_after_a_crash_does_not_resend_acknowledged_batches(
    settings: Settings, receiver: ReceiverServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    with TestClient(create_app(settings)) as client:
        register(client, schema_to(receiver.url, batch_size=2))
        body = import_file(client, customers_csv(9), schema="customers")
        assert body["state"] == "validated", body
    import_id = uuid.UUID(body["id"])
    # No executor: the commit job is run here, by hand, as a worker would run it.
    context = AppContext.build(settings)
    context.start()
    try:
        with transaction(context.sessions) as session:
            record = get_import(session, import_id=import_id)
            begin_commit(context, session, record, mode="insert", on_error="abort")
        real_post = HttpDestination.post

        def post_then_die(self: HttpDestination, key: str, body: bytes, iid: uuid.UUID) -> Any:
            response = real_post(self, key, body, iid)
            if key == "3":
                raise Crash  # batch 3 reached the receiver; its answer was never recorded
            return response

        monkeypatch.setattr(HttpDestination, "post", post_then_die)
        control = JobControl(threading.Event())
        with pytest.raises(Crash):
            pipeline.commit(context, import_id, control)
        with context.sessions() as session:
            assert get_import(session, import_id=import_id).state == "committing"
        monkeypatch.setattr(HttpDestination, "post", real_post)
        pipeline.commit(context, import_id, control)
        with context.sessions() as session:
            done = get_import(session, import_id=import_id)
    finally:
        context.close()
    assert done.state == "completed"
    assert done.rows_loaded == 9
    assert receiver.batches() == ["1", "2", "3", "3", "4", "5"]
    assert received_ids(receiver) == list(range(1, 10))


def test_a_cancel_stops_delivery_between_batches(
    client: TestClient, receiver: ReceiverServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    register(client, schema_to(receiver.url, batch_size=2))
    body = import_file(client, customers_csv(10), schema="customers")
    assert body["state"] == "validated", body
    real_post = HttpDestination.post

    def post_and_cancel(self: HttpDestination, key: str, data: bytes, iid: uuid.UUID) -> Any:
        response = real_post(self, key, data, iid)
        if key == "2":
            assert client.post(f"/api/imports/{iid}/cancel").status_code == 202
        return response

    monkeypatch.setattr(HttpDestination, "post", post_and_cancel)
    response = client.post(f"/api/imports/{body['id']}/commit", json={"on_error": "abort"})
    assert response.status_code == 202, response.text
    ended = wait_for(client, body["id"], SETTLED)
    assert ended["state"] == "cancelled"
    assert receiver.batches() == ["1", "2"]
