"""Building typed batches by hand and reading back what reached the target, on both backends."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import polars as pl
import sqlalchemy as sa

from loadbay.destinations.frames import POLARS_DTYPES
from loadbay.schemas.model import TableSchema

HOSTILE_TABLE = 'x"; DROP TABLE y; --'
HOSTILE_FIELDS = [
    'say "hi"',
    "it's",
    ";--",
    "two  spaces ",
    "DROP TABLE x",
    "café 🎉",
    "50% off",
    ":param",
    "?",
    "%s",
]


def make_schema(fields: list[dict[str, Any]], **extra: Any) -> TableSchema:
    return TableSchema.model_validate({"name": "people", "fields": fields} | extra)


def batch(
    schema: TableSchema, rows: Sequence[dict[str, Any]], *, first_row: int = 1
) -> pl.DataFrame:
    """A typed batch as the validator produces it; missing values are null."""
    columns: dict[str, pl.Series] = {
        f.name: pl.Series(f.name, [r.get(f.name) for r in rows], dtype=POLARS_DTYPES[f.type])
        for f in schema.fields
    }
    rows_numbers = list(range(first_row, first_row + len(rows)))
    columns["_loadbay_row"] = pl.Series("_loadbay_row", rows_numbers, dtype=pl.Int64)
    return pl.DataFrame(columns)


def query(engine: sa.Engine, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Run ``sql`` on the raw driver (with parameters, so psycopg undoes the preparer's ``%%``)."""
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute(sql, params)
        rows = [tuple(r) for r in cursor.fetchall()] if cursor.description else []
        raw.commit()
        return rows
    finally:
        raw.close()


def quote(engine: sa.Engine, name: str) -> str:
    return engine.dialect.identifier_preparer.quote_identifier(name)


def read(engine: sa.Engine, table: str, columns: Sequence[str]) -> list[tuple[Any, ...]]:
    """Stored values of ``columns``, in source row order."""
    selected = ", ".join(quote(engine, c) for c in columns)
    return query(
        engine,
        f"SELECT {selected} FROM {quote(engine, table)} ORDER BY {quote(engine, '_loadbay_row')}",
    )


def temp_tables(engine: sa.Engine) -> list[str]:
    """Temp tables on the pooled connection the destination used (the pool's only one)."""
    if engine.dialect.name == "sqlite":
        return [r[0] for r in query(engine, "SELECT name FROM temp.sqlite_master")]
    return [
        r[0]
        for r in query(
            engine, "SELECT relname FROM pg_class WHERE relnamespace = pg_my_temp_schema()"
        )
    ]


def never_read() -> Iterator[pl.DataFrame]:
    raise AssertionError("the batches must not be read")
    yield pl.DataFrame()  # pragma: no cover - makes this a generator


def columns(engine: sa.Engine, table: str) -> list[tuple[str, str, bool]]:
    """(name, type, NOT NULL) of each column, from the database's own catalog."""
    if engine.dialect.name == "sqlite":
        rows = query(engine, 'SELECT name, type, "notnull" FROM pragma_table_info(?)', [table])
    else:
        rows = query(
            engine,
            "SELECT column_name, data_type, is_nullable = 'NO' FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = %s ORDER BY ordinal_position",
            [table],
        )
    return [(name, type_name, bool(not_null)) for name, type_name, not_null in rows]
