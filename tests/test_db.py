"""The metadata store: migrations match the models, WAL on SQLite, UTC timestamps."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from loadbay.context import AppContext
from loadbay.db import MIGRATIONS_DIR, Base, UTCDateTime, create_engine, migrate, normalise_url
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
    import time

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
