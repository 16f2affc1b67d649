"""CORS: the allow-list admits credentials headers in, rate-limit fields out."""

from __future__ import annotations

from fastapi.testclient import TestClient

from loadbay.app import create_app
from loadbay.settings import Settings

ORIGIN = "https://app.example"


def test_allow_list(settings: Settings) -> None:
    allowed = settings.model_copy(update={"cors_origins": [ORIGIN]})
    with TestClient(create_app(allowed)) as client:
        preflight = client.options(
            "/api/imports",
            headers={
                "Origin": ORIGIN,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "x-api-key, x-csrf-token, authorization",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == ORIGIN
        allowed_headers = preflight.headers["access-control-allow-headers"].lower()
        assert {"x-api-key", "x-csrf-token", "authorization"} <= set(allowed_headers.split(", "))
        response = client.get("/api/imports", headers={"Origin": ORIGIN})
        exposed = response.headers["access-control-expose-headers"].lower().split(", ")
        assert {"ratelimit", "ratelimit-policy", "retry-after", "tus-resumable"} <= set(exposed)
        stranger = client.get("/api/imports", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in stranger.headers
