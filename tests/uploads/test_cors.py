"""CORS for browser tus clients: configurable origins, tus headers allowed and exposed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from loadbay.app import create_app
from loadbay.settings import Settings
from tests.uploads.conftest import TUS

ORIGIN = "https://app.example"


@pytest.fixture
def browser(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings.model_copy(update={"cors_origins": [ORIGIN]}))) as client:
        yield client


def test_preflight_allows_the_tus_request_headers(browser: TestClient) -> None:
    response = browser.options(
        "/api/uploads",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "PATCH",
            "Access-Control-Request-Headers": (
                "tus-resumable,upload-length,upload-metadata,upload-offset,upload-checksum,"
                "upload-concat,upload-defer-length,x-http-method-override,content-type"
            ),
        },
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert "PATCH" in response.headers["access-control-allow-methods"]
    assert response.headers["tus-resumable"] == "1.0.0"


def test_responses_expose_location_and_the_tus_headers(browser: TestClient) -> None:
    response = browser.post("/api/uploads", headers=TUS | {"Origin": ORIGIN, "Upload-Length": "3"})
    assert response.status_code == 201
    assert response.headers["access-control-allow-origin"] == ORIGIN
    exposed = {
        h.strip().lower() for h in response.headers["access-control-expose-headers"].split(",")
    }
    assert {
        "location",
        "tus-resumable",
        "upload-offset",
        "upload-length",
        "upload-metadata",
        "upload-expires",
        "upload-concat",
        "tus-version",
        "tus-extension",
        "tus-max-size",
        "tus-checksum-algorithm",
    } <= exposed


def test_other_origins_are_not_allowed(browser: TestClient) -> None:
    response = browser.options(
        "/api/uploads",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "PATCH"},
    )
    assert response.status_code == 400
    assert "access-control-allow-origin" not in response.headers


def test_no_cors_unless_configured(client: TestClient) -> None:
    response = client.post("/api/uploads", headers=TUS | {"Origin": ORIGIN, "Upload-Length": "3"})
    assert response.status_code == 201
    assert "access-control-allow-origin" not in response.headers


def test_origins_are_read_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOADBAY_CORS_ORIGINS", "https://a.example, https://b.example,")
    assert Settings().cors_origins == ["https://a.example", "https://b.example"]
