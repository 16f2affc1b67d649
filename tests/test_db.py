"""The metadata store: migrations match the models, WAL on SQLite, UTC timestamps."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from loadbay.context import AppContext
from loadbay.db import MIGRATIONS_DIR, Base, UTCDateTime, create_engine, normalise_url
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
