"""``read_batches`` and ``sample``: one entry point whatever the detected format."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import polars as pl

from loadbay.formats import delimited, excel, jsonfile, parquet
from loadbay.formats.model import Detected, SourceBatch

# Rows a batch holds. A commit has up to three batches alive at once (one being validated,
# one waiting, one being written: ``loadbay.prefetch``), and each costs several times its
# text while validated; 50,000 rows kept the 1M-row benchmark's peak under 400 MB where
# 100,000 took it to 445 MB, at no measurable cost in speed.
DEFAULT_BATCH_ROWS = 50_000


def read_batches(
    path: Path, detected: Detected, *, batch_rows: int = DEFAULT_BATCH_ROWS
) -> Iterator[SourceBatch]:
    """The data rows of ``path`` as ``detected`` says, at most ``batch_rows`` per batch
    (fewer for wide files: a batch holds at most ``MAX_BATCH_CELLS`` cells)."""
    if batch_rows < 1:
        raise ValueError("batch_rows must be at least 1")
    match detected.format:
        case "csv":
            return delimited.read(path, detected, batch_rows=batch_rows)
        case "json" | "ndjson":
            return jsonfile.read(path, detected, batch_rows=batch_rows)
        case "parquet":
            return parquet.read(path, batch_rows=batch_rows)
        case "xlsx":
            return excel.read(path, detected, batch_rows=batch_rows)


def sample(path: Path, detected: Detected, *, rows: int = 50) -> SourceBatch:
    """The first ``rows`` data rows (all of them in one batch; empty when there are none)."""
    batches = read_batches(path, detected, batch_rows=rows)
    try:
        return next(batches)
    except StopIteration:
        return SourceBatch(
            values=pl.DataFrame(schema=dict.fromkeys(detected.columns, pl.String)),
            row_numbers=pl.Series("row", [], dtype=pl.Int64),
        )
    finally:
        batches.close()  # type: ignore[attr-defined]  # every reader is a generator
