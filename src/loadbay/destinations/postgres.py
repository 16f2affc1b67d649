"""PostgreSQL through psycopg 3: catalog queries, COPY into temp tables, advisory locks.

Staging and the move share one transaction: the staging table is created ``ON COMMIT DROP``,
so a rollback (an error, a cancelled iterator) leaves nothing behind.

SQLAlchemy's preparer doubles ``%`` inside quoted identifiers for psycopg's placeholder
parser, so every statement goes through psycopg with parameters (possibly none), never raw.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import polars as pl
import psycopg
import psycopg.errors

from loadbay.destinations.connection import RowWriter, TargetConnection
from loadbay.destinations.ddl import ColumnInfo, ColumnType, Quote, TableShape, TypeMap
from loadbay.destinations.errors import UnstorableValue
from loadbay.destinations.frames import (
    IMPORT_ID_COLUMN,
    ROW_COLUMN,
)
from loadbay.errors import ErrorDetail
from loadbay.schemas.errors import shown

POSTGRES_TYPES = TypeMap(
    fields={
        "string": ColumnType("TEXT", frozenset({"text", "character varying"})),
        "integer": ColumnType("BIGINT", frozenset({"bigint"})),
        "number": ColumnType("DOUBLE PRECISION", frozenset({"double precision"})),
        "boolean": ColumnType("BOOLEAN", frozenset({"boolean"})),
        "date": ColumnType("DATE", frozenset({"date"})),
        "datetime": ColumnType("TIMESTAMPTZ", frozenset({"timestamp with time zone"})),
        "time": ColumnType("TIME", frozenset({"time without time zone"})),
        "year": ColumnType("INTEGER", frozenset({"integer", "bigint"})),
    },
    import_id=ColumnType("UUID", frozenset({"uuid"})),
    row=ColumnType("BIGINT", frozenset({"bigint"})),
)

# The table an unqualified name means: the first schema on the search path holding it.
_RESOLVE = """
    SELECT c.oid
    FROM unnest(current_schemas(true)) WITH ORDINALITY AS s(name, position)
    JOIN pg_namespace n ON n.nspname = s.name
    JOIN pg_class c ON c.relnamespace = n.oid
    WHERE c.relname = %s AND c.relkind IN ('r', 'p')
    ORDER BY s.position
    LIMIT 1
"""

_COLUMNS = f"""
    WITH target AS ({_RESOLVE})
    SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
           a.atthasdef OR a.attidentity <> '' OR a.attgenerated <> ''
    FROM target JOIN pg_attribute a ON a.attrelid = target.oid
    WHERE a.attnum > 0 AND NOT a.attisdropped
    ORDER BY a.attnum
"""

# Unique indexes usable as ON CONFLICT arbiters: not partial, no expressions, not deferred.
_UNIQUE_KEYS = f"""
    WITH target AS ({_RESOLVE})
    SELECT i.indexrelid::bigint, a.attname
    FROM target
    JOIN pg_index i ON i.indrelid = target.oid
    CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, position)
    JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
    WHERE i.indisunique AND i.indimmediate AND i.indpred IS NULL AND i.indexprs IS NULL
      AND k.position <= i.indnkeyatts
    ORDER BY i.indexrelid, k.position
