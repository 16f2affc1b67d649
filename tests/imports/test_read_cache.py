"""The cache of GET /api/imports/{id}: same body, one light query on a hit, never stale."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from starlette.concurrency import run_in_threadpool

from loadbay.app import create_app
from loadbay.context import AppContext
from loadbay.db import transaction
from loadbay.imports import router
from loadbay.imports.cache import ImportVersion, ImportViewCache, SharedViews, views_of
from loadbay.imports.models import ImportError_, ImportRecord
from loadbay.imports.schemas import ImportOut
from loadbay.imports.service import transition
from loadbay.imports.states import ImportState
from loadbay.settings import Settings
from tests.imports.conftest import CUSTOMERS, customer

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def completed_import(client: TestClient, number: int = 1) -> dict[str, Any]:
    record = customer(number)
    response = client.post("/api/imports", json={"schema": "customers", "records": [record]})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def statements_during(context: AppContext) -> list[str]:
    """A list that collects every SQL statement the metadata store runs from now on, on the
    loop (``context.loop_reads``) or in a thread."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    for engine in (context.engine, context.loop_reads.engine):
        if engine is not None:
            sa.event.listen(engine, "before_cursor_execute", record)
    return seen


@pytest.fixture
def second_client(settings: Settings) -> Iterator[TestClient]:
    """Another app instance (as another API process would be) on the same database."""
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client


# The LRU itself.


def test_a_view_is_served_only_for_the_version_it_was_built_from() -> None:
    cache = ImportViewCache(max_entries=2)
    import_id = uuid.uuid4()
    built = ImportVersion(T0, "validating")
    cache.put(import_id, built, b"{}")
    assert cache.get(import_id, built) == b"{}"
    assert cache.get(import_id, ImportVersion(T0, "completed")) is None
    # A mismatch drops the entry: that version will never be current again.
    assert cache.get(import_id, built) is None
    assert len(cache) == 0


def test_the_least_recently_used_view_is_evicted() -> None:
    cache = ImportViewCache(max_entries=2)
    first, second, third = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    version = ImportVersion(T0, "completed")
    cache.put(first, version, b"1")
    cache.put(second, version, b"2")
    assert cache.get(first, version) == b"1"  # now the most recently used
    cache.put(third, version, b"3")
    assert len(cache) == 2
    assert cache.get(second, version) is None
    assert cache.get(first, version) == b"1"
    assert cache.get(third, version) == b"3"


def test_a_cache_needs_room() -> None:
    with pytest.raises(ValueError, match="at least one entry"):
        ImportViewCache(max_entries=0)


# Through the API, on both backends.


def test_a_cached_read_returns_the_same_body_with_one_light_query(
    client: TestClient, customers: Any
) -> None:
    created = completed_import(client)
    first = client.get(created["links"]["self"])
    assert first.status_code == 200
    assert first.headers["content-type"] == "application/json"
    assert first.json() == created
    ImportOut.model_validate(first.json())  # conforms to the documented response model

    context: AppContext = client.app.state.context  # type: ignore[attr-defined]
    statements = statements_during(context)
    second = client.get(created["links"]["self"])
    assert second.content == first.content
    assert len(statements) == 1
    assert "updated_at" in statements[0]
    assert "import_errors" not in statements[0]
    assert len(views_of(client.app)) == 1  # type: ignore[arg-type]


