"""Loading validated batches into the user's SQLite or PostgreSQL database.

A load is all-or-nothing: every batch is staged in a temp table first, then one write
transaction moves the rows into the target table (or, into an empty table, the rows go
straight in within that transaction). The same transaction records the load in the target
database's ledger (``_loadbay_loads``: import id, table, rows), under a lock on the import,
so no import's rows can ever arrive twice: a load that finds its import in the ledger (a
commit retried after a crash) loads nothing and answers the number of rows recorded, without
reading its batches. Each row also carries its import id and source row number
(``_loadbay_import_id``, ``_loadbay_row``). Tables made before the ledger have a UNIQUE
(import id, row) index instead, by which their loads are still recognised.
"""

from __future__ import annotations

import importlib
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, closing, contextmanager, suppress
from typing import Any, get_args

import polars as pl
from sqlalchemy.engine import Engine

from loadbay.destinations.connection import RowWriter, TargetConnection, lock_key
from loadbay.destinations.ddl import (
    LEDGER_TABLE,
    Quote,
    column_definition,
    create_table_sql,
    ledger_table_sql,
    needs_unique_index,
    plan_evolution,
    unique_index_name,
    unique_index_sql,
)
from loadbay.destinations.errors import LoadConflict, TableMismatch, UpsertRequiresPrimaryKey
from loadbay.destinations.frames import IMPORT_ID_COLUMN, ROW_COLUMN, conform
from loadbay.destinations.move import LoadMode, Move
from loadbay.destinations.postgres import PostgresConnection
from loadbay.destinations.sqlite import SqliteConnection
from loadbay.errors import ErrorDetail
from loadbay.prefetch import prefetch
from loadbay.schemas.model import SchemaField, TableSchema
from loadbay.schemas.names import fold_identifier, identifier_problems

__all__ = ["LoadMode", "SqlDestination"]

logger = logging.getLogger("loadbay.destinations")

# The key of every row in tables made before the ledger.
_ROW_KEY = frozenset([IMPORT_ID_COLUMN, ROW_COLUMN])

_CONNECTIONS: dict[str, Callable[[Any, Quote], TargetConnection]] = {
    "postgresql": PostgresConnection,
    "sqlite": SqliteConnection,
}


