"""What sniffing finds (``Detected``) and what readers yield (``SourceBatch``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import polars as pl

from loadbay.validation.errors import CellError

Format = Literal["csv", "xlsx", "json", "ndjson", "parquet"]
Compression = Literal["gzip"]


@dataclass(frozen=True)
class Detected:
    """How to read a file, found from its content (never its name).

    ``format`` ``"csv"`` covers TSV and every other delimiter (see ``delimiter``).
    ``encoding`` is a Python codec name for text formats; ``bom`` says the content starts
    with a byte order mark, skipped when reading. ``header_row`` is the 0-based index of the
    header among the file's records (CSV) or sheet rows (XLSX): leading title and blank rows
    are skipped. ``columns`` are the source column names: stripped, a blank name becomes
    ``column_<n>`` (1-based position), a repeated one ``<name>_2``, ``<name>_3``…; JSON keys
    are kept verbatim (they are unique already).
    """

    format: Format
    compression: Compression | None = None
    encoding: str | None = None
    bom: bool = False
    delimiter: str | None = None
    quotechar: str | None = None
    header_row: int | None = None
    sheet: str | None = None
    columns: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SourceBatch:
    """Source rows as text, ready for ``validation.RawBatch`` once columns are mapped.

    ``values``: one ``pl.String`` column per ``Detected.columns`` entry, in that order.
    ``row_numbers``: 1-based data-row index (Int64): the header and skipped leading rows do
    not count, nor do blank lines; a CSV record spanning several lines is one row.
    ``kinds``: JSON kind codes (``validation.kinds``) for JSON sources' non-text columns.
    ``errors``: row-level problems found while reading (a ragged CSV row, a bad NDJSON line,
    a JSON item that is not an object), rule ``record``: pass them as ``pre_errors``.
    ``offset``: bytes of the stored file (compressed, for gzip) read so far, for progress;
    None when the reader cannot tell (XLSX and Parquet are read by libraries).
    """

    values: pl.DataFrame
    row_numbers: pl.Series
    kinds: pl.DataFrame | None = None
    errors: tuple[CellError, ...] = ()
    offset: int | None = None
