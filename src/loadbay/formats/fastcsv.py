"""The fast path of the CSV reader: polars' native parser, with the exact reader's results.

``delimited.read_exact`` (Python's ``csv`` module) costs about 3 s per million rows in one
thread; polars parses the same bytes in a tenth of that. But polars is lenient where the exact
reader is strict (it pads short rows, reads blank lines as rows, accepts stray quotes, ends
lines on a bare CR inside a field), so it may only parse text that is known to mean the same
to both. That is established per block of whole lines, vectorised:

- the block must decode as the detected encoding (UTF-8 or ASCII) and hold no NUL and no CR
  outside a CRLF (bare CR is a line end to the exact reader, not to polars);
- every line must be blank (skipped, as ``csv`` skips it) or match one strict regex: exactly
  the header's width of fields, each either RFC 4180-quoted or unquoted without any quote
  character, then an optional CR. Such a line is one whole record to both parsers, with the
  same cells;
- a line that fails the regex is parsed alone by the ``csv`` module (strict). If it is a
  complete record (a ragged row, or a stray quote that ``csv`` reads literally), the block is
  handed to polars with that line rewritten in a canonical quoted form, padded or cut to the
  header's width, and the row is reported as the exact reader reports it; padded cells are
  then set to null. If it is not (an open quote: a field spanning lines, or malformed
  quoting), the fast path stops.

When the fast path stops, or polars disagrees with the count of lines (a safety net), the rest
of the file is read by the exact reader, starting at the first row not yet handed out: batches
are only ever yielded whole (``size`` rows), so the exact reader's batch boundaries line up and
every batch is the one the exact reader alone would have produced. Files with a field that
spans lines therefore read exactly, at the exact reader's speed, from their first such field.

Memory stays flat: one block of raw text (``MAX_BLOCK_BYTES``) and at most one batch of parsed
rows (plus the rest of the last block) are held at a time.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

import polars as pl

from loadbay.formats.limits import MAX_FIELD_CHARS
from loadbay.formats.model import Detected, SourceBatch
from loadbay.formats.source import bom_for
from loadbay.validation.errors import CellError, preview

# Codecs whose bytes polars reads as they are (it parses UTF-8 only).
ENCODINGS = frozenset({"utf-8", "ascii"})
# The first block is small, so that a sample of 50 rows reads kilobytes, not megabytes; each
# next block doubles, up to the cap, which bounds memory whatever the file. Measured per
# million rows: 16 MiB 2.3 s and +226 MB of RSS, 4 MiB 1.0-1.2 s and +130 MB, 2 MiB 1.0-1.3 s
# and +113 MB (the polars calls on smaller blocks stay in cache and free sooner).
FIRST_BLOCK_BYTES = 64 * 1024
MAX_BLOCK_BYTES = 2 * 1024 * 1024
# Delimiters as regex literals (``detect`` only ever finds these).
_REGEX_DELIMITERS = {",": ",", ";": ";", "\t": r"\t", "|": r"\|"}

_UTF8_BOM = b"\xef\xbb\xbf"

Fallback = Callable[[int], Iterator[SourceBatch]]


class _Stop(Exception):
    """This block needs the exact reader (from the first row not yet yielded)."""


def eligible(detected: Detected) -> bool:
    """Whether the fast path may try this file at all (the content decides the rest)."""
    return (
        detected.format == "csv"
        and detected.compression is None
        and detected.encoding in ENCODINGS
        and detected.delimiter in _REGEX_DELIMITERS
        and detected.quotechar == '"'
        and detected.header_row is not None
        and bool(detected.columns)
    )


def read(path: Path, detected: Detected, *, size: int, fallback: Fallback) -> Iterator[SourceBatch]:
    """The batches ``delimited.read_exact`` yields for this file, ``size`` rows each.

    ``fallback(start)`` must yield the exact reader's batches after data row ``start``."""
    assert eligible(detected)
    yielded = 0
    try:
        for batch in _read_fast(path, detected, size=size):
            yield batch
            yielded += batch.values.height
    except _Stop:
        yield from fallback(yielded)


