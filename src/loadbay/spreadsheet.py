"""CSV for spreadsheets: cells neutralised against formula injection (OWASP "CSV injection").

A cell that starts with ``= + - @``, a tab or a carriage return is prefixed with ``'`` so that
Excel, LibreOffice and Google Sheets show it as text instead of evaluating it.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from typing import Any

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(cell: str) -> str:
    return "'" + cell if cell.startswith(FORMULA_TRIGGERS) else cell


def csv_lines(header: list[str], rows: Iterable[Iterable[Any]]) -> Iterator[str]:
    """Yield CSV text, one record at a time, every cell neutralised; None becomes empty."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")

    def line(cells: Iterable[Any]) -> str:
        writer.writerow(["" if c is None else neutralise(str(c)) for c in cells])
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    yield line(header)
    for row in rows:
        yield line(row)
