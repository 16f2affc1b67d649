"""Shared fixtures: settings, app and client built from the factory, on SQLite and PostgreSQL.

PostgreSQL tests run in a schema of their own (``search_path``) inside the test database, so
parallel workers never see each other's tables. Outside CI a missing server skips them;
under ``CI=true`` it fails them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Generator, Iterator
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from loadbay.app import create_app
from loadbay.context import AppContext
from loadbay.db import create_engine
from loadbay.settings import Settings

POSTGRES_URL = os.environ.get(
    "LOADBAY_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("LOADBAY_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
# Whether a test's call phase failed, for fixtures that show more of a failure at teardown.
CALL_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.when == "call":
        item.stash[CALL_FAILED] = report.failed
    return report


def _postgres_available() -> str | None:
    try:
        with psycopg.connect(POSTGRES_URL, connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return str(exc)


@pytest.fixture(scope="session")
def postgres_url() -> str:
    problem = _postgres_available()
    if problem:
        message = f"PostgreSQL at {POSTGRES_URL} is not reachable: {problem}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return POSTGRES_URL


@pytest.fixture
def postgres_schema_url(postgres_url: str) -> Iterator[str]:
    """A URL whose connections see a fresh, private PostgreSQL schema."""
    schema = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in postgres_url else "?"
    yield f"{postgres_url}{sep}options=-csearch_path%3D{schema}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """The store URL for the current backend (metadata and target share it in tests)."""
    if backend == "postgres":
        return str(request.getfixturevalue("postgres_schema_url"))
    return f"sqlite:///{tmp_path / 'loadbay.sqlite'}"


@pytest.fixture
def target_url(backend: str, tmp_path: Path, database_url: str) -> str:
    if backend == "postgres":
        return database_url
    return f"sqlite:///{tmp_path / 'data.sqlite'}"


@pytest.fixture
def settings(tmp_path: Path, database_url: str, target_url: str) -> Settings:
    return Settings(
        data_dir=tmp_path / "var",
        database_url=database_url,
        target_database_url=target_url,
    )


@pytest.fixture
def context(settings: Settings) -> Iterator[AppContext]:
    ctx = AppContext.build(settings)
    ctx.start()
    yield ctx
    ctx.close()


@pytest.fixture
def target_engine(target_url: str) -> Iterator[sa.Engine]:
    """An independent engine on the load target, for checking what landed."""
    engine = create_engine(target_url)
    yield engine
    engine.dispose()


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client
