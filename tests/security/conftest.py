"""A server in ``LOADBAY_AUTH=required`` mode and one key per scope (plus a revoked one)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from loadbay.app import create_app
from loadbay.context import AppContext
from loadbay.db import transaction
from loadbay.security import service
from loadbay.security.keys import Scope
from loadbay.settings import Settings


@dataclass(frozen=True)
class Keys:
    read: str
    write: str
    admin: str
    revoked: str


def make_keys(context: AppContext) -> Keys:
    with transaction(context.sessions) as session:
        made = {
            name: service.create_key(session, name=name, scopes=[Scope(scope)])
            for name, scope in (
                ("read", "read"),
                ("write", "write"),
                ("admin", "admin"),
                ("revoked", "admin"),
            )
        }
        service.revoke_key(session, key_id=made["revoked"][0].id)
    return Keys(**{name: secret for name, (_, secret) in made.items()})


@pytest.fixture
def secured_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"auth": "required"})


@pytest.fixture
def secured(secured_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(secured_settings), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def keys(secured: TestClient) -> Keys:
    return make_keys(secured.app.state.context)  # type: ignore[attr-defined]


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
