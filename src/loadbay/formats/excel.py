"""XLSX: the zip checked against bombs from its central directory, then read by calamine.

Before anything is inflated the file must be a zip holding an Excel workbook, with at most
``MAX_ZIP_ENTRIES`` entries, a declared uncompressed total of at most
``MAX_ZIP_UNCOMPRESSED_BYTES`` and no entry over ``MAX_ZIP_RATIO`` uncompressed/compressed.
The declared sizes are what the inflater will produce (zipfile checks them while reading),
so these limits bound memory.

A sheet is read whole (calamine cannot stream), every cell as text: numbers as Excel shows
them without a format (an integer stored as a float has no ``.0``), text cells verbatim
(leading zeros kept), booleans ``true``/``false``, dates ``YYYY-MM-DD`` and date-times
``YYYY-MM-DDTHH:MM:SS[.fff]`` (a date-time at midnight is taken for a date: Excel stores
both alike). Empty cells are null; wholly empty rows are skipped and are not rows.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path

import fastexcel
import polars as pl

from loadbay.formats.columns import find_header, source_columns
from loadbay.formats.errors import UnreadableFile
from loadbay.formats.limits import (
    HEADER_SCAN_ROWS,
    MAX_BATCH_CELLS,
    MAX_ZIP_ENTRIES,
    MAX_ZIP_RATIO,
    MAX_ZIP_UNCOMPRESSED_BYTES,
    ZIP_RATIO_MIN_BYTES,
)
from loadbay.formats.model import Detected, SourceBatch

_DATE_TIME = r"^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}(?:\.\d+)?)$"


def detect(path: Path, *, sheet: str | None) -> Detected:
    check_zip(path)
    reader = _open(path)
    names = reader.sheet_names
    if sheet is None:
        if not names:
            raise UnreadableFile("xlsx", "no sheet in the workbook")
        sheet = names[0]
    elif sheet not in names:
        raise UnreadableFile("xlsx", "no such sheet", explanation=f"sheet {sheet!r} not in {names}")
    rows = _sheet(reader, sheet)
    head = rows.head(HEADER_SCAN_ROWS).rows()
    header_row = find_header(head)
    if header_row is None:
        raise UnreadableFile("xlsx", "empty sheet", explanation=f"sheet {sheet!r} has no header")
    return Detected(
        format="xlsx",
        sheet=sheet,
        header_row=header_row,
        columns=source_columns(head[header_row], format="xlsx"),
    )


def read(path: Path, detected: Detected, *, batch_rows: int) -> Iterator[SourceBatch]:
    assert detected.sheet is not None
    assert detected.header_row is not None
    check_zip(path)
    rows = _sheet(_open(path), detected.sheet).slice(detected.header_row + 1)
    width = len(detected.columns)
    rows = rows.select(rows.columns[:width])  # cells right of the header have no column
    rows.columns = detected.columns
    rows = rows.filter(pl.any_horizontal(pl.all().is_not_null()))
    size = max(1, min(batch_rows, MAX_BATCH_CELLS // max(width, 1)))
    for offset in range(0, rows.height, size):
        batch = rows.slice(offset, size)
        yield SourceBatch(
            values=batch,
            row_numbers=pl.int_range(
                offset + 1, offset + 1 + batch.height, dtype=pl.Int64, eager=True
            ),
        )


def check_zip(path: Path) -> None:
    """Refuse what is not an XLSX or would inflate beyond the limits, before inflating."""
    try:
        with zipfile.ZipFile(path) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise UnreadableFile("xlsx", "not a zip archive", explanation=str(exc)) from exc
    if len(entries) > MAX_ZIP_ENTRIES:
        raise UnreadableFile(
            "xlsx", "zip bomb", explanation=f"{len(entries)} entries, at most {MAX_ZIP_ENTRIES}"
        )
    total = sum(entry.file_size for entry in entries)
    if total > MAX_ZIP_UNCOMPRESSED_BYTES:
        raise UnreadableFile(
            "xlsx",
            "zip bomb",
            explanation=f"{total} bytes uncompressed, at most {MAX_ZIP_UNCOMPRESSED_BYTES}",
        )
    for entry in entries:
        if entry.file_size > ZIP_RATIO_MIN_BYTES and entry.file_size > MAX_ZIP_RATIO * max(
            entry.compress_size, 1
        ):
            raise UnreadableFile(
                "xlsx",
                "zip bomb",
                explanation=f"entry {entry.filename!r} inflates more than {MAX_ZIP_RATIO} times",
            )
    if not any(entry.filename == "xl/workbook.xml" for entry in entries):
        raise UnreadableFile("xlsx", "not an XLSX workbook", explanation="no xl/workbook.xml")


def _open(path: Path) -> fastexcel.ExcelReader:
    try:
        return fastexcel.read_excel(path)
    except fastexcel.FastExcelError as exc:
        raise UnreadableFile("xlsx", "corrupt workbook", explanation=str(exc)) from exc


def _sheet(reader: fastexcel.ExcelReader, sheet: str) -> pl.DataFrame:
    """The whole sheet, no header, every cell as text (dates in ISO form)."""
    try:
        frame = reader.load_sheet(sheet, header_row=None, dtypes="string").to_polars()
    except fastexcel.FastExcelError as exc:
        raise UnreadableFile("xlsx", "corrupt workbook", explanation=str(exc)) from exc
    return frame.select(
        pl.all()
        .str.replace(r"^(\d{4}-\d{2}-\d{2}) 00:00:00$", "$1")
        .str.replace(_DATE_TIME, "${1}T${2}")
    )