def test_a_cached_read_on_sqlite_stays_on_the_event_loop(
    client: TestClient, customers: Any, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    created, other = completed_import(client), completed_import(client, 2)
    url = created["links"]["self"]
    assert client.get(url).status_code == 200  # now cached
    hops: list[object] = []

    async def counted(function: Any, *args: Any) -> Any:
        hops.append(function)
        return await run_in_threadpool(function, *args)

    monkeypatch.setattr(router, "run_in_threadpool", counted)
    assert client.get(url).json() == created
    # SQLite is read on the loop (LoopReads); a PostgreSQL read is a round trip: a thread.
    assert len(hops) == (0 if backend == "sqlite" else 1)
    # A view not cached yet is built in a thread, on either store: one hop.
    hops.clear()
    assert client.get(other["links"]["self"]).json() == other
    assert len(hops) == 1


def test_a_cached_read_reflects_a_later_transition(
    client: TestClient, customers: Any, context: AppContext
) -> None:
    created = completed_import(client)
    url = created["links"]["self"]
    assert client.get(url).json()["state"] == "completed"  # now cached
    # A later write (as a revert would be) goes through the service's transition.
    with transaction(context.sessions) as session:
        transition(
            session,
            uuid.UUID(created["id"]),
            ImportState.COMPLETED,
            ImportState.REVERTED,
            rows_loaded=0,
        )
    after = client.get(url).json()
    assert after["state"] == "reverted"
    assert after["counts"]["rows_loaded"] == 0
    assert after["updated_at"] > created["updated_at"]


def test_errors_stored_with_a_transition_show_in_the_next_read(
    client: TestClient, customers: Any, context: AppContext
) -> None:
    created = completed_import(client)
    import_id = uuid.UUID(created["id"])
    assert client.get(created["links"]["self"]).json()["first_errors"] == []
    with transaction(context.sessions) as session:
        session.execute(
            sa.insert(ImportError_),
            [{"import_id": import_id, "row": 1, "rule": "load", "message": "gone"}],
        )
        transition(session, import_id, ImportState.COMPLETED, ImportState.FAILED, errors_stored=1)
    after = client.get(created["links"]["self"]).json()
    assert after["state"] == "failed"
    assert after["counts"]["errors_stored"] == 1
    assert after["first_errors"] == [
        {"row": 1, "column": None, "value": None, "rule": "load", "message": "gone"}
    ]


def test_two_app_instances_sharing_a_database_never_serve_stale_views(
    client: TestClient, second_client: TestClient, customers: Any, context: AppContext
) -> None:
    created = completed_import(client)
    url = created["links"]["self"]
    # Both instances cache the completed view.
    assert client.get(url).json() == second_client.get(url).json() == created

    # A direct UPDATE, as another process would make it, with a new updated_at.
    later = dt.datetime.fromisoformat(created["updated_at"]) + dt.timedelta(seconds=1)
    with context.engine.begin() as connection:
        connection.execute(
            sa.update(ImportRecord)
            .where(ImportRecord.id == uuid.UUID(created["id"]))
            .values(state=ImportState.CANCELLED, progress=0.25, updated_at=later)
        )
    for instance in (client, second_client):
        body = instance.get(url).json()
        assert (body["state"], body["progress"]) == ("cancelled", 0.25)
        assert dt.datetime.fromisoformat(body["updated_at"]) == later

    # And a write through the service, seen by both at once.
    with transaction(context.sessions) as session:
        transition(session, uuid.UUID(created["id"]), ImportState.CANCELLED, ImportState.FAILED)
    assert client.get(url).json()["state"] == second_client.get(url).json()["state"] == "failed"


def test_a_missing_import_is_not_served_from_the_cache(
    client: TestClient, customers: Any, context: AppContext
) -> None:
    created = completed_import(client)
    url = created["links"]["self"]
    assert client.get(url).status_code == 200  # cached
    with context.engine.begin() as connection:
        connection.execute(
            sa.delete(ImportRecord).where(ImportRecord.id == uuid.UUID(created["id"]))
        )
    response = client.get(url)
    assert response.status_code == 404
    assert response.json()["type"] == "/problems/import-not-found"
    assert response.json()["detail"] == f"no import with id {created['id']}"


# The shared (Redis) level.


@pytest.fixture
def redis_url() -> str:
    import redis as redis_lib

    from tests.conftest import IN_CI, REDIS_URL

    try:
        redis_lib.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis_lib.RedisError as exc:
        if IN_CI:
            pytest.fail(f"Redis at {REDIS_URL} is not reachable: {exc}")
        pytest.skip(f"Redis at {REDIS_URL} is not reachable: {exc}")
    return REDIS_URL


def test_a_view_built_by_one_process_serves_another_through_redis(
    settings: Settings, redis_url: str
) -> None:
    shared_settings = settings.model_copy(update={"redis_url": redis_url})
    with (
        TestClient(create_app(shared_settings)) as first,
        TestClient(create_app(shared_settings)) as second,
    ):
        assert first.post("/api/schemas", json=CUSTOMERS).status_code == 201
        body = completed_import(first)
        assert first.get(f"/api/imports/{body['id']}").json() == body
        # The second process has nothing of its own: the view comes from Redis, so only the
        # light version query reaches the database.
        seen = statements_during(second.app.state.context)  # type: ignore[attr-defined]
        assert second.get(f"/api/imports/{body['id']}").json() == body
        assert len(seen) == 1, seen
        assert len(views_of(second.app)) == 1  # type: ignore[arg-type]
        # A write anywhere changes the version: neither level serves the old view.
        import_id = uuid.UUID(body["id"])
        context: AppContext = first.app.state.context  # type: ignore[attr-defined]
        with transaction(context.sessions) as session:
            transition(
                session, import_id, ImportState.COMPLETED, ImportState.REVERTED, progress=0.5
            )
        assert second.get(f"/api/imports/{body['id']}").json()["state"] == "reverted"
        assert first.get(f"/api/imports/{body['id']}").json()["progress"] == 0.5


def test_an_unreachable_redis_only_costs_the_shared_level() -> None:
    cache = ImportViewCache(shared=SharedViews("redis://127.0.0.1:1/0"))
    import_id, version = uuid.uuid4(), ImportVersion(T0, "validated")
    cache.put(import_id, version, b"{}")  # no exception: Redis is an optimisation
    assert cache.get(import_id, version) == b"{}"  # this process's level still serves
    other = ImportViewCache(shared=SharedViews("redis://127.0.0.1:1/0"))
    assert other.get(import_id, version) is None
