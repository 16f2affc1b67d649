"""The URL source end to end: a file on a local server becomes an upload, then table rows;
a 404, an oversized file and SSRF-refused targets fail clearly."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from tests.imports.files_helpers import SETTLED, customers_csv, register_customers, wait_for
from tests.outbound import Handler
from tests.sources.api import TestApi
from tests.sources.conftest import loaded_ids, run, start

from loadbay.app import create_app
from loadbay.settings import Settings


def serve_file(api: TestApi, path: str, content: bytes, *, length: bool = True) -> None:
    def handle(handler: Handler, hit: int) -> None:
        if length:
            handler.reply(200, content, {"Content-Type": "text/csv; charset=utf-8"})
            return
        # No Content-Length: the body ends when the connection closes (HTTP/1.1 §6.3).
        handler.send_response(200)
        handler.send_header("Content-Type", "text/csv")
        handler.send_header("Connection", "close")
        handler.end_headers()
        handler.wfile.write(content)
        handler.close_connection = True

    api.server.routes[path] = handle


def test_a_served_file_is_imported_end_to_end(
    client: TestClient, customers: dict[str, Any], api: TestApi, target_engine: sa.Engine
) -> None:
    content = customers_csv(40)
    serve_file(api, "/exports/customers.csv", content)
    created = start(client, {"type": "url", "url": api.url("/exports/customers.csv?sig=s3cr3t")})
    assert created["state"] == "created"
    assert created["source"] == "url"
    # The query (where signed URLs keep their token) is shown by name only.
    shown = created["source_detail"]["config"]["url"]
    assert shown == api.url("/exports/customers.csv") + "?sig=[redacted]"
    assert "s3cr3t" not in str(created)

    done = wait_for(client, created["id"], SETTLED)
    assert done["state"] == "completed", done
    assert done["counts"]["rows_loaded"] == 40
    assert loaded_ids(target_engine) == list(range(1, 41))
    assert done["file_name"] == "customers.csv"
    assert done["source_detail"]["bytes_fetched"] == len(content)
    assert done["progress_detail"]["bytes_total"] == len(content)
    # A normal upload underneath, with its whole-file checksum recorded.
    upload = client.get(done["links"]["upload"])
    assert upload.status_code == 200, upload.text
    assert upload.json()["sha256"] == hashlib.sha256(content).hexdigest()
    assert upload.json()["size"] == len(content)


def test_a_file_without_content_length_is_read_to_the_end(
    client: TestClient, customers: dict[str, Any], api: TestApi, target_engine: sa.Engine
) -> None:
    serve_file(api, "/stream.csv", customers_csv(12), length=False)
    done = run(client, {"type": "url", "url": api.url("/stream.csv")})
    assert done["state"] == "completed", done
    assert loaded_ids(target_engine) == list(range(1, 13))


def test_404_fails_with_the_status_and_the_url(
    client: TestClient, customers: dict[str, Any], api: TestApi
) -> None:
    done = run(client, {"type": "url", "url": api.url("/missing.csv?token=abc")})
    assert done["state"] == "failed"
    assert done["failure"] == {
        "type": "source-http-error",
        "detail": f"GET {api.url('/missing.csv')}?token=[redacted] answered 404 Not Found",
    }
    assert done["upload_id"] is None


@pytest.fixture
def small_client(settings: Settings) -> Iterator[TestClient]:
    capped = settings.model_copy(update={"max_upload_bytes": 1000})
    with TestClient(create_app(capped), raise_server_exceptions=False) as test_client:
        register_customers(test_client)
        yield test_client


@pytest.mark.parametrize("length", [True, False], ids=["content-length", "no-length"])
def test_a_file_over_the_upload_cap_fails_saying_the_cap(
    small_client: TestClient, api: TestApi, length: bool
) -> None:
    serve_file(api, "/big.csv", customers_csv(100), length=length)
    done = run(small_client, {"type": "url", "url": api.url("/big.csv")})
    assert done["state"] == "failed"
    assert done["failure"]["type"] == "source-too-large"
    detail = done["failure"]["detail"]
    assert "maximum upload size of 1000 bytes (LOADBAY_MAX_UPLOAD_BYTES)" in detail
    assert api.url("/big.csv") in detail
    # Nothing of the partial download stays behind.
    uploads = small_client.app.state.upload_store.root  # type: ignore[attr-defined]
    assert list(uploads.iterdir()) == []


@pytest.fixture
def guarded_client(settings: Settings) -> Iterator[TestClient]:
    """The app with only 127.0.0.1 allowed: other loopback addresses stay refused."""
    strict = settings.model_copy(update={"outbound_allow": ["127.0.0.1/32"]})
    with TestClient(create_app(strict), raise_server_exceptions=False) as test_client:
        register_customers(test_client)
        yield test_client


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://127.0.0.2:9/x.csv", "127.0.0.2 is a loopback address"),
        ("http://[::1]:9/x.csv", "::1 is a loopback address"),
        ("http://169.254.169.254/latest/meta-data", "the cloud metadata address"),
        ("http://10.1.2.3/x.csv", "10.1.2.3 is a private address"),
    ],
)
def test_an_ssrf_refused_url_is_refused_at_request_time(
    guarded_client: TestClient, url: str, message: str
) -> None:
    response = guarded_client.post(
        "/api/imports", json={"source": {"type": "url", "url": url}, "schema": "customers"}
    )
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["type"] == "/problems/outbound-refused"
    assert message in problem["detail"]
    assert "LOADBAY_OUTBOUND_ALLOW" in problem["detail"]
    assert guarded_client.get("/api/imports").json()["items"] == []


def test_a_redirect_to_a_refused_address_fails_the_import(
    guarded_client: TestClient, api: TestApi
) -> None:
    def jump(handler: Handler, hit: int) -> None:
        handler.reply(302, b"", {"Location": "http://127.0.0.2:1/internal.csv"})

    api.server.routes["/jump.csv"] = jump
    done = run(guarded_client, {"type": "url", "url": api.url("/jump.csv")})
    assert done["state"] == "failed"
    assert done["failure"]["type"] == "outbound-refused"
    assert "redirect to http://127.0.0.2:1/internal.csv" in done["failure"]["detail"]
    assert "127.0.0.2 is a loopback address" in done["failure"]["detail"]


def test_a_bad_source_is_a_422_naming_the_path(client: TestClient) -> None:
    response = client.post(
        "/api/imports",
        json={"source": {"type": "url", "url": "ftp://files.example/x.csv"}, "schema": "c"},
    )
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["type"] == "/problems/invalid-request"
    assert problem["detail"] == "the request body does not match its schema"
    assert problem["errors"] == [
        {
            "message": "Value error, must be an absolute http:// or https:// URL",
            "path": "$.source.url.url",
        }
    ]


def test_an_unknown_source_type_names_the_known_ones(client: TestClient) -> None:
    response = client.post("/api/imports", json={"source": {"type": "sftp"}, "schema": "customers"})
    assert response.status_code == 422, response.text
    assert response.json()["errors"] == [
        {
            "message": "Input tag 'sftp' found using 'type' does not match any of the "
            "expected tags: 'url', 'rest'",
            "path": "$.source",
        }
    ]


def test_cancel_while_downloading_stops_the_fetch_and_keeps_nothing(
    client: TestClient, customers: dict[str, Any], api: TestApi
) -> None:
    def slow(handler: Handler, hit: int) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", str(100 * 1000))
        handler.end_headers()
        for _ in range(100):  # 100 kB over up to 5 s, unless the client goes away
            try:
                handler.wfile.write(b"x" * 1000)
                handler.wfile.flush()
            except OSError:
                return
            if handler.server.release.wait(0.05):
                return

    api.server.routes["/slow.csv"] = slow
    created = start(client, {"type": "url", "url": api.url("/slow.csv")})
    started = wait_for_progress(client, created["id"])
    assert started["state"] == "created"
    assert 0 < started["progress_detail"]["bytes_processed"] < 100 * 1000
    cancelled = client.post(f"/api/imports/{created['id']}/cancel")
    assert cancelled.status_code == 202, cancelled.text
    assert cancelled.json()["state"] == "cancelled"
    store = client.app.state.upload_store.root  # type: ignore[attr-defined]
    deadline = time.monotonic() + 10
    while list(store.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert list(store.iterdir()) == []
    assert client.get(f"/api/imports/{created['id']}").json()["upload_id"] is None


def wait_for_progress(client: TestClient, import_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        body: dict[str, Any] = client.get(f"/api/imports/{import_id}").json()
        if body["progress_detail"]["bytes_processed"] > 0:
            return body
        time.sleep(0.02)
    raise AssertionError(f"import {import_id} showed no download progress")