def _read_fast(path: Path, detected: Detected, *, size: int) -> Iterator[SourceBatch]:
    assert detected.delimiter is not None
    assert detected.encoding is not None
    parser = _Parser(detected)
    pending = _Pending()
    with path.open("rb") as raw:
        start, line = _data_start(raw, detected)
        block_bytes = FIRST_BLOCK_BYTES
        carry = b""
        while True:
            chunk = raw.read(block_bytes)
            block_bytes = min(2 * block_bytes, MAX_BLOCK_BYTES)
            data = carry + chunk
            if not chunk:  # the end: the last line may lack its newline
                carry = b""
            else:
                cut = data.rfind(b"\n") + 1
                if cut == 0:  # one line longer than the block: read on
                    carry = data
                    continue
                data, carry = data[:cut], data[cut:]
            if data:
                frame, errors, lines = parser.parse(data, first_row=pending.next_row, line=line)
                line += lines
                start += len(data)
                pending.add(frame, errors, start=start - len(data), end=start)
                while pending.rows >= size:
                    yield pending.take(size)
            if not chunk:
                break
    if pending.rows:
        yield pending.take(pending.rows)


def _data_start(raw: BinaryIO, detected: Detected) -> tuple[int, int]:
    """Byte offset and line count after the header record, found with the ``csv`` module on
    the same lines as the exact reader (so title rows, blank lines and a quoted header that
    spans lines are skipped exactly as there)."""
    assert detected.encoding is not None
    assert detected.header_row is not None
    offset = len(bom_for(detected.encoding)) if detected.bom else 0
    raw.seek(offset)
    consumed = [offset, 0]

    def lines() -> Iterator[str]:
        while line := raw.readline():
            body = line[:-2] if line.endswith(b"\r\n") else line.removesuffix(b"\n")
            if b"\x00" in line or b"\r" in body:
                raise _Stop  # NUL, or a bare CR: the exact reader says what it is
            consumed[0] += len(line)
            consumed[1] += 1
            try:
                yield line.decode(detected.encoding or "utf-8")
            except UnicodeDecodeError:
                raise _Stop from None

    reader = csv.reader(lines(), delimiter=detected.delimiter or ",", quotechar='"', strict=True)
    try:
        for _ in range(detected.header_row + 1):
            next(reader)
    except (csv.Error, StopIteration):
        raise _Stop from None
    raw.seek(consumed[0])
    return consumed[0], consumed[1]


class _Parser:
    """One block of whole lines to a frame of String columns, rows as the exact reader has
    them, plus the ragged-row errors."""

    def __init__(self, detected: Detected) -> None:
        assert detected.delimiter is not None
        assert detected.encoding is not None
        self.columns = detected.columns
        self.width = len(self.columns)
        self.delimiter = detected.delimiter
        self.encoding = detected.encoding
        d = _REGEX_DELIMITERS[detected.delimiter]
        field = rf'(?:"(?:[^"]|"")*"|[^"{d}\r\n]*)'
        self.record = rf"^{field}(?:{d}{field}){{{self.width - 1}}}$"
        self.schema = dict.fromkeys(self.columns, pl.String)

    def parse(
        self, data: bytes, *, first_row: int, line: int
    ) -> tuple[pl.DataFrame, list[CellError], int]:
        """``data`` (whole lines), its first row numbered ``first_row``, its first line after
        line ``line``: the rows, their errors, and how many lines it held."""
        if b"\x00" in data or data.startswith(_UTF8_BOM):
            raise _Stop  # NUL is refused by the exact reader; a BOM would be dropped by polars
        if b"\r" in data and data.count(b"\r") != data.count(b"\r\n"):
            raise _Stop  # a bare CR ends a line for the exact reader only
        try:
            data.decode(self.encoding)
        except UnicodeDecodeError:
            raise _Stop from None
        # The physical lines, with the CR of a CRLF dropped (NUL is absent: no field splits).
        lines = _read(data, columns=["line"], separator="\x00", quote_char=None)["line"]
        count = lines.len()
        checks = pl.DataFrame({"line": lines}).select(
            blank=pl.col("line") == "",
            ok=pl.col("line").str.contains(self.record),
            long=pl.col("line").str.len_bytes() > MAX_FIELD_CHARS,
        )
        if checks["long"].any():
            raise _Stop  # the exact reader refuses such a field with its line
        blank, ok = checks["blank"], checks["ok"]
        odd = (~blank & ~ok).arg_true()
        errors: list[CellError] = []
        short: list[tuple[int, int]] = []  # (index among rows, fields present)
        if blank.any() or odd.len():
            rows_before = (~blank).cum_sum() - (~blank).cast(pl.UInt32)
            replaced: list[str] = []
            for index in odd.to_list():
                record = self._record(lines[index])
                row_index = int(rows_before[index])
                if len(record) != self.width:
                    errors.append(
                        CellError(
                            first_row + row_index,
                            None,
                            preview(self.delimiter.join(record)),
                            "record",
                            f"row has {len(record)} fields, the header has {self.width} "
                            f"(line {line + index + 1})",
                        )
                    )
                    if len(record) < self.width:
                        short.append((row_index, len(record)))
                replaced.append(self._canonical(record))
            if odd.len():
                lines = lines.scatter(odd, replaced)
            kept = lines.filter(~blank)
            if kept.is_empty():
                return pl.DataFrame(schema=self.schema), [], count
            data = (kept.str.join("\n").item() + "\n").encode()
            expected = kept.len()
        else:
            expected = count
        frame = _read(data, columns=self.columns, separator=self.delimiter, quote_char='"')
        if frame.height != expected or frame.width != self.width:
            raise _Stop  # never expected; the exact reader decides instead
        for row_index, present in short:
            frame = frame.with_columns(
                frame[name].scatter(row_index, None) for name in self.columns[present:]
            )
        return frame, errors, count

    def _record(self, line: str) -> list[str]:
        """One line that the regex declined, as the exact reader parses it, if it is a whole
        record; otherwise the fast path stops."""
        try:
            records = list(csv.reader([line], delimiter=self.delimiter, quotechar='"', strict=True))
        except csv.Error:
            raise _Stop from None
        if len(records) != 1:
            raise _Stop
        return records[0]

    def _canonical(self, record: list[str]) -> str:
        """The record padded or cut to the header's width, every field quoted: text polars
        reads as these cells (padding is set to null afterwards)."""
        cells = [*record[: self.width], *([""] * (self.width - len(record)))]
        return self.delimiter.join('"' + cell.replace('"', '""') + '"' for cell in cells)


