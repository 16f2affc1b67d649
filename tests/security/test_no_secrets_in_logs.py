"""Key material never reaches the logs, whatever path it takes through the server."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.security.conftest import Keys, bearer


def test_keys_never_appear_in_captured_logs(
    secured: TestClient, keys: Keys, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    created = secured.post(
        "/api/keys", json={"name": "new", "scopes": ["read"]}, headers=bearer(keys.admin)
    )
    new_key = created.json()["key"]
    secured.get("/api/imports", headers=bearer(new_key))
    secured.get("/api/imports", headers={"X-API-Key": keys.write})
    secured.get("/api/imports", headers=bearer(keys.revoked))
    secured.get(f"/api/imports?api_key={keys.read}", headers=bearer(keys.read))
    secured.get(f"/no/{keys.read}")
    out = capsys.readouterr()
    logs = out.out + out.err
    assert "loadbay.access" in logs
    for secret in (new_key, keys.admin, keys.write, keys.revoked, keys.read):
        assert secret not in logs
        assert secret[10:30] not in logs
