"""Authentication: every route x (no key, wrong key, revoked key, too small a scope, right
scope), in required and local mode; the OpenAPI document states the same rules."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient

from loadbay.app import create_app
from loadbay.security.auth import SESSION_PATH, bind_refusal, presented_key, required_scope
from loadbay.security.keys import Scope
from loadbay.settings import Settings
from tests.security.conftest import Keys, bearer

WRONG = "lbk_" + "x" * 43
LOWER = {Scope.WRITE: "read", Scope.ADMIN: "write"}


def operations() -> list[tuple[str, str]]:
    """Every documented operation, path parameters filled with a UUID."""
    spec = create_app(Settings()).openapi()
    return [
        (method.upper(), re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path))
        for path, item in spec["paths"].items()
        for method in item
    ]


OPERATIONS = operations()


def test_the_matrix_covers_every_router() -> None:
    paths = {path for _, path in OPERATIONS}
    prefixes = ("/api/imports", "/api/schemas", "/api/uploads", "/api/keys", "/api/webhooks")
    for prefix in (*prefixes, "/metrics"):
        assert any(p.startswith(prefix) for p in paths), prefix


def test_every_route_in_required_mode(secured: TestClient, keys: Keys) -> None:
    for method, path in OPERATIONS:
        needed = required_scope(method, path)

        def call(headers: dict[str, str], method: str = method, path: str = path) -> Any:
            return secured.request(method, path, headers=headers)

        if needed is None:
            if path != SESSION_PATH:  # public, but answers 401 without a session itself
                assert call({}).status_code not in (401, 403), (method, path)
            continue
        for headers in ({}, bearer(WRONG), bearer(keys.revoked), {"X-API-Key": keys.revoked}):
            response = call(headers)
            assert response.status_code == 401, (method, path, headers)
            if method != "HEAD":
                assert response.json()["type"] == "/problems/unauthorized"
            assert response.headers["www-authenticate"].startswith("Bearer")
        if needed in LOWER:
            refused = call(bearer(getattr(keys, LOWER[needed])))
            assert refused.status_code == 403, (method, path)
            if method != "HEAD":
                assert refused.json()["required_scope"] == needed.value
        for headers in (bearer(getattr(keys, needed.value)), {"X-API-Key": keys.admin}):
            assert call(headers).status_code not in (401, 403), (method, path)


def test_local_mode_serves_without_a_key_but_checks_a_key_that_is_sent(
    client: TestClient,
) -> None:
    assert client.get("/api/imports").status_code == 200
    assert client.get("/api/imports", headers=bearer(WRONG)).status_code == 401
    assert client.get("/api/imports", headers={"Authorization": "Basic eDp5"}).status_code == 401


def test_keys_admin_api_round_trip(secured: TestClient, keys: Keys) -> None:
    admin = bearer(keys.admin)
    created = secured.post("/api/keys", json={"name": "etl", "scopes": ["write"]}, headers=admin)
    assert created.status_code == 201, created.text
    body = created.json()
    assert created.headers["location"] == f"/api/keys/{body['id']}"
    assert created.headers["cache-control"] == "no-store"
    secret = body["key"]
    assert secret.startswith("lbk_")
    assert body["prefix"] == secret[:10]
    assert body["scopes"] == ["write"]
    assert secured.post("/api/schemas", json={}, headers=bearer(secret)).status_code == 422
    listed = secured.get("/api/keys", headers=admin).json()["items"]
    assert [k["name"] for k in listed] == ["read", "write", "admin", "revoked", "etl"]
    assert all("key" not in k and secret not in str(k) for k in listed)
    revoked = secured.delete(f"/api/keys/{body['id']}", headers=admin)
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None
    assert secured.get("/api/imports", headers=bearer(secret)).status_code == 401
    assert secured.delete(f"/api/keys/{uuid.uuid4()}", headers=admin).status_code == 404
    bad = secured.post("/api/keys", json={"name": "x", "scopes": ["root"]}, headers=admin)
    assert bad.status_code == 422


def test_openapi_states_each_operations_security(secured: TestClient) -> None:
    spec = secured.get("/openapi.json").json()
    assert set(spec["components"]["securitySchemes"]) == {"bearerAuth", "apiKeyHeader"}
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            needed = required_scope(method.upper(), path)
            if needed is None:
                assert operation["security"] == [], (method, path)
            else:
                assert operation["security"] == [
                    {"bearerAuth": [needed.value]},
                    {"apiKeyHeader": [needed.value]},
                ], (method, path)
                assert {"401", "403"} <= set(operation["responses"])


def test_openapi_in_local_mode_allows_no_key(client: TestClient) -> None:
    operation = client.get("/openapi.json").json()["paths"]["/api/imports"]["get"]
    assert operation["security"][-1] == {}


@pytest.mark.parametrize(
    ("method", "path", "needed"),
    [
        ("GET", "/api/imports", Scope.READ),
        ("HEAD", "/api/uploads/x", Scope.READ),
        ("POST", "/api/imports", Scope.WRITE),
        ("PATCH", "/api/uploads/x", Scope.WRITE),
        ("DELETE", "/api/schemas/x", Scope.WRITE),
        ("GET", "/api/keys", Scope.ADMIN),
        ("DELETE", "/api/keys/x", Scope.ADMIN),
        ("GET", "/api/webhooks", Scope.ADMIN),
        ("POST", "/api/webhooks/x/rotate-secret", Scope.ADMIN),
        ("GET", "/metrics", Scope.READ),
        ("OPTIONS", "/api/uploads", None),
        ("GET", "/healthz", None),
        ("GET", "/openapi.json", None),
        ("GET", "/", None),
        ("GET", "/api/keysx", Scope.READ),
    ],
)
def test_required_scope(method: str, path: str, needed: Scope | None) -> None:
    assert required_scope(method, path) == needed


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({b"authorization": b"Bearer  k1 "}, "k1"),
        ({b"authorization": b"bearer k1"}, "k1"),
        ({b"authorization": b"Basic k1"}, ""),
        ({b"x-api-key": b"k2"}, "k2"),
        ({b"authorization": b"Bearer k1", b"x-api-key": b"k2"}, "k1"),
    ],
)
def test_presented_key(headers: dict[bytes, bytes], expected: str | None) -> None:
    assert presented_key(headers) == expected


@pytest.mark.parametrize(
    ("host", "auth", "refused"),
    [
        ("127.0.0.1", "local", False),
        ("::1", "local", False),
        ("localhost", "local", False),
        ("127.0.0.2", "local", False),
        ("0.0.0.0", "local", True),
        ("::", "local", True),
        ("192.168.1.4", "local", True),
        ("example.org", "local", True),
        ("0.0.0.0", "required", False),
    ],
)
def test_bind_refusal(host: str, auth: str, refused: bool) -> None:
    reason = bind_refusal(host, Settings(auth=auth))  # type: ignore[arg-type]
    assert (reason is not None) == refused
    if reason:
        assert "LOADBAY_AUTH=required" in reason
        assert host in reason
