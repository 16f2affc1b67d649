"""One real `loadbay serve` process (tests/e2e's ServerProcess) shared by the client tests.

Each test registers the customers schema under a name of its own, so that imports of one
test never meet the rows (or remembered mappings) of another.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from loadbay.client import Client
from tests.e2e.conftest import ServerProcess, server_env
from tests.imports.conftest import CUSTOMERS


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("client-server")
    env = server_env(
        root / "var",
        LOADBAY_DATABASE_URL=f"sqlite:///{root / 'loadbay.sqlite'}",
        # Tests poll and upload in small chunks far faster than a person would.
        LOADBAY_RATE_LIMIT_DEFAULT="100000/minute",
        LOADBAY_PROGRESS_INTERVAL="0.1",
        LOADBAY_EVENTS_POLL_INTERVAL="0.05",
    )
    process = ServerProcess(env, root / "server.log")
    process.start()
    yield process
    process.stop()


@pytest.fixture
def api(server: ServerProcess) -> Iterator[Client]:
    with Client(server.base, timeout=30.0) as client:
        yield client


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Upload checkpoints go under tmp_path, never into the user's real cache."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "loadbay" / "uploads"


def customers_schema(**changes: Any) -> dict[str, Any]:
    """CUSTOMERS under a fresh name (its own table), with ``changes`` applied."""
    return CUSTOMERS | {"name": f"customers_{uuid.uuid4().hex[:10]}"} | changes


@pytest.fixture
def schema_name(api: Client) -> str:
    return api.schemas.create(customers_schema()).name
