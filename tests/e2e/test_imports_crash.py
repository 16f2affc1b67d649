"""kill -9 a real server while it commits a 200,000-row import, start it again.

Two ways to commit: the commit job of an import committed on request, and an auto-commit,
whose validate job loads the rows as it validates them. The local executor's jobs live in
the store: the restarted process finds the killed job once its lease (2 s here) lapses, runs
it again, and the import ends completed with every row exactly once, wherever the kill
landed (mostly while rows are staged, sometimes in the move into the table; the narrow
window between the table's commit and the import's is covered deterministically in
tests/jobs/test_local.py, for both jobs). The kill moments come from a seeded
random: the seed and the delays are printed and in every assertion message;
``LOADBAY_TEST_CRASH_SEED`` replays them. Also: a cancel during a running commit leaves the
table as it was.
"""

from __future__ import annotations

import os
import random
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import sqlalchemy as sa

from loadbay.db import create_engine
from loadbay.destinations.sql import SqlDestination
from loadbay.imports.files import COMMIT, VALIDATE
from loadbay.imports.models import ImportRecord
from loadbay.jobs.models import Job
from loadbay.schemas.model import TableSchema
from tests.e2e.conftest import ServerProcess, server_env
from tests.imports.conftest import CUSTOMERS, customer
from tests.imports.files_helpers import customers_csv

ROWS = 200_000
FINAL = {"completed", "failed", "cancelled"}
# The commit of ROWS rows takes about 2 s on the development machines: kills are spread over
# most of it (slower machines only move the moments earlier in the commit).
COMMIT_KILL_WINDOW = 1.8
# An auto-commit's validate job loads as it validates, which takes 1 s or more here.
VALIDATE_KILL_WINDOW = 0.6
# The bulk path (an empty PostgreSQL table) commits the same rows in about 0.5 s, and an
# auto-commit's one pass into it takes about as long.
BULK_KILL_WINDOW = 0.3


@pytest.fixture(scope="session")
def customers_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("crash") / "customers.csv"
    path.write_bytes(customers_csv(ROWS))
    return path


@dataclass(frozen=True, slots=True)
class Moments:
    """Where the kills land: a seeded random, the seed kept for the messages."""

    seed: int
    random: random.Random


@pytest.fixture
def moments() -> Moments:
    seed = int(os.environ.get("LOADBAY_TEST_CRASH_SEED") or random.randrange(2**32))
    print(f"crash seed {seed} (LOADBAY_TEST_CRASH_SEED={seed} replays it)")
    return Moments(seed, random.Random(seed))


