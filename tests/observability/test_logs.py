"""Logs: ECS JSON lines, one access line per request, no forged lines, no secrets."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import pytest
import structlog
from fastapi.testclient import TestClient

from loadbay.app import create_app
from loadbay.observability.logs import configure_logging
from loadbay.settings import Settings
from tests.imports.conftest import customer

SECRET_KEY = "lbk_" + "S3cr3t" * 6


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def access_lines(text: str) -> list[dict[str, Any]]:
    return [line for line in json_lines(text) if line.get("log.logger") == "loadbay.access"]


def test_one_ecs_access_line_per_request(
    client: TestClient, customers: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    created = client.post(
        "/api/imports",
        json={"schema": "customers", "records": [customer(1)]},
        headers={"X-Request-ID": "req-42"},
    )
    import_id = created.json()["id"]
    client.get(f"/api/imports/{import_id}")
    lines = access_lines(capsys.readouterr().out)
    assert [line["message"] for line in lines] == [
        "POST /api/imports 201",
        f"GET /api/imports/{import_id} 200",
    ]
    first = lines[0]
    assert first["trace.id"] == "req-42"
    assert first["http.request.method"] == "POST"
    assert first["url.path"] == "/api/imports"
    assert first["http.response.status_code"] == 201
    assert first["log.level"] == "info"
    assert isinstance(first["event.duration"], int)
    assert first["event.duration"] > 0
    assert first["@timestamp"].endswith("Z")
    assert first["ecs.version"]
    assert lines[0]["loadbay.import_id"] == lines[1]["loadbay.import_id"] == import_id


def test_logs_during_a_request_carry_its_id(
    client: TestClient, customers: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    client.post(
        "/api/imports",
        json={"schema": "customers", "records": [customer(1)]},
        headers={"X-Request-ID": "req-7"},
    )
    loaded = [
        line
        for line in json_lines(capsys.readouterr().out)
        if line.get("log.logger") == "loadbay.destinations"
    ]
    assert loaded
    assert all(line["trace.id"] == "req-7" for line in loaded)


def test_line_breaks_in_user_values_cannot_forge_lines(
    client: TestClient, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    forged = '/x\n{"message": "forged", "log.level": "error"}'
    client.get(forged.replace("\n", "%0A"))
    structlog.get_logger("loadbay.test").warning("user said", value="a\r\nforged line")
    out = capsys.readouterr().out
    assert all(line.get("message") != "forged" for line in json_lines(out))
    assert "\nforged line" not in out


def test_console_format_escapes_line_breaks(
    capsys: pytest.CaptureFixture[str], settings: Settings
) -> None:
    configure_logging(level="info", fmt="console")
    try:
        capsys.readouterr()
        logging.getLogger("loadbay.test").info("header was %r", "x")
        structlog.get_logger("loadbay.test").info("value", given="a\nb")
        out = capsys.readouterr().out
    finally:
        configure_logging(level="info", fmt="json")
    assert "header was 'x'" in out
    assert "given=a\\nb" in out
    assert len(out.strip().splitlines()) == 2


def test_key_material_is_redacted(capsys: pytest.CaptureFixture[str], settings: Settings) -> None:
    create_app(settings)  # configures logging as a server does
    capsys.readouterr()
    logging.getLogger("loadbay.test").info("client sent %s", SECRET_KEY)
    structlog.get_logger("loadbay.test").info(
        "auth", authorization=f"Bearer {SECRET_KEY}", api_key=SECRET_KEY, note=SECRET_KEY
    )
    out = capsys.readouterr().out
    assert SECRET_KEY not in out
    assert SECRET_KEY[:12] not in out
    line = json_lines(out)[-1]
    assert line["authorization"] == line["api_key"] == "[redacted]"
    assert line["note"] == "lbk_[redacted]"


def test_request_ids_that_could_forge_lines_are_replaced(
    client: TestClient, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    response = client.get("/api/stats", headers={"X-Request-ID": "a\tb"})
    (line,) = access_lines(capsys.readouterr().out)
    assert line["trace.id"] == response.headers["x-request-id"]
    assert re.fullmatch("[0-9a-f]{32}", line["trace.id"])


def test_uvicorn_colour_copies_are_dropped(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(level="info", fmt="json")
    capsys.readouterr()
    logging.getLogger("uvicorn.error").info(
        "Started server process [%d]", 7, extra={"color_message": "Started \x1b[36m%d\x1b[0m"}
    )
    (line,) = json_lines(capsys.readouterr().out)
    assert line["message"] == "Started server process [7]"
    assert "color_message" not in line
