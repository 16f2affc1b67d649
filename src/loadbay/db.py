"""SQLAlchemy engines and sessions for the metadata store and the load target.

SQLite (WAL) is the embedded default; PostgreSQL (psycopg 3) is selected by URL. Alembic
migrations in ``loadbay/migrations`` are applied at start by ``migrate``.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

T = TypeVar("T")
MIGRATIONS_DIR = Path(__file__).parent / "migrations"


class Base(DeclarativeBase):
    pass


class UTCDateTime(sa.TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        assert isinstance(value, dt.datetime)
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def normalise_url(url: str) -> str:
    """Let users write ``postgresql://``; loadbay always talks psycopg 3."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers work while an import writes; NORMAL is durable at commit in WAL mode.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


# Room for every thread that may hold a connection at once (the 40 threads of the request
# thread pool, the job workers): a connection beyond the pool's size is closed when it is
# given back, and opening one again (with its pragmas) costs more than the read it serves.
SQLITE_POOL_SIZE = 48


def create_engine(url: str) -> Engine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        database = sa.make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(
            url,
            connect_args={"check_same_thread": False},
            pool_size=SQLITE_POOL_SIZE,
            max_overflow=SQLITE_POOL_SIZE,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return sa.create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)


class LoopReads:
    """Point reads made on the event loop itself, for a SQLite store.

    Handing a read to the thread pool costs a thread wake-up and two handovers of the GIL,
    several times what a primary-key lookup in SQLite costs (about 20 us), on the hottest
    reads (pages poll an import's status). So where the store is a SQLite file, such a read
    runs on the loop, on a connection of its own. It must never wait there: the connection
    has no busy timeout and sets nothing up (the file is in WAL mode already), and ``run``
    returns None (the caller then reads from a thread, which may wait) when SQLite is busy,
    when the connection is in use (a second loop in the process), or when the store is not
    SQLite: a PostgreSQL read is a network round trip, which must not hold the loop.
    """

    def __init__(self, engine: Engine) -> None:
        url = engine.url
        on_file = url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:")
        # AUTOCOMMIT: no transaction stays open between reads, so each sees the newest commit
        # and none holds back a WAL checkpoint.
        self.engine = (
            sa.create_engine(
                url,
                poolclass=sa.pool.StaticPool,
                connect_args={"check_same_thread": False, "timeout": 0},
                isolation_level="AUTOCOMMIT",
            )
            if on_file
            else None
        )
        self._connection: sa.Connection | None = None
        self._lock = threading.Lock()

    def run(self, read: Callable[[sa.Connection], T]) -> T | None:
        if self.engine is None or not self._lock.acquire(blocking=False):
            return None
        try:
            if self._connection is None:
                self._connection = self.engine.connect()
            return read(self._connection)
        except sa.exc.OperationalError as exc:
            # The extended codes (SQLITE_BUSY_RECOVERY, _SNAPSHOT…) keep SQLITE_BUSY's low byte.
            if getattr(exc.orig, "sqlite_errorcode", 0) & 0xFF != sqlite3.SQLITE_BUSY:
                raise
            return None
        finally:
            self._lock.release()

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None
            if self.engine is not None:
                self.engine.dispose()


@contextmanager
def _sqlite_migration_lock(engine: Engine) -> Iterator[None]:
    """Held across a migration of a SQLite store by every process of this machine (the only
    ones that can share the file): ``uvicorn --workers N`` starting on a new store would
    otherwise have them all create the same tables, and all but one fail."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        yield
        return
    with open(f"{database}.migrate-lock", "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file is closed
        yield


def migrate(engine: Engine) -> None:
    """Bring the metadata store to the newest migration."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with _sqlite_migration_lock(engine), engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Servers and workers starting together on an empty store would otherwise race
            # to create the same tables; the lock ends with this transaction.
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext('loadbay-migrate'))"))
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session whose work commits on success and rolls back on any exception."""
    with factory() as session, session.begin():
        yield session


def older_than(created_at: Any, item_id: Any, position: tuple[Any, Any]) -> sa.ColumnElement[bool]:
    """Rows after ``position`` in (created_at, id) descending order: keyset paging, so a page
    costs the same wherever it is (no OFFSET)."""
    at, last = position
    return sa.or_(created_at < at, sa.and_(created_at == at, item_id < last))
