"""JSON (one array of objects) and NDJSON (one value per line), both streamed.

A JSON array is parsed one item at a time with ``json.JSONDecoder.raw_decode`` over a
sliding text buffer, so memory holds one batch of objects, not the document; one item may be
at most ``MAX_FIELD_CHARS`` characters. A syntax error in the array makes the file
unreadable (with its line): after it, item boundaries are unknowable. In NDJSON every line
stands alone, so a bad line is a row-level ``record`` error naming the line, and reading goes
on; blank lines are skipped and are not rows.

Source columns are the keys of the first ``SNIFF_RECORDS`` objects, in first-seen order,
verbatim. Keys that first appear later are not columns and their values are not read.
An item that is not an object is a ``record`` error; its row is kept, empty, so row numbers
and counts stay exact. Values become text plus JSON kind codes exactly as
``validation.records.batch_from_records`` makes them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from itertools import islice
from pathlib import Path
from typing import IO, Any

import polars as pl

from loadbay.formats.errors import UnreadableFile
from loadbay.formats.limits import MAX_BATCH_CELLS, MAX_COLUMNS, MAX_FIELD_CHARS, SNIFF_RECORDS
from loadbay.formats.model import Detected, SourceBatch
from loadbay.formats.source import consumed, decode_error, open_text
from loadbay.validation.errors import CellError, preview
from loadbay.validation.records import not_an_object, texts_and_kinds

_CHUNK_CHARS = 1 << 20


@dataclass(frozen=True, slots=True)
class _BadLine:
    text: str
    message: str


def detect(path: Path, partial: Detected) -> Detected:
    keys: dict[str, None] = {}
    with open_text(path, partial) as text:
        for item in islice(_items(text, partial), SNIFF_RECORDS):
            if isinstance(item, dict):
                keys.update(dict.fromkeys(item))
    if len(keys) > MAX_COLUMNS:
        raise UnreadableFile(
            partial.format,
            "too many columns",
            explanation=f"{len(keys)} keys, at most {MAX_COLUMNS} are accepted",
        )
    return replace(partial, columns=list(keys))


def read(path: Path, detected: Detected, *, batch_rows: int) -> Iterator[SourceBatch]:
    size = max(1, min(batch_rows, MAX_BATCH_CELLS // max(len(detected.columns), 1)))
    first_row = 1
    with open_text(path, detected) as text:
        items = _items(text, detected)
        while chunk := list(islice(items, size)):
            yield replace(_batch(chunk, detected.columns, first_row), offset=consumed(text))
            first_row += len(chunk)


def _items(text: IO[str], detected: Detected) -> Iterator[object]:
    try:
        if detected.format == "json":
            yield from _array_items(text)
        else:
            yield from _lines(text)
    except UnicodeDecodeError as exc:
        raise decode_error(detected, exc) from exc


def _lines(text: IO[str]) -> Iterator[object]:
    """One decoded value (or ``_BadLine``) per non-blank line."""
    number = 0
    while line := text.readline(MAX_FIELD_CHARS + 1):
        number += 1
        if len(line) > MAX_FIELD_CHARS:
            raise UnreadableFile(
                "ndjson",
                "line too long",
                explanation=f"longer than {MAX_FIELD_CHARS} characters",
                line=number,
            )
        if not line.strip():
            continue
        content = line.rstrip("\r\n")
        try:
            value: object = json.loads(content)
        except json.JSONDecodeError as exc:
            value = _BadLine(
                content, f"line {number}: invalid JSON: {exc.msg} at column {exc.colno}"
            )
        yield value


class _Buffer:
    """A window on the text: ``text[pos:]`` is what is not consumed yet."""

    def __init__(self, source: IO[str]) -> None:
        self.source = source
        self.text = ""
        self.pos = 0
        self.lines_before = 0  # newlines in text already dropped from the window
        self.eof = False

    def fill(self, chars: int = _CHUNK_CHARS) -> None:
        if self.pos > _CHUNK_CHARS:
            self.lines_before += self.text.count("\n", 0, self.pos)
            self.text, self.pos = self.text[self.pos :], 0
        more = self.source.read(max(chars, _CHUNK_CHARS))
        self.eof = not more
        self.text += more

    def peek(self) -> str:
        """The next non-whitespace character (consumed whitespace), "" at the end."""
        while True:
            while self.pos < len(self.text) and self.text[self.pos] in " \t\r\n":
                self.pos += 1
            if self.pos < len(self.text) or self.eof:
                return self.text[self.pos : self.pos + 1]
            self.fill()

    def line(self, at: int | None = None) -> int:
        return self.lines_before + self.text.count("\n", 0, self.pos if at is None else at) + 1

    def error(
        self, reason: str, explanation: str | None = None, at: int | None = None
    ) -> Exception:
        return UnreadableFile("json", reason, explanation=explanation, line=self.line(at))


def _array_items(source: IO[str]) -> Iterator[object]:
    buffer = _Buffer(source)
    decoder = json.JSONDecoder()
    if buffer.peek() != "[":
        raise buffer.error("not an array of objects", "the document must start with [")
    buffer.pos += 1
    first = True
    while True:
        char = buffer.peek()
        if char == "":
            raise buffer.error("truncated JSON", "the array is not closed")
        if char == "]":
            buffer.pos += 1
            if buffer.peek() != "":
                raise buffer.error("invalid JSON", "text after the array")
            return
        if not first:
            if char != ",":
                raise buffer.error("invalid JSON", "expected , or ] between items")
            buffer.pos += 1
            buffer.peek()
        yield _decode_item(buffer, decoder)
        first = False


def _decode_item(buffer: _Buffer, decoder: json.JSONDecoder) -> object:
    """The item at the window's start, reading on while it is (or may be) cut short."""
    while True:
        try:
            value, end = decoder.raw_decode(buffer.text, buffer.pos)
        except json.JSONDecodeError as exc:
            if buffer.eof:
                raise buffer.error("invalid JSON", exc.msg, at=exc.pos) from exc
            value, end = None, -1
        # A number at the window's edge ("12" read as "1") may go on: read on to be sure.
        if end != -1 and (end < len(buffer.text) or buffer.eof):
            buffer.pos = end
            return value
        pending = len(buffer.text) - buffer.pos
        if pending > MAX_FIELD_CHARS:
            raise buffer.error("item too long", f"longer than {MAX_FIELD_CHARS} characters")
        buffer.fill(pending)  # doubling the window keeps long items linear


def _batch(items: list[object], columns: list[str], first_row: int) -> SourceBatch:
    rows: list[dict[str, Any]] = []
    errors: list[CellError] = []
    for row, item in enumerate(items, start=first_row):
        if isinstance(item, dict):
            rows.append(item)
            continue
        rows.append({})
        if isinstance(item, _BadLine):
            errors.append(CellError(row, None, preview(item.text), "record", item.message))
        else:
            errors.append(not_an_object(row, item))
    values, kinds = texts_and_kinds(rows, columns)
    return SourceBatch(
        values=values,
        row_numbers=pl.int_range(first_row, first_row + len(rows), dtype=pl.Int64, eager=True),
        kinds=kinds,
        errors=tuple(errors),
    )