class SqlDestination:
    """The load target: one SQLAlchemy engine on SQLite or PostgreSQL (psycopg 3)."""

    def __init__(self, engine: Engine, *, bulk_load_empty: bool = True) -> None:
        """``bulk_load_empty``: an insert into an empty table goes straight in with its keys
        built after the rows (``_load_into_empty``); PostgreSQL locks the table for the load
        (its readers wait until it commits), SQLite holds the database's write lock."""
        if engine.dialect.name not in _CONNECTIONS:
            raise ValueError(f"unsupported target database {engine.dialect.name!r}")
        if engine.dialect.name == "postgresql" and engine.dialect.driver != "psycopg":
            raise ValueError("PostgreSQL targets need the psycopg (3) driver")
        self._engine = engine
        self._bulk_load_empty = bulk_load_empty

    @staticmethod
    def prepare(engine: Engine) -> None:
        """Load now, at start, what loads into ``engine``'s database need, rather than in the
        first load: for PostgreSQL the binary COPY encoder (pyarrow)."""
        if engine.dialect.name == "postgresql":
            importlib.import_module("loadbay.destinations.pgbinary")

    def ensure_table(self, schema: TableSchema) -> None:
        """Create the target table, or check an existing one and add new nullable columns.

        Raises ``TableMismatch`` when the table cannot take the schema's rows as it is.
        """
        _check_names(schema)
        with self._connect() as conn:
            _ensure_table(conn, schema)

    def existing_keys(
        self, schema: TableSchema, keys: pl.DataFrame, *, excluding: uuid.UUID | None = None
    ) -> pl.Series:
        """Which rows of ``keys`` (the primary-key columns, or one unique column) are in the
        table: a Boolean Series aligned with ``keys``. A key with a null part never is.
        Rows loaded by import ``excluding`` do not count (an import meets its own rows when
        it is read again after its commit).

        Raises ``TableMismatch`` when the table exists but cannot take the schema's rows."""
        _check_names(schema)
        fields = _key_fields(schema, keys.columns)
        exists = pl.repeat(False, keys.height, dtype=pl.Boolean, eager=True).alias("exists")
        if keys.is_empty():
            return exists
        with self._connect() as conn:
            shape = conn.describe(schema.table_name)
            if shape is None:
                return exists
            # Comparing keys with columns of another type would fail in the database.
            mismatches = plan_evolution(schema, shape, conn.types).mismatches
            if mismatches:
                raise TableMismatch(schema.table_name, mismatches)
            if any(f.name not in shape.columns for f in fields):
                return exists
            numbered = keys.with_row_index(ROW_COLUMN).with_columns(
                pl.col(ROW_COLUMN).cast(pl.Int64)
            )
            staged = conform(numbered, fields)
            q = conn.quote
            # An empty table (the first import into it, and every batch of that import's
            # commit, since its rows move in only at the end) holds no key: one cheap query
            # instead of staging the batch's keys in a temp table.
            if _is_empty(conn, schema):
                return exists
            conn.begin_staging()
            stage = conn.create_temp_table(fields)
            conn.copy_rows(stage, staged)
            conn.end_staging()
            match = " AND ".join(f"t.{q(f.name)} = s.{q(f.name)}" for f in fields)
            params: list[object] = []
            if excluding is not None and IMPORT_ID_COLUMN in shape.columns:
                match += f" AND t.{q(IMPORT_ID_COLUMN)} <> {conn.placeholder}"
                params.append(conn.import_id_param(excluding))
            found = conn.fetch(
                f"SELECT s.{q(ROW_COLUMN)} FROM {q(stage)} AS s WHERE EXISTS "
                f"(SELECT 1 FROM {q(schema.table_name)} AS t WHERE {match})",
                params,
            )
        if found:
            exists.scatter([row for (row,) in found], True)
        return exists

    def load(
        self,
        schema: TableSchema,
        batches: Iterable[pl.DataFrame],
        *,
        import_id: uuid.UUID,
        mode: LoadMode,
        before_commit: Callable[[], None] | None = None,
    ) -> int:
        """Load every row of ``batches`` into the schema's table, all or nothing; returns the
        number of rows loaded.

        ``insert`` adds rows and fails with ``LoadConflict`` on a key that exists already;
        ``upsert`` updates rows with the same primary key (every other column, and the import
        id and row number, which now point at this import) and adds the rest; ``replace``
        deletes every row of the table first. The table is created or evolved as by
        ``ensure_table`` first (that change stays even if the load then fails).

        If rows of ``import_id`` are in the table already, nothing is loaded and the number
        of those rows is returned; ``batches`` is then not read. Any exception, including one
        raised by ``batches`` or by ``before_commit``, leaves the table as it was.
        ``before_commit`` is called once every row is in and every key holds, just before
        the load commits (not when nothing is loaded).

        ``batches`` is iterated in a thread of its own, a batch ahead of the writes (see
        ``_encoded``), and that thread has ended when this returns or raises.
        """
        _check_names(schema)
        if mode not in get_args(LoadMode):
            raise ValueError(f"unknown load mode {mode!r}")
        if mode == "upsert" and not schema.primary_key:
            raise UpsertRequiresPrimaryKey(schema.name)
        started = time.perf_counter()
        with self._connect() as conn:
            keyed_by_row = _ensure_table(conn, schema)
            already = _loaded(conn, schema, import_id, keyed_by_row=keyed_by_row)
            if already:
                logger.info("import %s was loaded already (%d rows)", import_id, already)
                return already
            direct = self._bulk_load_empty and conn.loads_empty_tables_directly
            if mode == "insert" and direct and _is_empty(conn, schema):
                loaded = _load_into_empty(conn, schema, batches, import_id, before_commit)
                if loaded is not None:
                    logger.info(
                        "loaded %d rows into empty %r for import %s in %.2f s (direct)",
                        loaded,
                        schema.table_name,
                        import_id,
                        time.perf_counter() - started,
                    )
                    return loaded
            conn.begin_staging()
            stage = conn.create_temp_table(schema.fields)
            staged = 0
            with conn.writer(stage) as writer, _encoded(writer, schema, batches) as encoded:
                for rows, data in encoded:
                    writer.write(data)
                    staged += rows.height
            conn.end_staging()
            conn.begin_write(lock_key("import", str(import_id)))
            # Another attempt of the same import may have committed while we staged.
            already = _loaded(conn, schema, import_id, keyed_by_row=keyed_by_row)
            if already:
                logger.info("import %s was loaded concurrently (%d rows)", import_id, already)
                return already
            # Into an empty table, unique indexes built once after the rows cost a fraction
            # of keeping them up to date row by row (SQLite without bulk loads; otherwise
            # such a table is loaded directly, above).
            rebuild = conn.rebuilds_keys_in_move and mode == "insert" and _is_empty(conn, schema)
            keys = conn.suspend_keys(schema.table_name) if rebuild else []
            Move(conn, schema, stage).apply(mode, import_id)
            _restore_keys(conn, schema, keys)
            _record(conn, schema, import_id, staged)
            if before_commit is not None:
                before_commit()
            conn.commit()
        logger.info(
            "loaded %d rows into %r (%s) for import %s in %.2f s",
            staged,
            schema.table_name,
            mode,
            import_id,
            time.perf_counter() - started,
        )
        return staged

    def is_empty(self, schema: TableSchema) -> bool:
        """Whether the table has no row (or does not exist yet)."""
        _check_names(schema)
        with self._connect() as conn:
            return conn.describe(schema.table_name) is None or _is_empty(conn, schema)

    def count_rows(self, schema: TableSchema, *, import_id: uuid.UUID | None = None) -> int:
        """Rows in the table (of one import, if given); 0 when there is no table."""
        _check_names(schema)
        with self._connect() as conn:
            if conn.describe(schema.table_name) is None:
                return 0
            if import_id is not None:
                return _count(conn, schema, import_id)
            return conn.count(f"SELECT count(*) FROM {conn.quote(schema.table_name)}")

    @contextmanager
    def _connect(self) -> Iterator[TargetConnection]:
        fairy = self._engine.raw_connection()
        try:
            quote = self._engine.dialect.identifier_preparer.quote_identifier
            conn = _CONNECTIONS[self._engine.dialect.name](fairy.driver_connection, quote)
            try:
                yield conn
            except BaseException:
                # The error that got us here matters more than one from cleaning up after it.
                with suppress(Exception):
                    _release(conn, fairy)
                raise
            _release(conn, fairy)
        finally:
            fairy.close()


