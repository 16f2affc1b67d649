"""The shape of the typed batches a destination accepts, and SQLite's text forms of temporal
values.

The validation engine produces one polars dtype per Table Schema type; a batch that does not
match is a programming error upstream, so it is refused with ``ValueError`` before anything
reaches the database.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

import polars as pl

from loadbay.schemas.model import FieldType, SchemaField

ROW_COLUMN = "_loadbay_row"
IMPORT_ID_COLUMN = "_loadbay_import_id"

POLARS_DTYPES: Mapping[FieldType, pl.DataType] = {
    "string": pl.String(),
    "integer": pl.Int64(),
    "number": pl.Float64(),
    "boolean": pl.Boolean(),
    "date": pl.Date(),
    "datetime": pl.Datetime("us", "UTC"),
    "time": pl.Time(),
    "year": pl.Int32(),
}

# Fixed-width ISO 8601 text, so that values SQLite stores as text sort in time order (the
# PostgreSQL destination sends binary forms). Datetimes are UTC, so "%:z" is always "+00:00".
DATE_FORMAT = "%Y-%m-%d"
DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%S%.6f%:z"
TIME_FORMAT = "%H:%M:%S%.6f"


def conform(
    frame: pl.DataFrame, fields: Sequence[SchemaField], *, required: Collection[str] = ()
) -> pl.DataFrame:
    """``frame``'s columns for ``fields`` then ``_loadbay_row``, in that order, dtypes checked;
    ``required`` columns must hold no null."""
    expected = {f.name: POLARS_DTYPES[f.type] for f in fields} | {ROW_COLUMN: pl.Int64()}
    missing = [name for name in expected if name not in frame.schema]
    if missing:
        raise ValueError(f"batch lacks column(s) {missing}; it has {frame.columns}")
    wrong = [
        f"{name!r} is {frame.schema[name]}, expected {dtype}"
        for name, dtype in expected.items()
        if frame.schema[name] != dtype
    ]
    if wrong:
        raise ValueError("batch has wrong dtypes: " + "; ".join(wrong))
    nulls = [name for name in [*required, ROW_COLUMN] if frame[name].has_nulls()]
    if nulls:
        raise ValueError(f"batch has nulls in required column(s) {nulls}")
    return frame.select(list(expected))
