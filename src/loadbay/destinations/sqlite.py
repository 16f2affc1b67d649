"""SQLite through the standard library driver: PRAGMA catalog, temp tables, BEGIN IMMEDIATE.

Storage forms (SQLite has no date, time or boolean storage class): booleans are 0/1 integers;
dates, datetimes and times are fixed-width ISO 8601 text (datetimes with ``+00:00``), which
sorts in time order; NaN, which SQLite would turn into NULL, is stored as the text ``NaN``.
Columns are declared with their logical type names (BOOLEAN, DATE, TIMESTAMP, TIME), whose
NUMERIC affinity keeps such text as text, so that an existing table can be checked against
the schema. SQLite stores -0.0 as 0.

A load stages rows in a temp table (its own transaction, which takes no lock on the main
database, so other writers carry on) and then moves them in one short BEGIN IMMEDIATE
transaction. An insert into an empty table (with ``bulk_load_empty``) instead goes straight
into it inside BEGIN IMMEDIATE, its unique indexes built after the rows: the database's
write lock is then held for the whole load. Other writers therefore wait for the lock as
long as a PostgreSQL writer waits for a table lock, not SQLite's usual few seconds
(``WRITE_WAIT_MS``); readers are never held up (WAL). The driver's implicit transactions are
switched off while we hold the connection, so that BEGIN and COMMIT are exactly ours.
"""

from __future__ import annotations

import math
import re
import sqlite3
import uuid
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import polars as pl

from loadbay.destinations.connection import RowWriter, TargetConnection
from loadbay.destinations.ddl import ColumnInfo, ColumnType, Quote, TableShape, TypeMap
from loadbay.destinations.frames import DATE_FORMAT, DATETIME_FORMAT, IMPORT_ID_COLUMN, TIME_FORMAT

_TEXT = frozenset({"text", "varchar", "char", "clob"})
_INTEGER = frozenset({"bigint", "integer", "int"})

SQLITE_TYPES = TypeMap(
    fields={
        "string": ColumnType("TEXT", _TEXT),
        "integer": ColumnType("BIGINT", _INTEGER),
        "number": ColumnType("REAL", frozenset({"real", "double", "double precision", "float"})),
        "boolean": ColumnType("BOOLEAN", frozenset({"boolean", "bool"})),
        "date": ColumnType("DATE", frozenset({"date"})),
        "datetime": ColumnType("TIMESTAMP", frozenset({"timestamp", "datetime"})),
        "time": ColumnType("TIME", frozenset({"time"})),
        "year": ColumnType("INTEGER", _INTEGER),
    },
    import_id=ColumnType("TEXT", frozenset({"text"})),
    row=ColumnType("BIGINT", _INTEGER),
    # Rows are stored in the order of such a key, and inserts in ascending order append:
    # no second B-tree to keep (1M rows: 2.9 s against 3.2 s).
    rowid_key="INTEGER",
)

NAN_TEXT = "NaN"
# SQLite ignores sizes in declared types: VARCHAR(20) holds any text.
_MODIFIERS = re.compile(r"\s*\(.*?\)")

# pragma_table_xinfo's "hidden" is non-zero for generated columns, which need no value.
_COLUMNS = 'SELECT name, type, "notnull", dflt_value IS NOT NULL OR hidden <> 0, pk '
_COLUMNS += "FROM pragma_table_xinfo(?)"
_UNIQUE_KEYS = """
    SELECT il.name, ii.name
    FROM pragma_index_list(?) AS il, pragma_index_info(il.name) AS ii
    WHERE il."unique" = 1 AND il.partial = 0
    ORDER BY il.name, ii.seqno
"""


# Unique indexes made by CREATE UNIQUE INDEX (SQLite cannot drop those of inline
# constraints), not partial.
_DROPPABLE_KEYS = """
    SELECT il.name, m.sql
    FROM pragma_index_list(?) AS il JOIN sqlite_master AS m ON m.name = il.name
    WHERE il."unique" = 1 AND il.origin = 'c' AND il.partial = 0 AND m.type = 'index'
    ORDER BY il.name
"""
# Another table's foreign key needs the parent's unique index at every statement.
_REFERENCED = """
    SELECT 1 FROM sqlite_master AS m, pragma_foreign_key_list(m.name) AS f
    WHERE m.type = 'table' AND f."table" = ? COLLATE NOCASE
    LIMIT 1
"""