"""

_NUL = "\x00"
_SHOWN_ROWS = 10


_KEYS = """
SELECT c.conname, pg_get_constraintdef(c.oid), array_agg(a.attname::text ORDER BY a.attnum)
FROM pg_constraint AS c
JOIN pg_attribute AS a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)
WHERE c.conrelid = to_regclass(%s) AND c.contype IN ('p', 'u')
GROUP BY c.oid, c.conname
ORDER BY c.conname
"""
_REFERENCED = "SELECT 1 FROM pg_constraint WHERE confrelid = to_regclass(%s) LIMIT 1"
_HAS_DEFAULT = (
    "SELECT atthasdef FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attname = %s"
)


class PostgresConnection(TargetConnection):
    placeholder = "%s"
    loads_empty_tables_directly = True
    types = POSTGRES_TYPES

    def __init__(self, driver: psycopg.Connection[Any], quote: Quote) -> None:
        super().__init__(quote)
        self._conn = driver
        self._autocommit = driver.autocommit
        # Temp tables are ON COMMIT DROP: they need a transaction around the whole load.
        driver.autocommit = False

    def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._conn.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()

    def run(self, sql: str, params: Sequence[Any] = ()) -> None:
        with self._conn.cursor() as cursor:
            cursor.execute(sql, params)

    def commit(self) -> None:
        self._conn.commit()

    def rollback(self) -> None:
        self._conn.rollback()

    def release(self) -> None:
        self._conn.rollback()
        self._conn.autocommit = self._autocommit

    def describe(self, table: str) -> TableShape | None:
        rows = self.fetch(_COLUMNS, [table])
        if not rows:
            return None
        columns = {
            name: ColumnInfo(type_name, bool(not_null), bool(has_default))
            for name, type_name, not_null, has_default in rows
        }
        keys: dict[int, list[str]] = {}
        for index_id, column in self.fetch(_UNIQUE_KEYS, [table]):
            keys.setdefault(index_id, []).append(column)
        return TableShape(columns, frozenset(frozenset(k) for k in keys.values()))

    def begin_staging(self) -> None:
        # End the read-only transaction of earlier checks, so that the staging transaction
        # holds no lock on the target while batches stream in.
        self._conn.commit()

    def end_staging(self) -> None:
        """Nothing to do: staging and the move share one transaction."""

    def begin_write(self, lock_key: int) -> None:
        self.run("SELECT pg_advisory_xact_lock(%s)", [lock_key])

    def lock(self, lock_key: int) -> None:
        self.run("SELECT pg_advisory_xact_lock(%s)", [lock_key])

    @contextmanager
    def writer(self, table: str, import_id: uuid.UUID | None = None) -> Iterator[RowWriter]:
        types = {name: type_name for name, type_name, *_ in self.fetch(_COLUMNS, [table])}
        if import_id is None or self._has_default(table, IMPORT_ID_COLUMN):
            yield _CopyWriter(self._conn, self.quote, table, types, import_id)
            return
        # The import id as the column's default for the load, set and dropped again in its
        # transaction (the direct load holds the table locked): not 37 bytes more per row to
        # encode and for PostgreSQL to parse (~0.2 s each way per million rows). A column
        # with a default of its own (someone else's) gets the literal in every row instead.
        column = f"ALTER TABLE {self.quote(table)} ALTER COLUMN {self.quote(IMPORT_ID_COLUMN)}"
        self.run(f"{column} SET DEFAULT '{import_id}'::uuid")  # hex digits and dashes only
        yield _CopyWriter(self._conn, self.quote, table, types, None)
        # Not reached after an error: the rollback that must follow undoes the default.
        self.run(f"{column} DROP DEFAULT")

    def suspend_keys(self, table: str, *, ascending: Collection[str] = ()) -> list[tuple[str, str]]:
        # Maintaining unique indexes row by row costs more than the COPY itself; built once
        # after it, by sorting, they cost a fraction (PostgreSQL's "Populating a Database").
        # Not when another table's foreign key leans on one of them: then they stay. Nor a
        # key of ascending integers (ids in the order a database exported them): PostgreSQL
        # appends those to the rightmost leaf of the index, work done while the COPY waits
        # for our next batch, where a build afterwards would wait for nothing else (1M rows:
        # 2.45 s against 2.6 s).
        regclass = self._regclass(table)
        if self.fetch(_REFERENCED, [regclass]):
            return []
        keys = [
            (str(name), str(definition))
            for name, definition, columns in self.fetch(_KEYS, [regclass])
            if not (len(columns) == 1 and columns[0] in ascending)
        ]
        for name, _ in keys:
            self.run(f"ALTER TABLE {self.quote(table)} DROP CONSTRAINT {self.quote(name)}")
        return keys

    def restore_keys(self, table: str, keys: list[tuple[str, str]]) -> None:
        for name, definition in keys:
            # The definition is PostgreSQL's own text of the constraint (pg_get_constraintdef);
            # a % in a column name in it must reach psycopg doubled, like quote() does.
            self.run(
                f"ALTER TABLE {self.quote(table)} ADD CONSTRAINT {self.quote(name)} "
                + definition.replace("%", "%%")
            )

    def guard(self) -> AbstractContextManager[Any]:
        # Inside a transaction psycopg makes this a savepoint.
        return self._conn.transaction()

    def is_unique_violation(self, error: BaseException) -> bool:
        return isinstance(error, psycopg.errors.UniqueViolation)

    def import_id_param(self, import_id: uuid.UUID) -> Any:
        return import_id

    def temp_table_sql(self, quoted_name: str, columns_sql: str) -> str:
        return f"CREATE TEMP TABLE {quoted_name} ({columns_sql}) ON COMMIT DROP"

    def _regclass(self, table: str) -> str:
        """The quoted name as PostgreSQL reads it, for ``to_regclass``: quote() doubles % for
        psycopg's placeholders, which a parameter value does not go through."""
        return self.quote(table).replace("%%", "%")

    def _has_default(self, table: str, column: str) -> bool:
        return bool(self.fetch(_HAS_DEFAULT, [self._regclass(table), column])[0][0])


