"""/metrics: after a scripted mix of requests, counts and labels match what was sent."""

from __future__ import annotations

import time
import uuid
from typing import Any

from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from loadbay.app import create_app
from loadbay.observability.metrics import count_uploaded_bytes
from loadbay.settings import Settings
from tests.imports.conftest import customer


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _count(route: str, method: str, status: int) -> float:
    return _sample(
        "http_request_duration_seconds_count", route=route, method=method, status=str(status)
    )


def test_request_histogram_counts_by_route_method_and_status(
    client: TestClient, customers: Any
) -> None:
    missing = f"/api/imports/{uuid.uuid4()}"
    script = [
        ("GET", "/api/imports/{import_id}", 404, missing, 3),
        ("GET", "/api/imports/{import_id}", 422, "/api/imports/not-a-uuid", 2),
        ("GET", "/api/imports", 200, "/api/imports", 4),
        ("GET", "<unmatched>", 404, "/no/such/route", 1),
        ("DELETE", "/api/imports", 405, "/api/imports", 1),
    ]
    before = {(r, m, s): _count(r, m, s) for m, r, s, _, _ in script}
    for method, _, status, path, times in script:
        for _ in range(times):
            assert client.request(method, path).status_code == status
    for method, route, status, _, times in script:
        assert _count(route, method, status) - before[(route, method, status)] == times


def test_rows_imported_by_outcome(client: TestClient, customers: Any) -> None:
    loaded, invalid, rejected = (
        _sample("loadbay_rows_imported_total", outcome=o) for o in ("loaded", "invalid", "rejected")
    )
    ok = client.post(
        "/api/imports",
        json={"schema": "customers", "records": [customer(1), customer(2)]},
    )
    assert ok.status_code == 201, ok.text
    aborted = client.post(
        "/api/imports",
        json={"schema": "customers", "records": [customer(3), customer(4, age=-1)]},
    )
    assert aborted.status_code == 422, aborted.text
    assert _sample("loadbay_rows_imported_total", outcome="loaded") - loaded == 2
    assert _sample("loadbay_rows_imported_total", outcome="invalid") - invalid == 1
    assert _sample("loadbay_rows_imported_total", outcome="rejected") - rejected == 1


def test_exposition_parses_and_has_every_family(client: TestClient) -> None:
    count_uploaded_bytes(10)
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    families = {f.name for f in text_string_to_metric_families(response.text)}
    assert {
        "http_request_duration_seconds",
        "http_requests_in_flight",
        "loadbay_rows_imported",
        "loadbay_uploaded_bytes",
        "loadbay_rate_limited_requests",
    } <= families


def test_requests_refused_before_routing_keep_their_route_label(settings: Settings) -> None:
    secured = settings.model_copy(update={"auth": "required"})
    route = "/api/imports/{import_id}/errors"
    before = _count(route, "GET", 401)
    with TestClient(create_app(secured), raise_server_exceptions=False) as client:
        assert client.get(f"/api/imports/{uuid.uuid4()}/errors").status_code == 401
    assert _count(route, "GET", 401) - before == 1


def test_job_queue_and_durations_after_a_file_import(client: TestClient, customers: Any) -> None:
    from tests.imports.files_helpers import customers_csv, start_import, upload, wait_for

    jobs_before = {
        kind: _sample(
            "loadbay_job_duration_seconds_count", kind=f"import.{kind}", outcome="succeeded"
        )
        for kind in ("analyse", "validate")
    }
    imports_before = _sample(
        "loadbay_import_duration_seconds_count", source="upload", state="completed"
    )
    created = start_import(client, upload(client, customers_csv(10)), options={"auto_commit": True})
    wait_for(client, created["id"], {"completed"})

    def finished(kind: str) -> float:
        return _sample(
            "loadbay_job_duration_seconds_count", kind=f"import.{kind}", outcome="succeeded"
        )

    # An auto-commit loads in its validate job, which records its duration just after it
    # ends the import; there is no commit job.
    deadline = time.monotonic() + 10
    while finished("validate") == jobs_before["validate"] and time.monotonic() < deadline:
        time.sleep(0.02)
    for kind, before in jobs_before.items():
        assert finished(kind) - before == 1, kind
    assert (
        _sample("loadbay_import_duration_seconds_count", source="upload", state="completed")
        - imports_before
        == 1
    )

    def queue() -> tuple[dict[str, float], float]:
        text = client.get("/metrics").text
        families = {f.name: f for f in text_string_to_metric_families(text)}
        states = {s.labels["state"]: s.value for s in families["loadbay_jobs"].samples}
        return states, families["loadbay_job_queue_oldest_seconds"].samples[0].value

    while queue()[0]["running"] and time.monotonic() < deadline:
        time.sleep(0.02)  # the last job is marked finished just after its import ends
    assert queue() == ({"queued": 0, "running": 0}, 0)