# How long a write to the target waits for another's write lock: a bulk load into an empty
# table holds it for the whole load (a minute for ten million rows).
WRITE_WAIT_MS = 15 * 60 * 1000
# Page cache of a connection while the destination holds it: SQLite's default of 2 MB makes
# a load of a million rows re-read its pages while it builds indexes (6.3 s against 4.7 s
# with 16 MB, measured outside loadbay: inserts, two unique indexes, commit).
LOAD_CACHE_KIB = 16 * 1024


class SqliteConnection(TargetConnection):
    placeholder = "?"
    types = SQLITE_TYPES
    loads_empty_tables_directly = True
    separate_unique_indexes = True
    rebuilds_keys_in_move = True

    def __init__(self, driver: sqlite3.Connection, quote: Quote) -> None:
        super().__init__(quote)
        self._conn = driver
        self._isolation_level = driver.isolation_level
        driver.isolation_level = None
        (self._busy_timeout,) = driver.execute("PRAGMA busy_timeout").fetchone()
        (self._cache_size,) = driver.execute("PRAGMA cache_size").fetchone()
        driver.execute(f"PRAGMA busy_timeout = {WRITE_WAIT_MS}")
        driver.execute(f"PRAGMA cache_size = {-LOAD_CACHE_KIB}")

    def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._conn.execute(sql, params).fetchall()

    def run(self, sql: str, params: Sequence[Any] = ()) -> None:
        self._conn.execute(sql, params)

    def commit(self) -> None:
        self._conn.commit()

    def rollback(self) -> None:
        self._conn.rollback()

    def release(self) -> None:
        self._conn.rollback()
        for name in self.temp_tables:
            self.run(f"DROP TABLE IF EXISTS temp.{self.quote(name)}")
        self.temp_tables.clear()
        self._conn.isolation_level = self._isolation_level
        self.run(f"PRAGMA busy_timeout = {int(self._busy_timeout)}")
        self.run(f"PRAGMA cache_size = {int(self._cache_size)}")

    def describe(self, table: str) -> TableShape | None:
        rows = self.fetch(_COLUMNS, [table])
        if not rows:
            return None
        columns = {
            name: ColumnInfo(_MODIFIERS.sub("", type_name), bool(not_null), bool(has_default))
            for name, type_name, not_null, has_default, _ in rows
        }
        primary_key = [name for name, *_, position in sorted(rows, key=lambda r: r[4]) if position]
        keys: dict[str, list[str]] = {}
        expressions: set[str] = set()
        for index, column in self.fetch(_UNIQUE_KEYS, [table]):
            if column is None:  # An expression: such an index cannot serve as a key.
                expressions.add(index)
            keys.setdefault(index, []).append(column)
        unique = {frozenset(k) for index, k in keys.items() if index not in expressions}
        if primary_key:  # An INTEGER PRIMARY KEY is the rowid and has no index of its own.
            unique.add(frozenset(primary_key))
        return TableShape(columns, frozenset(unique))

    def begin_staging(self) -> None:
        self.run("BEGIN")

    def end_staging(self) -> None:
        self.commit()

    def begin_write(self, lock_key: int) -> None:
        # SQLite has one writer at a time; taking the write lock up front serialises us
        # with every other writer, whatever the key.
        self.run("BEGIN IMMEDIATE")

    def lock(self, lock_key: int) -> None:
        """Nothing to do: the write transaction excludes every other writer already."""

    @contextmanager
    def writer(self, table: str, import_id: uuid.UUID | None = None) -> Iterator[RowWriter]:
        schema = "main" if import_id is not None else "temp"
        yield _InsertWriter(self._conn, f"{schema}.{self.quote(table)}", self.quote, import_id)

    def suspend_keys(self, table: str, *, ascending: Collection[str] = ()) -> list[tuple[str, str]]:
        # In the write transaction: readers keep seeing the indexes until it commits. An
        # ascending key gains nothing from staying: SQLite's inline primary key (the rowid,
        # which cannot be dropped) already does.
        if self.fetch(_REFERENCED, [table]):
            return []
        keys = [(str(name), str(sql)) for name, sql in self.fetch(_DROPPABLE_KEYS, [table])]
        for name, _ in keys:
            self.run(f"DROP INDEX main.{self.quote(name)}")
        return keys

    def restore_keys(self, table: str, keys: list[tuple[str, str]]) -> None:
        for _, sql in keys:  # SQLite's own text of each CREATE UNIQUE INDEX
            self.run(sql)

    @contextmanager
    def guard(self) -> Iterator[None]:
        # A savepoint, as on PostgreSQL: a failed statement undoes only itself, but an
        # executemany is a statement per row and would leave the rows before the failure.
        self.run("SAVEPOINT loadbay_guard")
        try:
            yield
        except BaseException:
            self.run("ROLLBACK TO loadbay_guard")
            raise
        finally:
            self.run("RELEASE loadbay_guard")

    def is_unique_violation(self, error: BaseException) -> bool:
        return isinstance(error, sqlite3.IntegrityError) and error.sqlite_errorname in {
            "SQLITE_CONSTRAINT_PRIMARYKEY",
            "SQLITE_CONSTRAINT_UNIQUE",
        }

    def import_id_param(self, import_id: uuid.UUID) -> Any:
        return str(import_id)

    def temp_table_sql(self, quoted_name: str, columns_sql: str) -> str:
        return f"CREATE TEMP TABLE {quoted_name} ({columns_sql})"


