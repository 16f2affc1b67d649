"""GET /api/imports/{id}/events: Server-Sent Events of state changes and progress."""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient

from loadbay.settings import Settings
from tests.imports.files_helpers import customers_csv, register_customers, start_import, upload


def read_events(client: TestClient, url: str) -> list[tuple[str, dict[str, Any]]]:
    events: list[tuple[str, dict[str, Any]]] = []
    with client.stream("GET", url) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        kind = ""
        for line in response.iter_lines():
            if line.startswith("event: "):
                kind = line.removeprefix("event: ")
            elif line.startswith("data: "):
                events.append((kind, json.loads(line.removeprefix("data: "))))
    return events


def test_the_stream_follows_an_import_to_its_end(client: TestClient) -> None:
    register_customers(client)
    created = start_import(
        client, upload(client, customers_csv(3000)), options={"auto_commit": True}
    )
    events = read_events(client, created["links"]["events"])
    states = [body["state"] for kind, body in events if kind == "state"]
    # The first event is the import as it was when the stream opened; the stream ends
    # with the final state.
    assert states[-1] == "completed"
    assert events[-1][1]["counts"]["rows_loaded"] == 3000
    # States are seen as each poll finds them: a subsequence of the lifecycle, in order.
    lifecycle = ["created", "analysing", "validating", "validated", "committing", "completed"]
    assert states == sorted(states, key=lifecycle.index)
    # Every event carries the whole view, in order of versions.
    stamps = [body["updated_at"] for _, body in events]
    assert stamps == sorted(stamps)
    assert all(body["id"] == created["id"] for _, body in events)


def test_a_finished_import_gives_one_event_and_ends(client: TestClient) -> None:
    register_customers(client)
    created = start_import(client, upload(client, customers_csv(5)), options={"auto_commit": True})
    read_events(client, created["links"]["events"])  # waits for the end
    events = read_events(client, created["links"]["events"])
    assert [(kind, body["state"]) for kind, body in events] == [("state", "completed")]


def test_an_unknown_import_is_404_before_any_stream(client: TestClient) -> None:
    response = client.get("/api/imports/00000000-0000-0000-0000-000000000000/events")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


def test_progress_events_between_states(settings: Settings) -> None:
    from loadbay.app import create_app

    quick = settings.model_copy(update={"progress_interval": 0.01, "events_poll_interval": 0.01})
    with TestClient(create_app(quick)) as client:
        register_customers(client)
        created = start_import(
            client, upload(client, customers_csv(60_000)), options={"auto_commit": True}
        )
        events = read_events(client, created["links"]["events"])
    kinds = [kind for kind, _ in events]
    assert "progress" in kinds
    fractions = [body["progress"] for kind, body in events if kind == "progress"]
    assert all(0 <= f <= 1 for f in fractions)
    detail = next(body["progress_detail"] for kind, body in events if kind == "progress")
    assert detail["bytes_total"] > 0
