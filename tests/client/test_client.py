"""loadbay.client against a real server process: schemas, inline and file imports, mapping,
errors, events, waiting, resumable uploads, and the errors it raises."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest

from loadbay.client import (
    CellEdit,
    Client,
    ImportFailed,
    ImportOptions,
    LoadbayAPIError,
    LoadbayTransportError,
    checkpoint_path,
)
from loadbay.client.sse import iter_events
from tests.client.conftest import customers_schema
from tests.e2e.conftest import ServerProcess, free_port
from tests.imports.conftest import customer
from tests.imports.files_helpers import HEADER, customers_csv


def write(tmp_path: Path, content: bytes, name: str = "customers.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


def upload_file(api: Client, path: Path) -> str:
    return api.uploads.upload(path, resume=False).id


class FailingTransport(httpx.BaseTransport):
    """The real transport, except that ``times`` requests of ``method`` to a path containing
    ``path_part``, after the first ``after`` of them, raise a connect error: a network that
    breaks where a test wants it to."""

    def __init__(self, method: str, path_part: str, times: int, after: int = 0) -> None:
        self.inner = httpx.HTTPTransport()
        self.method, self.path_part, self.left, self.after = method, path_part, times, after
        self.failed = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == self.method and self.path_part in request.url.path:
            if self.after > 0:
                self.after -= 1
            elif self.left > 0:
                self.left -= 1
                self.failed += 1
                raise httpx.ConnectError("connection reset (test)", request=request)
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


# --- schemas ----------------------------------------------------------------------------


def test_schemas_create_get_list_and_their_problems(api: Client) -> None:
    document = customers_schema()
    created = api.schemas.create(document)
    assert (created.name, created.version) == (document["name"], 1)
    assert len(created.fingerprint) == 64
    assert [f["name"] for f in created.document["fields"]][:3] == ["id", "email", "name"]

    assert api.schemas.get(created.name).fingerprint == created.fingerprint
    assert created.name in [schema.name for schema in api.schemas.list()]

    with pytest.raises(LoadbayAPIError) as exists:
        api.schemas.create(document)
    assert (exists.value.status, exists.value.slug) == (409, "schema-exists")

    bad = {"name": "bad;name", "fields": [{"name": "x", "type": "object"}]}
    with pytest.raises(LoadbayAPIError) as invalid:
        api.schemas.create(bad)
    problem = invalid.value
    assert (problem.status, problem.type) == (422, "/problems/invalid-schema")
    assert {e["path"] for e in problem.errors} >= {"$.name", "$.fields[0].type"}
    assert problem.body["status"] == 422
    assert problem.request_id

    with pytest.raises(LoadbayAPIError) as missing:
        api.schemas.get(f"nope_{uuid.uuid4().hex[:8]}")
    assert (missing.value.status, missing.value.slug) == (404, "schema-not-found")


# --- inline records ---------------------------------------------------------------------


def test_records_import_loads_and_a_bad_record_raises_the_problem(
    api: Client, schema_name: str, tmp_path: Path
) -> None:
    done = api.imports.create_records(
        schema_name, [customer(1), customer(2), customer(3)], idempotency_key=str(uuid.uuid4())
    )
    assert done.state == "completed"
    assert done.counts.rows_loaded == 3
    assert done.schema_.name == schema_name

    records = [
        customer(10),
        customer(11, age=130, country="XX"),
        customer(12, email="not-an-email"),
    ]
    with pytest.raises(LoadbayAPIError) as raised:
        api.imports.create_records(schema_name, records)
    problem = raised.value
    assert (problem.status, problem.slug) == (422, "validation-failed")
    assert {(e["row"], e["column"], e["rule"]) for e in problem.errors} == {
        (2, "age", "maximum"),
        (2, "country", "enum"),
        (3, "email", "type"),
    }
    failed = problem.import_
    assert failed is not None
    assert (failed.state, failed.counts.rows_invalid, failed.counts.rows_loaded) == ("failed", 2, 0)

    # Every error, page after page (two per page here), in row order.
    errors = list(api.imports.errors(failed.id, page_size=2))
    assert [(e.row, e.column) for e in errors] == [(2, "age"), (2, "country"), (3, "email")]

    target = tmp_path / "errors.csv"
    written = api.imports.download_errors_csv(failed.id, target)
    assert written == target.stat().st_size
    rows = list(csv.reader(io.StringIO(target.read_text(encoding="utf-8"))))
    assert rows[0] == ["row", "column", "value", "rule", "message"]
    assert [(r[0], r[1], r[3]) for r in rows[1:]] == [
        ("2", "age", "maximum"),
        ("2", "country", "enum"),
        ("3", "email", "type"),
    ]
    assert not (tmp_path / "errors.csv.part").exists()


# --- file imports -----------------------------------------------------------------------


def test_file_upload_import_and_wait_report_progress(
    api: Client, schema_name: str, tmp_path: Path, cache_dir: Path
) -> None:
    content = customers_csv(3000)
    path = write(tmp_path, content)
    offsets: list[tuple[int, int]] = []
    upload = api.uploads.upload(
        path, chunk_size=16 * 1024, on_progress=lambda o, s: offsets.append((o, s))
    )
    assert upload.state == "complete"
    assert upload.size == len(content)
    assert upload.filename == "customers.csv"
    assert upload.content_type == "text/csv"
    assert upload.sha256 == hashlib.sha256(content).hexdigest()
    assert offsets[0] == (0, len(content))
    assert offsets[-1] == (len(content), len(content))
    assert [o for o, _ in offsets] == sorted(o for o, _ in offsets)
    assert len(offsets) == 1 + -(-len(content) // (16 * 1024))
    assert not checkpoint_path(path, cache_dir).exists()  # removed once complete

    started = api.imports.create_from_upload(
        upload.id, schema_name, options=ImportOptions(auto_commit=True)
    )
    assert started.upload_id == upload.id
    seen: list[tuple[str, float]] = []
    done = api.wait(started.id, on_progress=lambda i: seen.append((i.state, i.progress)))
    assert done.state == "completed"
    assert done.counts.rows_loaded == 3000
    assert done.analysis is not None
    assert done.analysis.format == "csv"
    # The state when the stream opened, then each change, in lifecycle order.
    lifecycle = ["created", "analysing", "validating", "validated", "committing", "completed"]
    states = [state for state, _ in seen]
    assert states[-1] == "completed"
    assert [lifecycle.index(s) for s in states] == sorted(lifecycle.index(s) for s in states)
    assert all(0.0 <= fraction <= 1.0 for _, fraction in seen)

    events = list(api.imports.events(started.id))  # an ended import: one event, then the end
    assert [(name, item.state) for name, item in events] == [("state", "completed")]


def test_awaiting_mapping_then_set_mapping_validate_commit(
    api: Client, schema_name: str, tmp_path: Path
) -> None:
    columns = ["c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8"]
    body = customers_csv(20).decode().split("\r\n", 1)[1]
    path = write(tmp_path, (",".join(columns) + "\r\n" + body).encode())
    started = api.imports.create_from_upload(upload_file(api, path), schema_name)

    waiting = api.wait(started.id)
    assert waiting.state == "awaiting_mapping"
    assert waiting.mapping_proposal is not None
    assert {"email", "name"} <= set(waiting.mapping_proposal.missing_required)

    fields = HEADER.split(",")
    mapping = dict(zip(fields, columns, strict=True))
    with pytest.raises(LoadbayAPIError) as bad:
        api.imports.set_mapping(started.id, {"email": "nope"}, remember=False)
    assert (bad.value.status, bad.value.slug) == (422, "invalid-mapping")
    assert "$.mapping.email" in {e.get("path") for e in bad.value.errors}

    mapped = api.imports.set_mapping(started.id, mapping, remember=False)
    assert mapped.mapping == mapping
    validated = api.wait(started.id)
    assert validated.state == "validated"
    assert validated.counts.rows_valid == 20

    committing = api.imports.commit(started.id, mode="insert", on_error="abort")
    assert committing.state == "committing"
    done = api.wait(started.id, until={"completed"})
    assert done.counts.rows_loaded == 20


def test_errors_pages_failed_rows_csv_patch_and_commit(
    api: Client, schema_name: str, tmp_path: Path
) -> None:
    content = customers_csv(50, bad={3: {"age": 130}, 7: {"email": "nope"}, 9: {"country": "XX"}})
    started = api.imports.create_from_upload(
        upload_file(api, write(tmp_path, content)), schema_name
    )
    validated = api.wait(started.id)
    assert (validated.state, validated.counts.rows_invalid) == ("validated", 3)

    errors = list(api.imports.errors(started.id, page_size=1))
    assert [(e.row, e.column, e.rule) for e in errors] == [
        (3, "age", "maximum"),
        (7, "email", "type"),
        (9, "country", "enum"),
    ]

    target = tmp_path / "failed.csv"
    api.imports.download_errors_csv(started.id, target)
    failed_rows = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8"))))
    assert [row["_row"] for row in failed_rows] == ["3", "7", "9"]
    assert failed_rows[0]["age"] == "130"
    assert "age" in failed_rows[0]["_error"]

    with pytest.raises(LoadbayAPIError) as refused:  # invalid rows left, on_error=abort
        api.imports.commit(started.id)
    assert refused.value.status == 422

    fixed = api.imports.patch_rows(
        started.id,
        [CellEdit(row=3, field="age", value="31"), {"row": 7, "field": "email", "value": "a@b.io"}],
    )
    assert fixed.rows == {3: [], 7: []}
    assert fixed.import_.counts.rows_invalid == 1

    api.imports.commit(started.id, on_error="skip")
    done = api.wait(started.id)
    assert done.state == "completed"
    assert done.counts.rows_loaded == 49


def test_list_iterates_pages_and_filters(api: Client, schema_name: str) -> None:
    ids = [api.imports.create_records(schema_name, [customer(i)]).id for i in (1, 2, 3)]
    listed = list(api.imports.list(schema=schema_name, page_size=2))
    assert [item.id for item in listed] == ids[::-1]  # newest first, across two pages
    assert [i.id for i in api.imports.list(schema=schema_name, state="completed")] == ids[::-1]
    assert list(api.imports.list(schema=schema_name, state="failed")) == []


def test_cancel_at_rest_and_once_ended(api: Client, schema_name: str, tmp_path: Path) -> None:
    path = write(tmp_path, b"c1,c2\r\n1,2\r\n")
    started = api.imports.create_from_upload(upload_file(api, path), schema_name)
    assert api.wait(started.id).state == "awaiting_mapping"
    assert api.imports.cancel(started.id).state == "cancelled"
    with pytest.raises(LoadbayAPIError) as ended:
        api.imports.cancel(started.id)
    assert ended.value.status == 409


def test_wait_raises_import_failed_with_the_failure(
    api: Client, schema_name: str, tmp_path: Path
) -> None:
    content = customers_csv(30, bad={i: {"age": 200} for i in range(1, 31)})
    started = api.imports.create_from_upload(
        upload_file(api, write(tmp_path, content)), schema_name, options={"max_errors": 2}
    )
    with pytest.raises(ImportFailed) as failed:
        api.wait(started.id, timeout=30)
    assert failed.value.failure.type == "error-budget-exceeded"
    assert failed.value.import_.state == "failed"


def test_wait_polls_when_the_event_stream_fails(
    server: ServerProcess, schema_name: str, tmp_path: Path
) -> None:
    transport = FailingTransport("GET", "/events", times=1)
    with Client(server.base, transport=transport) as api:
        upload_id = upload_file(api, write(tmp_path, customers_csv(200)))
        started = api.imports.create_from_upload(upload_id, schema_name)
        seen: list[str] = []
        done = api.wait(started.id, on_progress=lambda i: seen.append(i.state), poll_interval=0.1)
    assert transport.failed == 1
    assert done.state == "validated"
    assert seen[-1] == "validated"


def test_unknown_import_and_unreachable_server(api: Client) -> None:
    with pytest.raises(LoadbayAPIError) as missing:
        api.imports.get(str(uuid.uuid4()))
    assert (missing.value.status, missing.value.slug) == (404, "import-not-found")
    with pytest.raises(LoadbayAPIError) as events:
        list(api.imports.events(str(uuid.uuid4())))
    assert events.value.status == 404

    url = f"http://127.0.0.1:{free_port()}"
    with Client(url, timeout=5) as nowhere, pytest.raises(LoadbayTransportError) as down:
        nowhere.schemas.list()
    assert down.value.url == f"{url}/api/schemas"
    assert url in str(down.value)


def test_non_problem_error_bodies_become_api_errors() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(502, text="<html>bad gateway</html>", request=request)

    transport = httpx.MockTransport(handler)
    with (
        Client("http://loadbay.test", transport=transport) as api,
        pytest.raises(LoadbayAPIError) as raised,
    ):
        api.schemas.list()
    assert (raised.value.status, raised.value.type) == (502, "about:blank")
    assert raised.value.title == "Bad Gateway"
    assert "bad gateway" in raised.value.detail


def test_api_key_goes_to_the_server_origin_only() -> None:
    seen: dict[str, str | None] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen[request.url.host] = request.headers.get("authorization")
        return httpx.Response(200, json={"items": []}, request=request)

    with Client("http://loadbay.test", "k1", transport=httpx.MockTransport(handler)) as api:
        api.schemas.list()
        api._http.request("GET", httpx.URL("http://elsewhere.test/x"))
    assert seen == {"loadbay.test": "Bearer k1", "elsewhere.test": None}


# --- resumable uploads ------------------------------------------------------------------


def test_upload_resumes_from_the_checkpoint_after_a_failure(
    server: ServerProcess, tmp_path: Path, cache_dir: Path
) -> None:
    content = bytes(range(256)) * 4096  # 1 MiB
    path = write(tmp_path, content, "blob.bin")
    chunk = 64 * 1024
    # The fourth PATCH breaks and no retry is allowed: three chunks are on the server.
    broken = FailingTransport("PATCH", "/api/uploads/", times=1, after=3)
    with Client(server.base, transport=broken) as api:
        api.uploads.retries = 0
        with pytest.raises(LoadbayTransportError):
            api.uploads.upload(path, chunk_size=chunk)

    saved = checkpoint_path(path, cache_dir)
    url = json.loads(saved.read_text())["url"]
    assert httpx.get(url).json()["offset"] == 3 * chunk

    offsets: list[int] = []
    with Client(server.base) as api:
        upload = api.uploads.upload(
            path, chunk_size=chunk, on_progress=lambda o, s: offsets.append(o)
        )
    assert offsets[0] == 3 * chunk  # went on where the server stood
    assert upload.links["self"] in url
    assert upload.sha256 == hashlib.sha256(content).hexdigest()
    assert not saved.exists()


def test_upload_retries_a_failed_patch_after_head(server: ServerProcess, tmp_path: Path) -> None:
    content = b"x" * 300_000
    path = write(tmp_path, content, "x.bin")
    flaky = FailingTransport("PATCH", "/api/uploads/", times=2)
    with Client(server.base, transport=flaky) as api:
        api.uploads.retry_delay = 0.01
        upload = api.uploads.upload(path, chunk_size=100_000, resume=False)
    assert flaky.failed == 2
    assert (upload.state, upload.offset) == ("complete", len(content))
    assert upload.sha256 == hashlib.sha256(content).hexdigest()


def test_a_checkpoint_the_server_no_longer_knows_starts_over(api: Client, tmp_path: Path) -> None:
    content = b"id\r\n1\r\n"
    path = write(tmp_path, content, "small.csv")
    checkpoint = tmp_path / "upload.json"
    first = api.uploads.upload(path, checkpoint=checkpoint)
    assert not checkpoint.exists()
    # A checkpoint pointing at a terminated upload (410) leads to a new upload.
    stale = api.uploads.upload(path, resume=False)
    api.uploads.delete(stale.id)
    stat = path.stat()
    checkpoint.write_text(
        json.dumps(
            {
                "url": f"{api.base_url}api/uploads/{stale.id}",
                "endpoint": f"{api.base_url}api/uploads",
                "path": str(path.resolve()),
                "size": stat.st_size,
                "mtime_ns": stat.st_mtime_ns,
            }
        )
    )
    offsets: list[int] = []
    fresh = api.uploads.upload(
        path, checkpoint=checkpoint, on_progress=lambda o, s: offsets.append(o)
    )
    assert fresh.id not in (stale.id, first.id)
    assert offsets == [0, len(content)]
    assert fresh.state == "complete"


# --- the package stays light ------------------------------------------------------------


def test_the_client_imports_nothing_of_the_server() -> None:
    code = (
        "import sys, loadbay.client, loadbay.client.cli\n"
        "heavy = {'polars', 'sqlalchemy', 'fastapi', 'uvicorn', 'loadbay.imports'}\n"
        "print(sorted(m for m in sys.modules if m in heavy or m.startswith('loadbay.imports')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"


def test_sse_parser_follows_the_event_stream_format() -> None:
    lines = [
        "retry: 2000",
        "",
        ": keep-alive",
        "id: 1",
        "event: state",
        'data: {"a":',
        "data: 1}",
        "",
        "data:no space",
        "",
        "event: progress",
        "data: cut off",
    ]
    events = list(iter_events(lines))
    assert [(e.event, e.data, e.id) for e in events] == [
        ("state", '{"a":\n1}', "1"),
        ("message", "no space", "1"),
    ]