class _InsertWriter(RowWriter):
    """``executemany`` of the rows' storage forms. Those are Python lists, made while holding
    the GIL: made ahead in the producer thread they would only queue (as 20 MB a batch)
    and slow down the writes (3.4 s against 3.1 s for a million rows), so ``write`` makes
    them."""

    def __init__(
        self,
        driver: sqlite3.Connection,
        qualified_table: str,
        quote: Quote,
        import_id: uuid.UUID | None,
    ) -> None:
        self._driver = driver
        self._table = qualified_table
        self._quote = quote
        self._import_id = import_id

    def encode(self, frame: pl.DataFrame) -> pl.DataFrame:
        return frame

    def write(self, encoded: pl.DataFrame) -> None:
        names = list(encoded.columns)
        marks = ["?"] * len(names)
        if self._import_id is not None:
            # One literal in the statement, not a million bound copies of it (~0.4 s per
            # million rows); a UUID's text is hex digits and dashes only.
            names.append(IMPORT_ID_COLUMN)
            marks.append(f"'{self._import_id}'")
        columns = ", ".join(map(self._quote, names))
        self._driver.executemany(
            f"INSERT INTO {self._table} ({columns}) VALUES ({', '.join(marks)})",
            zip(*storage_columns(encoded), strict=True),
        )


def storage_columns(frame: pl.DataFrame) -> list[list[Any]]:
    """``frame``'s columns as lists of the values SQLite stores (see the module docstring)."""
    encoded = frame.select(_storage_expression(name, dtype) for name, dtype in frame.schema.items())
    columns = [series.to_list() for series in encoded.iter_columns()]
    for index, dtype in enumerate(frame.schema.values()):
        if dtype == pl.Float64 and frame.to_series(index).is_nan().any():
            columns[index] = [
                NAN_TEXT if v is not None and math.isnan(v) else v for v in columns[index]
            ]
    return columns


def _storage_expression(name: str, dtype: pl.DataType) -> pl.Expr:
    column = pl.col(name)
    if dtype == pl.Boolean:
        return column.cast(pl.Int8)
    if dtype == pl.Date:
        return column.dt.strftime(DATE_FORMAT)
    if dtype == pl.Datetime:
        return column.dt.strftime(DATETIME_FORMAT)
    if dtype == pl.Time:
        return column.dt.strftime(TIME_FORMAT)
    return column
