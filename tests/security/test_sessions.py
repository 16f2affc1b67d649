"""Page sessions: sign-in, cookie flags, CSRF (signed double submit) and Fetch Metadata."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from loadbay.app import create_app
from loadbay.security.keys import Scope
from loadbay.security.sessions import CSRF_COOKIE, SESSION_COOKIE, SessionSigner
from loadbay.settings import Settings
from tests.security.conftest import Keys, bearer, make_keys

PASSWORD = "correct horse battery staple"
SCHEMA = {"name": "t", "fields": [{"name": "a", "type": "integer"}]}


@pytest.fixture
def page(secured_settings: Settings) -> Iterator[tuple[TestClient, Keys]]:
    configured = secured_settings.model_copy(
        update={"admin_password": SecretStr(PASSWORD), "cors_origins": ["https://app.example"]}
    )
    with TestClient(create_app(configured), raise_server_exceptions=False) as client:
        yield client, make_keys(client.app.state.context)  # type: ignore[attr-defined]


def sign_in(client: TestClient, **body: str) -> str:
    response = client.post("/api/session", json=body)
    assert response.status_code == 200, response.text
    return str(response.json()["csrf_token"])


def test_sign_in_sets_hardened_cookies(page: tuple[TestClient, Keys]) -> None:
    client, keys = page
    response = client.post("/api/session", json={"key": keys.write})
    assert response.status_code == 200
    cookies = response.headers.get_list("set-cookie")
    session = next(c for c in cookies if c.startswith(SESSION_COOKIE + "="))
    csrf = next(c for c in cookies if c.startswith(CSRF_COOKIE + "="))
    assert "HttpOnly" in session
    assert "SameSite=lax" in session
    assert "Secure" not in session  # plain http here; https adds it (below)
    assert "HttpOnly" not in csrf
    body = response.json()
    assert body["scopes"] == ["write"]
    assert client.cookies[CSRF_COOKIE] == body["csrf_token"]
    assert client.get("/api/session").json()["csrf_token"] == body["csrf_token"]
    https = client.post(
        "https://testserver/api/session", json={"key": keys.write}
    ).headers.get_list("set-cookie")
    assert all("Secure" in cookie for cookie in https)


def test_wrong_credentials_are_refused(page: tuple[TestClient, Keys]) -> None:
    client, keys = page
    assert client.post("/api/session", json={"key": keys.revoked}).status_code == 401
    assert client.post("/api/session", json={"password": "guess"}).status_code == 401
    both = client.post("/api/session", json={"key": keys.read, "password": PASSWORD})
    assert both.status_code == 422
    assert client.get("/api/session").status_code == 401


def test_csrf_matrix(page: tuple[TestClient, Keys]) -> None:
    client, keys = page
    token = sign_in(client, key=keys.write)
    cases = [
        ({}, 403, "/problems/csrf-failed"),
        ({"X-CSRF-Token": token[:-2] + "xx"}, 403, "/problems/csrf-failed"),
        (
            {"X-CSRF-Token": token, "Sec-Fetch-Site": "cross-site"},
            403,
            "/problems/cross-site-request",
        ),
        ({"X-CSRF-Token": token, "Sec-Fetch-Site": "same-origin"}, 201, None),
    ]
    for i, (headers, status, problem) in enumerate(cases):
        response = client.post("/api/schemas", json=SCHEMA | {"name": f"t{i}"}, headers=headers)
        assert response.status_code == status, (headers, response.text)
        if problem:
            assert response.json()["type"] == problem
    assert client.get("/api/schemas").status_code == 200  # safe methods need no token


def test_a_token_from_another_session_is_refused(page: tuple[TestClient, Keys]) -> None:
    client, keys = page
    stale = sign_in(client, key=keys.write)
    sign_in(client, key=keys.write)
    response = client.post("/api/schemas", json=SCHEMA, headers={"X-CSRF-Token": stale})
    assert response.status_code == 403


def test_session_scopes_follow_the_key(page: tuple[TestClient, Keys]) -> None:
    client, keys = page
    token = sign_in(client, key=keys.read)
    refused = client.post("/api/schemas", json=SCHEMA, headers={"X-CSRF-Token": token})
    assert refused.status_code == 403
    assert refused.json()["type"] == "/problems/insufficient-scope"
    token = sign_in(client, password=PASSWORD)
    assert client.get("/api/keys").status_code == 200
    created = client.post(
        "/api/keys", json={"name": "k", "scopes": ["read"]}, headers={"X-CSRF-Token": token}
    )
    assert created.status_code == 201


def test_revoking_the_key_ends_its_sessions(page: tuple[TestClient, Keys]) -> None:
    client, keys = page
    sign_in(client, key=keys.write)
    admin = bearer(keys.admin)
    key_id = next(
        k["id"]
        for k in client.get("/api/keys", headers=admin).json()["items"]
        if k["name"] == "write"
    )
    assert client.get("/api/imports").status_code == 200
    client.delete(f"/api/keys/{key_id}", headers=admin)
    assert client.get("/api/imports").status_code == 401
    assert client.get("/api/session").status_code == 401


def test_sign_out_clears_the_session(page: tuple[TestClient, Keys]) -> None:
    client, keys = page
    sign_in(client, key=keys.read)
    assert client.delete("/api/session").status_code == 204
    assert client.get("/api/imports").status_code == 401


def test_api_key_requests_are_exempt_from_csrf(page: tuple[TestClient, Keys]) -> None:
    client, keys = page
    response = client.post(
        "/api/schemas", json=SCHEMA, headers=bearer(keys.write) | {"Sec-Fetch-Site": "cross-site"}
    )
    assert response.status_code == 201


def test_cross_site_unsafe_requests_without_credentials(
    client: TestClient, settings: Settings
) -> None:
    # Local mode: a page on another site must not drive the keyless API through the browser.
    response = client.post("/api/schemas", json=SCHEMA, headers={"Sec-Fetch-Site": "cross-site"})
    assert response.status_code == 403
    assert response.json()["type"] == "/problems/cross-site-request"
    assert client.get("/api/schemas", headers={"Sec-Fetch-Site": "cross-site"}).status_code == 200
    allowed = settings.model_copy(update={"cors_origins": ["https://app.example"]})
    with TestClient(create_app(allowed)) as trusted:
        ok = trusted.post(
            "/api/schemas",
            json=SCHEMA,
            headers={"Sec-Fetch-Site": "cross-site", "Origin": "https://app.example"},
        )
        assert ok.status_code == 201
        assert ok.headers["access-control-allow-origin"] == "https://app.example"


def test_forged_or_expired_session_cookies_are_ignored() -> None:
    signer = SessionSigner(b"k" * 32, ttl=60)
    cookie, session = signer.issue(scopes=frozenset({Scope.ADMIN}), key_id=uuid.uuid4())
    assert signer.read(cookie) == session
    payload, _, mac = cookie.partition(".")
    assert signer.read(payload + "." + mac[:-1] + ("A" if mac[-1] != "A" else "B")) is None
    assert SessionSigner(b"x" * 32, ttl=60).read(cookie) is None
    assert signer.read("garbage") is None
    assert signer.read("") is None
    expired, _ = SessionSigner(b"k" * 32, ttl=-1).issue(scopes=frozenset(), key_id=None)
    assert signer.read(expired) is None
    assert not signer.csrf_valid(session, signer.csrf_token(session)[:-1])
    assert signer.csrf_valid(session, signer.csrf_token(session))
    assert time.time() < session.expires


def test_imports_record_who_asked_for_them(page: tuple[TestClient, Keys]) -> None:
    client, keys = page
    assert client.post("/api/schemas", json=SCHEMA, headers=bearer(keys.admin)).status_code == 201
    records = {"schema": "t", "records": [{"a": 1}]}

    by_key = client.post("/api/imports", json=records, headers=bearer(keys.write))
    token = sign_in(client, key=keys.write)
    by_key_session = client.post("/api/imports", json=records, headers={"X-CSRF-Token": token})
    client.cookies.clear()
    token = sign_in(client, password=PASSWORD)
    by_password = client.post("/api/imports", json=records, headers={"X-CSRF-Token": token})

    made = [by_key, by_key_session, by_password]
    assert [r.status_code for r in made] == [201, 201, 201], [r.text for r in made]
    assert [r.json()["created_by"] for r in made] == ["key:write", "key:write", "admin"]
    listed = client.get("/api/imports", headers=bearer(keys.read)).json()["items"]
    assert sorted(item["created_by"] for item in listed) == ["admin", "key:write", "key:write"]