def _release(conn: TargetConnection, fairy: Any) -> None:
    try:
        conn.release()
    except Exception:
        # A connection that cannot even roll back must not go back to the pool.
        fairy.invalidate()
        raise


def _ensure_table(conn: TargetConnection, schema: TableSchema) -> bool:
    """Create or evolve the table; whether it is keyed by (import id, row) instead of the
    ledger (made before the ledger: see ``_loaded``)."""
    _ensure_ledger(conn)
    table = schema.table_name
    shape = conn.describe(table)
    keyed_by_row = shape is not None and _ROW_KEY in shape.unique_keys
    if shape is not None:
        evolution = plan_evolution(schema, shape, conn.types)
        if evolution.mismatches:
            raise TableMismatch(table, evolution.mismatches)
        if not evolution.added:
            return keyed_by_row
    conn.begin_write(lock_key("table", table))
    # Again under the lock: another process may have created or changed the table meanwhile.
    shape = conn.describe(table)
    if shape is None:
        inline = not conn.separate_unique_indexes
        conn.run(create_table_sql(conn.quote, conn.types, schema, inline_unique=inline))
        if not inline:
            for statement in unique_index_sql(conn.quote, schema):
                conn.run(statement)
    else:
        evolution = plan_evolution(schema, shape, conn.types)
        if evolution.mismatches:
            raise TableMismatch(table, evolution.mismatches)
        for field in evolution.added:
            _add_column(conn, schema, field)
    conn.commit()
    return keyed_by_row


def _ensure_ledger(conn: TargetConnection) -> None:
    if conn.describe(LEDGER_TABLE) is not None:
        return
    conn.begin_write(lock_key("table", LEDGER_TABLE))
    conn.run(ledger_table_sql(conn.quote, conn.types))  # IF NOT EXISTS: a racing creator
    conn.commit()