@dataclass(frozen=True, slots=True)
class Stack:
    server: ServerProcess
    store: sa.Engine  # the metadata store, read directly while the server is dead
    target: sa.Engine
    backend: str


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """One server per backend for the whole module (a start costs seconds; each test loads its
    own table), with short job leases. Metadata store and target share the backend."""
    base = tmp_path_factory.mktemp(f"crash-{request.param}")
    schema = None
    if request.param == "postgres":
        postgres_url = str(request.getfixturevalue("postgres_url"))
        schema = f"t_{uuid.uuid4().hex[:16]}"
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
        sep = "&" if "?" in postgres_url else "?"
        store = target = f"{postgres_url}{sep}options=-csearch_path%3D{schema}"
    else:
        store, target = f"sqlite:///{base / 'loadbay.sqlite'}", f"sqlite:///{base / 'data.sqlite'}"
    env = server_env(
        base / "var",
        LOADBAY_DATABASE_URL=store,
        LOADBAY_TARGET_DATABASE_URL=target,
        LOADBAY_JOB_LEASE_SECONDS="2",
        LOADBAY_JOB_POLL_INTERVAL="0.3",
        # Frequent progress writes: a cancel is looked at with each one.
        LOADBAY_PROGRESS_INTERVAL="0.1",
    )
    server = ServerProcess(env, base / "server.log")
    store_engine, target_engine = create_engine(store), create_engine(target)
    try:
        server.start()
        yield Stack(server, store_engine, target_engine, request.param)
    finally:
        server.stop()
        store_engine.dispose()
        target_engine.dispose()
        if schema is not None:
            with psycopg.connect(postgres_url, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def log_tail(server: ServerProcess) -> str:
    return server.log.read_text(errors="replace")[-3000:]


def register(server: ServerProcess, name: str) -> TableSchema:
    document = CUSTOMERS | {"name": name}
    response = httpx.post(f"{server.base}/api/schemas", json=document, timeout=10)
    assert response.status_code == 201, response.text
    return TableSchema.model_validate(document)


def seed_row(server: ServerProcess, schema: str) -> None:
    """One row of another import in the table, so the next load stages (the table is not
    empty); its id and email are outside the file's."""
    response = httpx.post(
        f"{server.base}/api/imports",
        json={"schema": schema, "records": [customer(10 * ROWS)]},
        timeout=10,
    )
    assert response.status_code == 201, response.text


def upload(server: ServerProcess, path: Path) -> str:
    with path.open("rb") as content:
        response = httpx.post(
            f"{server.base}/api/uploads",
            files={"file": ("customers.csv", content, "text/csv")},
            timeout=60,
        )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def start_import(server: ServerProcess, upload_id: str, schema: str) -> str:
    """An auto-commit import: the validate job loads the rows as it validates them."""
    response = httpx.post(
        f"{server.base}/api/imports",
        json={"upload_id": upload_id, "schema": schema, "options": {"auto_commit": True}},
        timeout=10,
    )
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def start_commit(server: ServerProcess, upload_id: str, schema: str) -> str:
    """An import validated first, then committed on request: the commit job loads."""
    response = httpx.post(
        f"{server.base}/api/imports",
        json={"upload_id": upload_id, "schema": schema},
        timeout=10,
    )
    assert response.status_code == 202, response.text
    import_id = str(response.json()["id"])
    validated = wait_for(server, import_id, {"validated"} | FINAL)
    assert validated["state"] == "validated", validated
    response = httpx.post(f"{server.base}/api/imports/{import_id}/commit", json={}, timeout=10)
    assert response.status_code == 202, response.text
    return import_id


def view(server: ServerProcess, import_id: str) -> dict[str, Any]:
    response = httpx.get(f"{server.base}/api/imports/{import_id}", timeout=10)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def wait_for(
    server: ServerProcess, import_id: str, states: set[str], timeout: float = 60.0
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body = view(server, import_id)
        if body["state"] in states:
            return body
        if time.monotonic() > deadline:
            raise AssertionError(
                f"import {import_id} stayed {body['state']}: {body}\n{log_tail(server)}"
            )
        time.sleep(0.02)


def table_counts(engine: sa.Engine, table: str) -> tuple[int, int, int]:
    """(rows, distinct ids, distinct source rows) in ``table``."""
    with engine.connect() as conn:
        row = conn.execute(
            sa.text(
                f'SELECT count(*), count(DISTINCT id), count(DISTINCT "_loadbay_row") '
                f'FROM "{table}"'
            )
        ).one()
    return int(row[0]), int(row[1]), int(row[2])


def assert_loaded_once(
    server: ServerProcess,
    engine: sa.Engine,
    schema: TableSchema,
    import_id: str,
    note: str,
    *,
    seeded: int = 0,
) -> None:
    body = wait_for(server, import_id, FINAL)
    assert body["state"] == "completed", f"{note}: {body}\n{log_tail(server)}"
    counts = body["counts"]
    assert counts["rows_loaded"] == ROWS, f"{note}: {counts}"
    # Validation run again after a crash starts from nothing: counts are not added up twice.
    assert (counts["rows_total"], counts["rows_valid"], counts["rows_invalid"]) == (
        ROWS,
        ROWS,
        0,
    ), f"{note}: {counts}"
    # ``seeded`` rows of another import share row numbers with the file's, not ids.
    expected = (ROWS + seeded, ROWS + seeded, ROWS)
    assert table_counts(engine, schema.table_name) == expected, note
    of_import = SqlDestination(engine).count_rows(schema, import_id=uuid.UUID(import_id))
    assert of_import == ROWS, note


@dataclass(frozen=True, slots=True)
class Killed:
    """What a kill -9 left in the store: the import's state, its jobs' (state, attempts)."""

    state: str
    jobs: dict[str, tuple[str, int]]

    def retried(self, stack: Stack, import_id: str, kind: str) -> bool:
        """Whether the job of ``kind`` the dead server left unfinished ran once more and
        succeeded (the restarted server re-claimed it); True if it had finished."""
        before = self.jobs.get(kind)
        if before is None or before[0] == "succeeded":
            return True
        return jobs_of(stack, import_id).get(kind) == ("succeeded", before[1] + 1)


def jobs_of(stack: Stack, import_id: str) -> dict[str, tuple[str, int]]:
    with stack.store.connect() as conn:
        rows = conn.execute(
            sa.select(Job.kind, Job.state, Job.attempts).where(
                Job.subject_id == uuid.UUID(import_id)
            )
        ).all()
    return {row.kind: (str(row.state), int(row.attempts)) for row in rows}


def kill_and_restart(stack: Stack, import_id: str) -> Killed:
    """kill -9 now, note what it left (read from the store while no server runs: exactly what
    the restarted one finds), start again."""
    stack.server.kill()
    with stack.store.connect() as conn:
        state = conn.scalar(
            sa.select(ImportRecord.state).where(ImportRecord.id == uuid.UUID(import_id))
        )
    killed = Killed(str(state), jobs_of(stack, import_id))
    stack.server.start()
    return killed


def test_kill_9_during_commit_loads_every_row_exactly_once(
    stack: Stack, customers_file: Path, moments: Moments
) -> None:
    server, target_engine = stack.server, stack.target
    upload_id = upload(server, customers_file)
    seed = moments.seed
    rounds: list[str] = []
    for n in range(1, 4):
        # One table per round: the same rows again into one table would be duplicate keys.
        schema = register(server, f"crash_commit_{n}")
        # Rounds 1 and 3 load a table that has a row already (the staged path, a commit of
        # about 2 s); round 2 an empty one, which PostgreSQL fills directly in a fraction of
        # that (the bulk path), so its kills come sooner.
        bulk = n == 2
        if not bulk:
            seed_row(server, schema.name)
        import_id = start_commit(server, upload_id, schema.name)
        reached = wait_for(server, import_id, {"committing"} | FINAL)
        assert reached["state"] == "committing", f"seed {seed}: {reached}"
        window = BULK_KILL_WINDOW if bulk and stack.backend == "postgres" else COMMIT_KILL_WINDOW
        delay = moments.random.uniform(0, window)
        time.sleep(delay)
        killed = kill_and_restart(stack, import_id)
        rounds.append(
            f"round {n}: killed {delay:.3f} s into committing (left {killed.state}, "
            f"jobs {killed.jobs})"
        )
        note = f"seed {seed}; {'; '.join(rounds)}"
        print(note)
        assert_loaded_once(server, target_engine, schema, import_id, note, seeded=0 if bulk else 1)
        # The restarted server took over the job its dead predecessor held.
        assert killed.retried(stack, import_id, COMMIT), f"{note}: {jobs_of(stack, import_id)}"
    assert any("(left committing," in r for r in rounds), f"seed {seed}: no kill hit a commit"


@pytest.mark.parametrize("seeded", [False, True], ids=["empty-table", "table-with-rows"])
def test_kill_9_while_an_auto_commit_validates_and_loads(
    stack: Stack, customers_file: Path, moments: Moments, seeded: bool
) -> None:
    """An auto-commit loads as it validates: killed in that pass, the rows staged (or, into
    an empty table, written straight in) roll back and the job runs again."""
    server, target_engine = stack.server, stack.target
    seed = moments.seed
    schema = register(server, f"crash_validate_{'seeded' if seeded else 'empty'}")
    if seeded:
        seed_row(server, schema.name)
    import_id = start_import(server, upload(server, customers_file), schema.name)
    reached = wait_for(server, import_id, {"validating", "committing"} | FINAL)
    assert reached["state"] == "validating", f"seed {seed}: {reached}"
    bulk = not seeded and stack.backend == "postgres"
    delay = moments.random.uniform(0, BULK_KILL_WINDOW if bulk else VALIDATE_KILL_WINDOW)
    time.sleep(delay)
    killed = kill_and_restart(stack, import_id)
    note = f"seed {seed}: killed {delay:.3f} s into validating (left {killed})"
    print(note)
    # Mostly inside the pass; a late kill may land once the import is committing (before or
    # after the table's commit), which the same job finishes when it runs again.
    assert killed.state in {"validating", "committing"}, note
    assert_loaded_once(server, target_engine, schema, import_id, note, seeded=1 if seeded else 0)
    assert killed.retried(stack, import_id, VALIDATE), f"{note}: {jobs_of(stack, import_id)}"
    assert COMMIT not in jobs_of(stack, import_id), "the validate job loaded the rows itself"


def test_cancel_during_a_running_commit_leaves_the_table_unchanged(
    stack: Stack, customers_file: Path
) -> None:
    server, target_engine = stack.server, stack.target
    schema = register(server, "cancelled_commit")
    # Rows that were there before: a cancelled commit must leave exactly these.
    earlier = [customer(ROWS + i) for i in range(1, 6)]
    response = httpx.post(
        f"{server.base}/api/imports",
        json={"schema": schema.name, "records": earlier},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    before = table_counts(target_engine, schema.table_name)
    assert before == (5, 5, 5)
    import_id = start_commit(server, upload(server, customers_file), schema.name)
    wait_for(server, import_id, {"committing"} | FINAL)
    # Into the commit far enough that rows are being staged, well before it could end.
    deadline = time.monotonic() + 10
    while (body := view(server, import_id))["state"] == "committing" and not body["progress"]:
        assert time.monotonic() < deadline, body
        time.sleep(0.02)
    assert body["state"] == "committing", body
    cancelled = httpx.post(f"{server.base}/api/imports/{import_id}/cancel", timeout=10)
    assert cancelled.status_code == 202, cancelled.text
    assert cancelled.json()["cancel_requested"] is True
    done = wait_for(server, import_id, FINAL)
    assert done["state"] == "cancelled", f"{done}\n{log_tail(server)}"
    assert done["counts"]["rows_loaded"] == 0
    assert table_counts(target_engine, schema.table_name) == before
    of_import = SqlDestination(target_engine).count_rows(schema, import_id=uuid.UUID(import_id))
    assert of_import == 0
    # Nothing runs it again later: the job ended (normally) with the import.
    assert jobs_of(stack, import_id)[COMMIT] == ("succeeded", 1)
