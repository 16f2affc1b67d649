"""Parquet, read in batches by polars and turned to text.

Dates are ``YYYY-MM-DD``, datetimes ``YYYY-MM-DDTHH:MM:SS[.fff][+HH:MM]``, booleans
``true``/``false``, numbers as polars writes them (a float keeps its ``.0``: it was typed a
float), nested values (lists, structs) their JSON text. Nulls stay null.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import polars as pl

from loadbay.formats.errors import UnreadableFile
from loadbay.formats.limits import MAX_BATCH_CELLS, MAX_COLUMNS
from loadbay.formats.model import SourceBatch


def columns(path: Path) -> list[str]:
    try:
        names = list(pl.read_parquet_schema(path))
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise UnreadableFile("parquet", "corrupt Parquet file", explanation=str(exc)) from exc
    if len(names) > MAX_COLUMNS:
        raise UnreadableFile(
            "parquet",
            "too many columns",
            explanation=f"{len(names)} columns, at most {MAX_COLUMNS} are accepted",
        )
    return names


def read(path: Path, *, batch_rows: int) -> Iterator[SourceBatch]:
    frame = pl.scan_parquet(path)
    schema = frame.collect_schema()
    size = max(1, min(batch_rows, MAX_BATCH_CELLS // max(len(schema), 1)))
    texts = frame.select(_as_text(name, dtype) for name, dtype in schema.items())
    first_row = 1
    try:
        for batch in texts.collect_batches(chunk_size=size):
            yield SourceBatch(
                values=batch,
                row_numbers=pl.int_range(
                    first_row, first_row + batch.height, dtype=pl.Int64, eager=True
                ),
            )
            first_row += batch.height
    except pl.exceptions.PolarsError as exc:
        raise UnreadableFile(
            "parquet", "corrupt Parquet file", explanation=str(exc), row=first_row
        ) from exc


def _as_text(name: str, dtype: pl.DataType) -> pl.Expr:
    column = pl.col(name)
    if isinstance(dtype, pl.Datetime):
        zone = "%:z" if dtype.time_zone else ""
        return column.dt.to_string(f"%Y-%m-%dT%H:%M:%S%.f{zone}")
    if isinstance(dtype, pl.List | pl.Array | pl.Struct):
        # json_encode works on structs only: wrap the column and strip {"<name>": … }.
        wrapped = pl.struct(column).struct.json_encode()
        prefix = "{" + json.dumps(name, ensure_ascii=False) + ":"
        text = wrapped.str.strip_prefix(prefix).str.strip_suffix("}")
        return pl.when(column.is_null()).then(None).otherwise(text).alias(name)
    return column.cast(pl.String)
