"""Fixtures of the source tests: the app with loopback allow-listed and short retry waits, the
local test API, and helpers to start a source import and read what landed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from tests.imports.conftest import CUSTOMERS
from tests.imports.files_helpers import SETTLED, register_customers, wait_for
from tests.outbound import LocalServer
from tests.sources.api import TestApi

from loadbay.settings import Settings

# Short waits keep the retry tests fast; the bounds the tests assert are derived from these.
RETRY_BASE = 0.05
RETRY_MAX_WAIT = 0.3


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "outbound_allow": ["127.0.0.0/8"],
            "outbound_retry_base": RETRY_BASE,
            "outbound_retry_max_wait": RETRY_MAX_WAIT,
            "outbound_read_timeout": 5.0,
            "progress_interval": 0.05,
            "job_poll_interval": 0.1,
        }
    )


@pytest.fixture
def api() -> Iterator[TestApi]:
    with LocalServer() as server:
        yield TestApi(server)


@pytest.fixture
def customers(client: TestClient) -> dict[str, Any]:
    register_customers(client)
    return CUSTOMERS


def start(client: TestClient, source: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """POST a source import (auto-committed) and return the 202 answer's import."""
    body = {"source": source, "schema": "customers", "options": {"auto_commit": True}} | extra
    response = client.post("/api/imports", json=body)
    assert response.status_code == 202, response.text
    result: dict[str, Any] = response.json()
    return result


def run(client: TestClient, source: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """Start a source import and wait until no job works on it."""
    return wait_for(client, str(start(client, source, **extra)["id"]), SETTLED)


def loaded_ids(engine: sa.Engine) -> list[int]:
    with engine.connect() as conn:
        query = sa.text('SELECT "id" FROM "customers" ORDER BY 1')
        return [int(v) for v in conn.execute(query).scalars()]