def _add_column(conn: TargetConnection, schema: TableSchema, field: SchemaField) -> None:
    q = conn.quote
    table = schema.table_name
    conn.run(f"ALTER TABLE {q(table)} ADD COLUMN {column_definition(q, conn.types, schema, field)}")
    if needs_unique_index(schema, field):
        # SQLite cannot add a column with UNIQUE, so the index comes separately everywhere.
        index = q(unique_index_name(table, field.name))
        conn.run(f"CREATE UNIQUE INDEX {index} ON {q(table)} ({q(field.name)})")


def _is_empty(conn: TargetConnection, schema: TableSchema) -> bool:
    return not conn.fetch(f"SELECT 1 FROM {conn.quote(schema.table_name)} LIMIT 1")


def _encoded(
    writer: RowWriter, schema: TableSchema, batches: Iterable[pl.DataFrame]
) -> AbstractContextManager[Iterator[tuple[pl.DataFrame, Any]]]:
    """Each batch encoded for ``writer``, with its key columns and row numbers (what a
    refused batch is reported by; the rest of it is not kept while it waits to be written),
    in a thread that runs a batch ahead of the writes (and, with them, the reading and
    validating that produce ``batches``): the database takes one batch while the next is
    made. Started only when iterated."""
    required = [name for name in schema.field_names if schema.is_required(name)]
    keys = [f.name for f in schema.fields if f.name in schema.primary_key or f.constraints.unique]

    def encode() -> Iterator[tuple[pl.DataFrame, Any]]:
        for batch in batches:
            rows = conform(batch, schema.fields, required=required)
            yield rows.select(*keys, ROW_COLUMN), writer.encode(rows)

    return closing(prefetch(encode()))


def _load_into_empty(
    conn: TargetConnection,
    schema: TableSchema,
    batches: Iterable[pl.DataFrame],
    import_id: uuid.UUID,
    before_commit: Callable[[], None] | None,
) -> int | None:
    """The bulk path for an insert into an empty table: rows go straight into it, in the
    write transaction (no staging copy, no second move), with the key constraints it can
    drop dropped and built again after the rows (which it may be, by the first batch: see
    ``suspend_keys``). Nothing is committed unless every row is in and every key holds; a
    repeated key is reported like the staged path reports it.

    Answers None, having read no batch, when the table is no longer empty once the locks
    are held (another import filled it meanwhile): the caller stages as usual.
    """
    table = schema.table_name
    conn.begin_write(lock_key("import", str(import_id)))
    conn.lock(lock_key("table", table))
    # A table keyed by (import id, row) that is empty holds no load of this import either.
    if _loaded(conn, schema, import_id, keyed_by_row=False) or not _is_empty(conn, schema):
        conn.rollback()
        return None
    keys: list[tuple[str, str]] = []
    loaded = 0
    try:
        with conn.writer(table, import_id) as writer, _encoded(writer, schema, batches) as encoded:
            for number, (rows, data) in enumerate(encoded):
                if number == 0:  # which keys may stay is judged by the first batch
                    keys = conn.suspend_keys(table, ascending=_ascending_integers(schema, rows))
                try:
                    with conn.guard():  # all of the batch or none of it
                        writer.write(data)
                except Exception as error:
                    # A key that stayed (SQLite's inline primary key, one another table's
                    # foreign key leans on) refused a row: validation finds repeats first, so
                    # a race or a bug; say which rows.
                    if not conn.is_unique_violation(error):
                        raise
                    repeats = _repeats_so_far(conn, schema, rows)
                    raise LoadConflict(table, repeats, cause=error) from error
                loaded += rows.height
        _restore_keys(conn, schema, keys)
        _record(conn, schema, import_id, loaded)
        if before_commit is not None:
            before_commit()
    except BaseException:
        conn.rollback()
        raise
    conn.commit()
    return loaded


def _ascending_integers(schema: TableSchema, keys: pl.DataFrame) -> list[str]:
    """The integer key columns in ascending order in ``keys`` (of a load's first batch)."""
    integers = [f.name for f in schema.fields if f.type in ("integer", "year")]
    return [c for c in integers if c in keys.columns and keys[c].is_sorted()]


