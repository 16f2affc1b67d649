"""The problem+json shape, X-Request-ID, and 500s that hide their stack trace."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from loadbay.app import create_app
from loadbay.settings import Settings


@pytest.fixture
def app_client(settings: Settings) -> TestClient:
    app = create_app(settings)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret internals")

    return TestClient(app, raise_server_exceptions=False)


def test_unexpected_error_is_a_500_problem_with_the_request_id(
    app_client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with app_client, caplog.at_level(logging.ERROR):
        response = app_client.get("/boom", headers={"X-Request-ID": "req-123"})
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["x-request-id"] == "req-123"
    body = response.json()
    assert body == {
        "type": "/problems/internal-error",
        "title": "Internal server error",
        "status": 500,
        "detail": "An unexpected error occurred; quote request id req-123 to the operator.",
        "instance": "/boom",
        "request_id": "req-123",
    }
    assert "secret internals" not in response.text
    assert "secret internals" in caplog.text


def test_request_id_is_generated_and_hostile_ones_replaced(app_client: TestClient) -> None:
    with app_client:
        generated = app_client.get("/api/imports").headers["x-request-id"]
        assert len(generated) == 32
        forged = app_client.get("/api/imports", headers={"X-Request-ID": "a b\tc"})
        assert forged.headers["x-request-id"] != "a b\tc"
