"""CSV and TSV (any of ``, ; <tab> |``) read with Python's ``csv`` module, streamed.

Why the ``csv`` module rather than polars' CSV reader: it reads any decoded text stream (so
every encoding and gzip stream without a transcoded copy), accepts CR, LF and CRLF mixed in
one file, and reports exactly which record is ragged or where a quote is left open, which
polars cannot (it pads short rows silently and does not support bare CR line ends). Where a
file is UTF-8, ``read`` still lets polars parse it (``fastcsv``, ten times faster), checking
each block so that the batches are exactly these, and hands the rest back to ``read_exact``
where it cannot tell.

Semantics:
- every cell is text; an empty field is ``""`` (CSV has no null; the validator's
  ``missingValues`` treat ``""`` as missing), so leading zeros and spaces survive;
- blank lines are skipped and are not rows; a quoted field may span lines;
- quoting is strict (RFC 4180): an unterminated quote, or text after a closing quote, makes
  the file unreadable with its line;
- a ragged row (more or fewer fields than the header) is kept, padded with nulls or cut to
  the header's width, and reported as a ``record`` error naming its row, line and width;
- a field longer than ``MAX_FIELD_CHARS`` makes the file unreadable.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import IO, Any

import polars as pl

from loadbay.formats import fastcsv
from loadbay.formats.columns import find_header, source_columns
from loadbay.formats.errors import UnreadableFile
from loadbay.formats.limits import HEADER_SCAN_ROWS, MAX_BATCH_CELLS, MAX_FIELD_CHARS
from loadbay.formats.model import Detected, SourceBatch
from loadbay.formats.source import consumed, decode_error, open_text
from loadbay.validation.errors import CellError, preview

DELIMITERS = (",", ";", "\t", "|")
QUOTECHAR = '"'

# The limit is process-wide in the csv module; raising it only accepts longer fields.
csv.field_size_limit(max(csv.field_size_limit(), MAX_FIELD_CHARS))

_CsvReader = Any  # the csv module exposes no public reader type (``_csv.Reader``)


def detect(path: Path, sample: str, partial: Detected, *, complete: bool) -> Detected:
    """Delimiter and header row from the decoded head of the file, then the columns (read
    from the file itself, so a header longer than the sample is still whole)."""
    delimiter = max(DELIMITERS, key=lambda d: _score(sample, d, complete=complete))
    records = _sample_records(sample, delimiter, complete=complete)
    header_row = find_header(records[:HEADER_SCAN_ROWS])
    if header_row is None:
        raise UnreadableFile("csv", "empty file", explanation="no header row found")
    detected = replace(partial, delimiter=delimiter, quotechar=QUOTECHAR, header_row=header_row)
    with open_text(path, detected) as text:
        reader = _reader(text, detected)
        header = next(_records(reader, detected, skip=header_row), [])
    return replace(detected, columns=source_columns(header, format="csv"))


def read(path: Path, detected: Detected, *, batch_rows: int) -> Iterator[SourceBatch]:
    """The data rows after the header, ``batch_rows`` at a time (fewer for wide files).

    UTF-8 files go through polars (``fastcsv``), which yields exactly these batches ten times
    faster and hands the rest of the file back to ``read_exact`` where it cannot."""
    size = _batch_size(detected, batch_rows)
    if not fastcsv.eligible(detected):
        return read_exact(path, detected, batch_rows=batch_rows)

    def rest(start_row: int) -> Iterator[SourceBatch]:
        return read_exact(path, detected, batch_rows=batch_rows, start_row=start_row)

    return fastcsv.read(path, detected, size=size, fallback=rest)


def _batch_size(detected: Detected, batch_rows: int) -> int:
    return max(1, min(batch_rows, MAX_BATCH_CELLS // max(len(detected.columns), 1)))


def read_exact(
    path: Path, detected: Detected, *, batch_rows: int, start_row: int = 0
) -> Iterator[SourceBatch]:
    """``read`` with the ``csv`` module only; rows up to ``start_row`` are parsed (to find
    where the rest starts) but neither yielded nor reported."""
    columns = detected.columns
    width = len(columns)
    size = _batch_size(detected, batch_rows)
    schema = dict.fromkeys(columns, pl.String)
    assert detected.header_row is not None
    with open_text(path, detected) as text:
        reader = _reader(text, detected)
        rows: list[list[str | None]] = []
        errors: list[CellError] = []
        row = 0
        for record in _records(reader, detected, skip=detected.header_row + 1):
            if not record:
                continue
            row += 1
            if row <= start_row:
                continue
            if len(record) != width:
                errors.append(_ragged(record, row, reader.line_num, width, detected))
                rows.append([*record[:width], *([None] * (width - len(record)))])
            else:
                rows.append(record)  # type: ignore[arg-type]  # list[str] is a row of cells
            if len(rows) == size:
                yield _batch(rows, errors, schema, last_row=row, offset=consumed(text))
                rows, errors = [], []
        if rows:
            yield _batch(rows, errors, schema, last_row=row, offset=consumed(text))


def _reader(text: IO[str], detected: Detected) -> _CsvReader:
    assert detected.delimiter is not None
    assert detected.quotechar is not None
    return csv.reader(
        text,
        delimiter=detected.delimiter,
        quotechar=detected.quotechar,
        strict=True,
    )


def _records(reader: _CsvReader, detected: Detected, *, skip: int) -> Iterator[list[str]]:
    """Every record after the first ``skip``, with parse and decode failures made precise."""
    index = 0
    while True:
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise _parse_error(str(exc), reader.line_num) from exc
        except UnicodeDecodeError as exc:
            raise decode_error(detected, exc, line=reader.line_num + 1) from exc
        index += 1
        if index > skip:
            yield record


def _parse_error(message: str, line: int) -> UnreadableFile:
    if "unexpected end of data" in message:
        return UnreadableFile("csv", "unterminated quote", line=line)
    if "field larger than field limit" in message:
        return UnreadableFile(
            "csv",
            "field too long",
            explanation=f"longer than {MAX_FIELD_CHARS} characters",
            line=line,
        )
    if "NUL" in message:
        return UnreadableFile("csv", "binary content", explanation=message, line=line)
    return UnreadableFile("csv", "malformed quoting", explanation=message, line=line)


def _ragged(record: list[str], row: int, line: int, width: int, detected: Detected) -> CellError:
    assert detected.delimiter is not None
    return CellError(
        row,
        None,
        preview(detected.delimiter.join(record)),
        "record",
        f"row has {len(record)} fields, the header has {width} (line {line})",
    )


def _batch(
    rows: list[list[str | None]],
    errors: list[CellError],
    schema: dict[str, type[pl.String]],
    *,
    last_row: int,
    offset: int,
) -> SourceBatch:
    first = last_row - len(rows) + 1
    return SourceBatch(
        values=pl.DataFrame(rows, schema=schema, orient="row"),
        row_numbers=pl.int_range(first, last_row + 1, dtype=pl.Int64, eager=True),
        errors=tuple(errors),
        offset=offset,
    )


def _score(sample: str, delimiter: str, *, complete: bool) -> tuple[int, int]:
    """How many records share the most common width, then that width (0 if under 2)."""
    counts: dict[int, int] = {}
    for record in _sample_records(sample, delimiter, complete=complete):
        if len(record) > 1:
            counts[len(record)] = counts.get(len(record), 0) + 1
    if not counts:
        return (0, 0)
    width = max(counts, key=lambda w: (counts[w], w))
    return (counts[width], width)


def _sample_records(sample: str, delimiter: str, *, complete: bool) -> list[list[str]]:
    """The sample's records; the last is dropped when the sample was cut short."""
    reader = csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter, quotechar=QUOTECHAR)
    records: list[list[str]] = []
    try:
        records.extend(reader)
    except csv.Error:
        return records
    return records if complete or len(records) < 2 else records[:-1]