def _repeats_so_far(
    conn: TargetConnection, schema: TableSchema, refused: pl.DataFrame
) -> list[ErrorDetail]:
    """The repeated keys among the rows a direct load into an empty table has read: those in
    the table (all this import's) and the batch the table refused (none of which went in;
    its key columns and row numbers)."""
    stage = conn.create_temp_table(schema.fields)
    conn.copy_rows(stage, refused)
    columns = ", ".join(map(conn.quote, [*schema.field_names, ROW_COLUMN]))
    conn.run(
        f"INSERT INTO {conn.quote(stage)} ({columns}) "
        f"SELECT {columns} FROM {conn.quote(schema.table_name)}"
    )
    return Move(conn, schema, stage).repeats()


def _restore_keys(conn: TargetConnection, schema: TableSchema, keys: list[tuple[str, str]]) -> None:
    """Build the keys ``suspend_keys`` dropped before rows went into the empty table; a
    repeated key is reported like the staged move reports one."""
    if not keys:
        return
    table = schema.table_name
    try:
        with conn.guard():
            conn.restore_keys(table, keys)
    except Exception as error:
        # Validation finds repeated keys before any load, so this is a race or a bug; still
        # say which rows, while they are in the (uncommitted) table.
        if not conn.is_unique_violation(error):
            raise
        raise LoadConflict(table, Move(conn, schema, table).repeats(), cause=error) from error


def _loaded(
    conn: TargetConnection, schema: TableSchema, import_id: uuid.UUID, *, keyed_by_row: bool
) -> int:
    """The rows the import's load committed, by the ledger; 0 when it has not committed. In
    a table made before the ledger (``keyed_by_row``) its UNIQUE (import id, row) index finds
    the import's rows."""
    q = conn.quote
    recorded = conn.fetch(
        f"SELECT row_count FROM {q(LEDGER_TABLE)} WHERE import_id = {conn.placeholder}",
        [conn.import_id_param(import_id)],
    )
    if recorded:
        return int(recorded[0][0])
    return _count(conn, schema, import_id) if keyed_by_row else 0


def _record(conn: TargetConnection, schema: TableSchema, import_id: uuid.UUID, rows: int) -> None:
    """Write the load into the ledger, in the load's write transaction: committed with its
    rows or not at all."""
    conn.run(
        f"INSERT INTO {conn.quote(LEDGER_TABLE)} (import_id, table_name, row_count) "
        f"VALUES ({conn.placeholder}, {conn.placeholder}, {conn.placeholder})",
        [conn.import_id_param(import_id), schema.table_name, rows],
    )


def _count(conn: TargetConnection, schema: TableSchema, import_id: uuid.UUID) -> int:
    return conn.count(
        f"SELECT count(*) FROM {conn.quote(schema.table_name)} "
        f"WHERE {conn.quote(IMPORT_ID_COLUMN)} = {conn.placeholder}",
        [conn.import_id_param(import_id)],
    )


def _key_fields(schema: TableSchema, columns: list[str]) -> list[SchemaField]:
    if columns and sorted(columns) == sorted(schema.primary_key):
        return [schema.field(name) for name in schema.primary_key]
    if len(columns) == 1 and columns[0] in schema.field_names:
        field = schema.field(columns[0])
        if field.constraints.unique:
            return [field]
    raise ValueError(
        f"keys must be the primary key columns {schema.primary_key} or one unique column "
        f"of schema {schema.name!r}; got {columns}"
    )


def _check_names(schema: TableSchema) -> None:
    """The schema parser guarantees these; a violation here is a bug, not user input."""
    problems = [
        f"{kind} {name!r} {problem}"
        for kind, name in [("table", schema.table_name)]
        + [("field", n) for n in schema.field_names]
        for problem in identifier_problems(name)
    ]
    folded = [fold_identifier(n) for n in schema.field_names]
    if len(set(folded)) != len(folded):
        problems.append(f"field names {schema.field_names} repeat (ignoring ASCII case)")
    if problems:
        raise ValueError("schema names unusable as SQL identifiers: " + "; ".join(problems))
