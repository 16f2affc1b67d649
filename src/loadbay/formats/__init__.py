"""Readers: a file on disk (a completed upload) to a stream of polars batches of text.

    detected = detect(path, sheet=None)          # format etc. from content, never the name
    for batch in read_batches(path, detected):   # SourceBatch: values, row_numbers, kinds, errors
        ...
    preview = sample(path, detected, rows=50)

Formats: CSV/TSV (``, ; <tab> |``; UTF-8 with or without BOM, UTF-16/32 LE/BE, GB18030,
Shift_JIS, Windows-1252/Latin-1…; CR, LF, CRLF), JSON (an array of objects), NDJSON,
Parquet, XLSX, and gzip versions of the text formats. Batches carry the SOURCE columns
(``Detected.columns``); mapping them to schema fields is the caller's step. A file that cannot
be read raises ``UnreadableFile`` (format, reason, byte offset / line / row when known); a
row that can be read only in part (ragged CSV row, bad NDJSON line, JSON item that is not an
object) is a ``record`` error in ``SourceBatch.errors`` and reading goes on. Per-format
semantics are in each module's docstring; limits in ``limits.py``.
"""

from loadbay.formats.errors import UnreadableFile
from loadbay.formats.model import Detected, SourceBatch
from loadbay.formats.reader import DEFAULT_BATCH_ROWS, read_batches, sample
from loadbay.formats.sniff import detect

__all__ = [
    "DEFAULT_BATCH_ROWS",
    "Detected",
    "SourceBatch",
    "UnreadableFile",
    "detect",
    "read_batches",
    "sample",
]
