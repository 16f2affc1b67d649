"""The metadata store: migrations match the models, WAL on SQLite, UTC timestamps, reads
on the event loop."""

from __future__ import annotations

import datetime as dt
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from loadbay.context import AppContext
from loadbay.db import (
    MIGRATIONS_DIR,
    Base,
    LoopReads,
    UTCDateTime,
    create_engine,
    migrate,
    normalise_url,
)
from loadbay.models import load_all


def test_migrations_match_the_models(context: AppContext) -> None:
    load_all()
    with context.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_migrate_twice_is_a_no_op(context: AppContext) -> None:
    context.start()
    script = ScriptDirectory(str(MIGRATIONS_DIR))
    with context.engine.connect() as conn:
        current = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all()
    assert current == [script.get_current_head()]


# What each worker of ``uvicorn --workers N`` does at start: wait for the others, migrate.
_MIGRATE_AT_ONCE = """
import sys, time
from loadbay.db import create_engine, migrate
start = float(sys.argv[2])
time.sleep(max(0.0, start - time.time()))
migrate(create_engine("sqlite:///" + sys.argv[1]))
"""


def test_processes_migrating_a_new_sqlite_store_at_once_all_succeed(tmp_path: Path) -> None:

    for attempt in range(2):
        database = tmp_path / f"store-{attempt}.sqlite"
        start = str(time.time() + 1.5)  # after every interpreter has imported loadbay
        workers = [
            subprocess.Popen(
                [sys.executable, "-c", _MIGRATE_AT_ONCE, str(database), start],
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(4)
        ]
        failures = [w.communicate(timeout=60)[1] for w in workers if w.wait(timeout=60) != 0]
        assert failures == [], failures[0][-2000:]
        engine = create_engine(f"sqlite:///{database}")
        migrate(engine)  # at the head already: nothing to do
        with engine.connect() as conn:
            versions = conn.execute(sa.text("SELECT version_num FROM alembic_version")).all()
        engine.dispose()
        assert [v[0] for v in versions] == [ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()]


def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'x.sqlite'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    engine.dispose()


def test_utc_datetimes_round_trip(context: AppContext) -> None:
    table = sa.Table("t_utc", sa.MetaData(), sa.Column("at", UTCDateTime()))
    table.create(context.engine)
    moment = dt.datetime(2024, 2, 29, 23, 30, tzinfo=dt.timezone(dt.timedelta(hours=-5)))
    with context.engine.begin() as conn:
        conn.execute(table.insert().values(at=moment))
        stored = conn.execute(sa.select(table.c.at)).scalar_one()
    assert stored == moment
    assert stored.tzinfo == dt.UTC
    with (
        pytest.raises(sa.exc.StatementError, match="naive datetime"),
        context.engine.begin() as conn,
    ):
        conn.execute(table.insert().values(at=dt.datetime(2024, 1, 1)))


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgres://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
        ("sqlite:///x.db", "sqlite:///x.db"),
    ],
)
def test_urls_are_normalised_to_psycopg3(given: str, expected: str) -> None:
    assert normalise_url(given) == expected


# Reads on the event loop (LoopReads): SQLite only, never waiting.


def _sqlite_store(tmp_path: Path) -> sa.Engine:
    engine = create_engine(f"sqlite:///{tmp_path / 'store.sqlite'}")
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE t (x INTEGER)")
        connection.exec_driver_sql("INSERT INTO t VALUES (1)")
    return engine


def _values(connection: sa.Connection) -> list[int]:
    return list(connection.exec_driver_sql("SELECT x FROM t ORDER BY x").scalars())


def test_a_loop_read_sees_every_commit_made_before_it(tmp_path: Path) -> None:
    engine = _sqlite_store(tmp_path)
    reads = LoopReads(engine)
    assert reads.run(_values) == [1]
    with engine.begin() as connection:  # another connection, as a job's would be
        connection.exec_driver_sql("INSERT INTO t VALUES (2)")
    assert reads.run(_values) == [1, 2]  # no snapshot held over from the first read
    reads.close()
    engine.dispose()


def test_a_loop_read_does_not_wait_for_a_busy_store(tmp_path: Path) -> None:
    engine = _sqlite_store(tmp_path)
    engine.dispose()  # no other connection open: the one below can take the file for itself
    holder = sqlite3.connect(tmp_path / "store.sqlite", isolation_level=None)
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("INSERT INTO t VALUES (2)")
    holder.execute("COMMIT")  # the exclusive lock is kept until the connection closes
    reads = LoopReads(engine)
    started = time.perf_counter()
    assert reads.run(_values) is None  # the caller reads from a thread instead
    assert time.perf_counter() - started < 1.0  # the store's own busy timeout is 10 s
    holder.close()
    assert reads.run(_values) == [1, 2]
    reads.close()
    engine.dispose()


def test_a_loop_read_in_use_is_not_shared(tmp_path: Path) -> None:
    # A second event loop in the process (two test clients at once) must not share it.
    engine = _sqlite_store(tmp_path)
    reads = LoopReads(engine)
    assert reads.run(lambda connection: (_values(connection), reads.run(_values))) == ([1], None)
    reads.close()
    engine.dispose()


def test_a_failing_loop_read_raises(tmp_path: Path) -> None:
    engine = _sqlite_store(tmp_path)
    reads = LoopReads(engine)
    with pytest.raises(sa.exc.OperationalError, match="no such table"):
        reads.run(lambda connection: connection.exec_driver_sql("SELECT * FROM missing").all())
    assert reads.run(_values) == [1]  # and the connection is still good
    reads.close()
    engine.dispose()


@pytest.mark.postgres
def test_postgresql_is_never_read_on_the_loop(postgres_url: str) -> None:
    engine = create_engine(postgres_url)
    connects: list[object] = []
    sa.event.listen(engine, "connect", lambda *args: connects.append(args))
    reads = LoopReads(engine)
    assert reads.run(lambda connection: connection.exec_driver_sql("SELECT 1").scalar()) is None
    assert connects == []  # a network round trip must not hold the loop
    reads.close()
    engine.dispose()