class _CopyWriter(RowWriter):
    """COPY in PostgreSQL's binary format (``pgbinary``), where PostgreSQL only checks and
    copies values instead of parsing text; each batch is encoded for the types of the
    table's columns (``TypeMap`` admits no column type the encoder does not know)."""

    def __init__(
        self,
        driver: psycopg.Connection[Any],
        quote: Quote,
        table: str,
        types: dict[str, str],
        import_id: uuid.UUID | None,
    ) -> None:
        self._driver = driver
        self._quote = quote
        self._table = table
        self._types = types
        self._import_id = import_id

    def encode(self, frame: pl.DataFrame) -> tuple[list[str], memoryview]:
        # Imported here, not at the top: the pyarrow it needs takes up to a second and 60 MB
        # to load, which a process whose target is SQLite never pays (``SqlDestination
        # .prepare`` loads it at start when the target is PostgreSQL).
        from loadbay.destinations import pgbinary

        if self._import_id is not None:
            frame = frame.with_columns(pl.lit(str(self._import_id)).alias(IMPORT_ID_COLUMN))
        encoders = [pgbinary.encoder_for(self._types[name]) for name in frame.columns]
        try:
            return frame.columns, pgbinary.encode(frame, encoders)
        except pgbinary.TextHoldsNul:
            _refuse_nul(frame)
            raise

    def write(self, encoded: tuple[list[str], memoryview]) -> None:
        from loadbay.destinations import pgbinary  # loaded by encode() already

        columns, data = encoded
        q = self._quote
        names = ", ".join(map(q, columns))
        # The format as a parameter: without any, psycopg would not read the %% of quoted
        # names as %.
        statement = f"COPY {q(self._table)} ({names}) FROM STDIN (FORMAT %s)"
        with self._driver.cursor() as cursor, cursor.copy(statement, ["binary"]) as copy:
            copy.write(pgbinary.HEADER)
            copy.write(data)
            copy.write(pgbinary.TRAILER)


def _refuse_nul(frame: pl.DataFrame) -> None:
    """PostgreSQL text cannot hold U+0000; say where it is instead of a bare encoding error."""
    strings = [name for name, dtype in frame.schema.items() if dtype == pl.String]
    if not strings:
        return
    hits = frame.select(
        ROW_COLUMN, *(pl.col(c).str.contains(_NUL, literal=True).fill_null(False) for c in strings)
    ).filter(pl.any_horizontal(strings))
    if hits.is_empty():
        return
    errors = [
        ErrorDetail(
            "PostgreSQL text cannot contain the NUL character (U+0000)",
            row=row[ROW_COLUMN],
            column=column,
            rule="storable",
        )
        for row in hits.head(_SHOWN_ROWS).iter_rows(named=True)
        for column in strings
        if row[column]
    ]
    raise UnstorableValue(
        f"{hits.height} row(s) hold text with a NUL character (U+0000), which PostgreSQL "
        f"cannot store; the first is row {errors[0].row}, column {shown(errors[0].column)}",
        errors,
    )
