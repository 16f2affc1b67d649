"""Webhooks end to end: endpoints through the API, events from real imports and uploads,
Standard Webhooks signatures verified by the library, the retry schedule, 410, rotation."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from loadbay.app import create_app
from loadbay.settings import Settings
from loadbay.webhooks import delivery
from tests.imports.conftest import CUSTOMERS, customer
from tests.webhooks.receiver import Receiver, ReceiverServer


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # Loopback receivers must be allowed through the outbound guard; jobs polled quickly.
    return settings.model_copy(
        update={"outbound_allow": ["127.0.0.0/8"], "job_poll_interval": 0.05}
    )


@pytest.fixture
def fast_schedule(monkeypatch: pytest.MonkeyPatch) -> tuple[float, ...]:
    waits = (0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3)
    monkeypatch.setattr(delivery, "RETRY_WAITS", waits)
    return waits


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    hook = Receiver()
    with ReceiverServer(hook):
        yield hook


def subscribe(client: TestClient, receiver: Receiver, *events: str) -> dict[str, Any]:
    response = client.post("/api/webhooks", json={"url": receiver.url, "events": list(events)})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    assert body["secret"].startswith("whsec_")
    receiver.secrets.append(body["secret"])
    return body


_ids = itertools.count(1)


def completed_import(client: TestClient) -> dict[str, Any]:
    assert client.post("/api/schemas", json=CUSTOMERS).status_code in (201, 409)
    record = customer(next(_ids))
    response = client.post("/api/imports", json={"schema": "customers", "records": [record]})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_an_import_event_arrives_signed(client: TestClient, receiver: Receiver) -> None:
    endpoint = subscribe(client, receiver, "import.completed", "import.failed")
    imported = completed_import(client)
    (received,) = receiver.wait_for(1)
    assert received.verified_with == [endpoint["secret"]]
    event = json.loads(received.body)
    assert event["type"] == "import.completed"
    assert event["data"]["id"] == imported["id"]
    assert event["data"]["counts"]["rows_loaded"] == 1
    assert event["data"]["state"] == "completed"
    assert received.headers["webhook-id"].startswith("msg_")
    assert received.headers["content-type"] == "application/json"
    # The endpoint is listed without its secret; the delivery log shows the attempt.
    listed = client.get("/api/webhooks").json()["items"]
    assert [e["id"] for e in listed] == [endpoint["id"]]
    assert "secret" not in listed[0]
    log = wait_for_delivery(client, endpoint["id"], "succeeded")
    assert log["attempts"] == 1
    assert log["attempt_log"][0]["status"] == 200


def wait_for_delivery(
    client: TestClient, endpoint_id: str, state: str, timeout: float = 20.0
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        items = client.get(f"/api/webhooks/{endpoint_id}/deliveries").json()["items"]
        if items and items[0]["state"] == state:
            found: dict[str, Any] = items[0]
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"deliveries: {items}")
        time.sleep(0.05)


def test_an_endpoint_gets_only_the_events_it_chose(client: TestClient, receiver: Receiver) -> None:
    subscribe(client, receiver, "upload.completed")
    completed_import(client)  # import.completed: not subscribed
    upload = client.post("/api/uploads", files={"file": ("a.csv", b"id\n1\n", "text/csv")})
    assert upload.status_code == 201
    (received,) = receiver.wait_for(1)
    event = json.loads(received.body)
    assert event["type"] == "upload.completed"
    assert event["data"]["id"] == upload.json()["id"]
    assert event["data"]["sha256"] == upload.json()["sha256"]
    time.sleep(0.3)
    assert len(receiver.received) == 1


def test_failed_attempts_follow_the_schedule_across_a_restart(
    settings: Settings, receiver: Receiver, fast_schedule: tuple[float, ...]
) -> None:
    receiver.script = [500, 503, 200]
    with TestClient(create_app(settings)) as client:
        endpoint = subscribe(client, receiver, "import.completed")
        completed_import(client)
        receiver.wait_for(1)
    # The server is down between the first and the second attempt; the retry is a durable
    # job, so the next server sends it when it is due.
    with TestClient(create_app(settings)) as client:
        attempts = receiver.wait_for(3)
        log = wait_for_delivery(client, endpoint["id"], "succeeded")
    assert [a.answered for a in attempts] == [500, 503, 200]
    assert len({a.headers["webhook-id"] for a in attempts}) == 1  # one message, three tries
    assert all(a.body == attempts[0].body for a in attempts)
    assert all(a.verified_with for a in attempts)
    assert [a["status"] for a in log["attempt_log"]] == [500, 503, 200]
    assert [a["number"] for a in log["attempt_log"]] == [1, 2, 3]
    time.sleep(1.0)
    assert len(receiver.received) == 3  # exactly once per planned attempt


def test_attempts_are_counted_by_outcome(
    settings: Settings, receiver: Receiver, fast_schedule: tuple[float, ...]
) -> None:
    def attempts(outcome: str) -> float:
        return (
            REGISTRY.get_sample_value("loadbay_webhook_attempts_total", {"outcome": outcome}) or 0
        )

    before = {o: attempts(o) for o in ("succeeded", "failed")}
    receiver.script = [500, 200]
    with TestClient(create_app(settings)) as client:
        endpoint = subscribe(client, receiver, "import.completed")
        completed_import(client)
        wait_for_delivery(client, endpoint["id"], "succeeded")
    assert attempts("failed") - before["failed"] == 1
    assert attempts("succeeded") - before["succeeded"] == 1


def test_the_last_failed_attempt_ends_the_delivery(
    client: TestClient, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(delivery, "RETRY_WAITS", (0.1, 0.1))
    receiver.script = [500]
    endpoint = subscribe(client, receiver, "import.completed")
    completed_import(client)
    log = wait_for_delivery(client, endpoint["id"], "failed")
    assert log["attempts"] == 3
    assert "3 attempts" in log["last_error"]


def test_410_disables_the_endpoint(client: TestClient, receiver: Receiver) -> None:
    receiver.script = [410]
    endpoint = subscribe(client, receiver, "import.completed")
    completed_import(client)
    wait_for_delivery(client, endpoint["id"], "failed")
    current = client.get(f"/api/webhooks/{endpoint['id']}").json()
    assert current["enabled"] is False
    assert "410" in current["disabled_reason"]
    completed_import(client)
    time.sleep(0.5)
    assert len(receiver.received) == 1
    # Re-enabled, it receives again.
    assert (
        client.patch(f"/api/webhooks/{endpoint['id']}", json={"enabled": True}).status_code == 200
    )
    receiver.script = [200]
    completed_import(client)
    receiver.wait_for(2)


def test_a_rotated_secret_keeps_signing_during_the_grace_period(
    client: TestClient, receiver: Receiver
) -> None:
    endpoint = subscribe(client, receiver, "import.completed")
    rotated = client.post(f"/api/webhooks/{endpoint['id']}/rotate-secret")
    assert rotated.status_code == 200, rotated.text
    new_secret = rotated.json()["secret"]
    assert new_secret != endpoint["secret"]
    receiver.secrets.append(new_secret)
    completed_import(client)
    (received,) = receiver.wait_for(1)
    assert sorted(received.verified_with) == sorted([endpoint["secret"], new_secret])
    assert len(received.headers["webhook-signature"].split(" ")) == 2


def test_redeliver_sends_the_same_message_again(client: TestClient, receiver: Receiver) -> None:
    endpoint = subscribe(client, receiver, "import.completed")
    completed_import(client)
    first = wait_for_delivery(client, endpoint["id"], "succeeded")
    again = client.post(f"/api/webhooks/{endpoint['id']}/deliveries/{first['id']}/redeliver")
    assert again.status_code == 202, again.text
    two = receiver.wait_for(2)
    assert two[0].headers["webhook-id"] == two[1].headers["webhook-id"]
    assert wait_for_delivery(client, endpoint["id"], "succeeded")["attempts"] == 2


def test_bad_endpoints_are_refused(client: TestClient) -> None:
    for body in (
        {"url": "ftp://example.com/x", "events": ["import.completed"]},
        {"url": "http://127.0.0.1:9/x", "events": []},
        {"url": "http://127.0.0.1:9/x", "events": ["import.exploded"]},
    ):
        response = client.post("/api/webhooks", json=body)
        assert response.status_code == 422, (body, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    missing = "/api/webhooks/00000000-0000-0000-0000-000000000000"
    assert client.get(missing).status_code == 404
    assert client.delete(missing).status_code == 404


def test_deleting_an_endpoint_stops_its_deliveries(
    client: TestClient, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(delivery, "RETRY_WAITS", (0.5,) * 7)
    receiver.script = [500]
    endpoint = subscribe(client, receiver, "import.completed")
    completed_import(client)
    receiver.wait_for(1)
    assert client.delete(f"/api/webhooks/{endpoint['id']}").status_code == 204
    time.sleep(1.2)
    assert len(receiver.received) == 1
    assert client.get(f"/api/webhooks/{endpoint['id']}").status_code == 404
