"""``loadbay keys create | list | revoke`` and the bind check of ``loadbay serve``."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from loadbay.app import create_app
from loadbay.cli import app
from loadbay.settings import Settings
from tests.security.conftest import bearer


@pytest.fixture
def runner(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("LOADBAY_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("LOADBAY_DATABASE_URL", str(settings.database_url))
    return CliRunner()


def test_create_list_revoke(runner: CliRunner, secured_settings: Settings) -> None:
    created = runner.invoke(app, ["keys", "create", "--name", "ci", "--scopes", "read,write"])
    assert created.exit_code == 0, created.output
    secret = created.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"lbk_[A-Za-z0-9_-]{43}", secret)
    key_id = re.search(r"created key ([0-9a-f-]{36})", created.stderr)
    assert key_id is not None

    listed = runner.invoke(app, ["keys", "list"])
    assert listed.exit_code == 0
    (line,) = [line for line in listed.stdout.splitlines() if key_id[1] in line]
    assert secret[:10] in line
    assert "read,write" in line
    assert "live" in line
    assert secret not in listed.output

    with TestClient(create_app(secured_settings)) as client:
        assert client.post("/api/schemas", json={}, headers=bearer(secret)).status_code == 422
        assert client.get("/api/keys", headers=bearer(secret)).status_code == 403
        revoked = runner.invoke(app, ["keys", "revoke", key_id[1]])
        assert revoked.exit_code == 0, revoked.output
        assert client.get("/api/imports", headers=bearer(secret)).status_code == 401
    assert "revoked" in runner.invoke(app, ["keys", "list"]).stdout


def test_bad_scopes_and_unknown_ids_fail(runner: CliRunner) -> None:
    bad = runner.invoke(app, ["keys", "create", "--name", "x", "--scopes", "read,root"])
    assert bad.exit_code == 2
    assert "read, write and admin" in bad.output
    unknown = runner.invoke(app, ["keys", "revoke", "00000000-0000-0000-0000-000000000000"])
    assert unknown.exit_code == 1
    assert "no API key with id" in unknown.output


def test_serve_refuses_a_public_address_without_auth(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOADBAY_AUTH", raising=False)
    result = CliRunner().invoke(app, ["serve", "--host", "0.0.0.0"])
    assert result.exit_code == 2
    assert "refusing to listen on 0.0.0.0" in result.output
    assert "LOADBAY_AUTH=required" in result.output