def _read(
    data: bytes, *, columns: list[str], separator: str, quote_char: str | None
) -> pl.DataFrame:
    """``data`` as String columns, cells verbatim (empty stays empty), no header."""
    try:
        return pl.read_csv(
            data,
            has_header=False,
            new_columns=columns,
            schema=dict.fromkeys(columns, pl.String),
            separator=separator,
            quote_char=quote_char,
            infer_schema=False,
            empty_string_is_null=False,
            null_values=None,
            raise_if_empty=False,
        )
    except pl.exceptions.PolarsError:
        raise _Stop from None


class _Pending:
    """Parsed rows not yet handed out, so that every batch but the last has exactly ``size``
    rows whatever the blocks were."""

    def __init__(self) -> None:
        self.frames: list[pl.DataFrame] = []
        self.errors: list[CellError] = []
        # Per block: rows held up to its end, and its first and last byte offsets.
        self.offsets: list[tuple[int, int, int]] = []
        self.first_row = 1
        self.rows = 0

    @property
    def next_row(self) -> int:
        return self.first_row + self.rows

    def add(self, frame: pl.DataFrame, errors: list[CellError], *, start: int, end: int) -> None:
        if frame.height:
            self.frames.append(frame)
        self.errors.extend(errors)
        self.rows += frame.height
        self.offsets.append((self.rows, start, end))

    def take(self, size: int) -> SourceBatch:
        whole = pl.concat(self.frames, rechunk=False) if len(self.frames) > 1 else self.frames[0]
        batch, rest = whole.head(size), whole.slice(size)
        last = self.first_row + size - 1
        errors = tuple(e for e in self.errors if e.row <= last)
        self.errors = [e for e in self.errors if e.row > last]
        # Bytes surely read for this batch (progress, and "the sample read the whole file"):
        # the end of the block holding its last row if that row ends the block, else the
        # block's start, never a position past rows still to come.
        offset = next(s if rows > size else e for rows, s, e in self.offsets if rows >= size)
        self.offsets = [(rows - size, s, e) for rows, s, e in self.offsets if rows > size]
        self.frames = [rest] if rest.height else []
        self.first_row, self.rows = last + 1, self.rows - size
        return SourceBatch(
            values=batch.rechunk(),
            row_numbers=pl.int_range(last - size + 1, last + 1, dtype=pl.Int64, eager=True),
            errors=errors,
            offset=offset,
        )
