"""End to end: `loadbay serve` in a real uvicorn process, driven over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import ServerProcess, server_env
from tests.imports.conftest import CUSTOMERS, customer


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    schemas_dir = tmp_path / "schemas"
    schemas_dir.mkdir()
    (schemas_dir / "people.yaml").write_text(
        "name: people\nfields:\n  - name: id\n    type: integer\n  - name: name\nprimaryKey: id\n"
    )
    env = server_env(tmp_path / "var", LOADBAY_SCHEMAS_DIR=str(schemas_dir))
    process = ServerProcess(env, tmp_path / "server.log")
    yield process.start()
    process.stop()


def test_define_a_schema_and_import_records(server: str, tmp_path: Path) -> None:
    with httpx.Client(base_url=server, timeout=30) as http:
        assert http.get("/api/schemas/people").json()["version"] == 1
        assert http.post("/api/schemas", json=CUSTOMERS).status_code == 201
        response = http.post(
            "/api/imports",
            json={"schema": "customers", "records": [customer(1), customer(2)]},
            headers={"X-Request-ID": "e2e-1"},
        )
        assert response.status_code == 201, response.text
        assert response.headers["x-request-id"] == "e2e-1"
        assert response.json()["counts"]["rows_loaded"] == 2
        bad = http.post("/api/imports", content=b"{", headers={"content-type": "application/json"})
        assert bad.status_code == 400
        assert bad.headers["content-type"] == "application/problem+json"
    assert (tmp_path / "var" / "loadbay.sqlite").exists()
    assert (tmp_path / "var" / "data.sqlite").exists()


def test_a_chunked_control_body_over_the_limit_is_cut_off(server: str) -> None:
    def body() -> Iterator[bytes]:
        yield b'{"mapping": {"id": "'
        for _ in range(64):  # 4 MiB, well over LOADBAY_MAX_CONTROL_BODY_BYTES (1 MiB)
            yield b"x" * 65536
        yield b'"}}'

    with httpx.Client(base_url=server, timeout=30) as http:
        response = http.put(
            "/api/imports/6f1c2a9e-0000-4000-8000-000000000000/mapping",
            content=body(),
            headers={"content-type": "application/json"},
        )
        assert response.status_code == 413, response.text
        assert response.json()["type"] == "/problems/body-too-large"
        assert response.json()["limit"] == 1024 * 1024
        assert http.get("/healthz").status_code == 200  # the server is fine afterwards
