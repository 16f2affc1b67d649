"""PostgreSQL's binary COPY format, made from a polars frame without a Python loop.

PostgreSQL parses text COPY input cell by cell (``float8in``, ``date_in``, …); binary input
only checks lengths and copies: for the benchmark's million rows the backend spends 15-20%
less CPU on the COPY (docs/benchmarks.md), and the backend is what a load waits for.

A row is its field count (int16), then per column a length (int32, -1 for NULL) and the
value in the type's binary form, all big-endian. Each column becomes one or two Arrow binary
arrays with a piece of every row (fixed-width values: their length and bytes, laid out by
numpy; text: its length, then its UTF-8 bytes as they are), and Arrow's element-wise join
concatenates the pieces row by row into one buffer: the rows exactly as COPY reads them.

The form of a value follows the *column's* type, not the frame's dtype (a year goes to an
``integer`` or a ``bigint`` column): every type ``POSTGRES_TYPES`` admits has an encoder.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

HEADER = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
TRAILER = b"\xff\xff"

_DAYS_1970_TO_2000 = 10_957
_MICROSECONDS_1970_TO_2000 = _DAYS_1970_TO_2000 * 86_400 * 1_000_000
_NULL = pa.scalar(b"\xff\xff\xff\xff", pa.large_binary())

Pieces = list[pa.Array]
_Encode = Callable[[pl.Series], Pieces]


class TextHoldsNul(Exception):
    """A text value holds U+0000, which PostgreSQL text cannot store (the caller says where)."""


def _fixed(values: np.ndarray, valid: pl.Series) -> Pieces:
    """Length and value of each row, for values of one width (big-endian numpy); NULL rows
    get the length -1 alone."""
    width = values.dtype.itemsize
    rows = np.empty(values.shape[0], dtype=[("length", ">i4"), ("value", f"V{width}")])
    rows["length"] = width
    rows["value"] = values.view(f"V{width}")
    piece = _constant_width(rows.view(np.uint8), 4 + width, values.shape[0])
    if valid.all():
        return [piece]
    return [pc.if_else(valid.to_arrow(), piece, _NULL)]


def _constant_width(data: np.ndarray, width: int, rows: int) -> pa.Array:
    offsets = np.arange(0, (rows + 1) * width, width, dtype=np.int64)
    return pa.Array.from_buffers(
        pa.large_binary(), rows, [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    )


def _text(series: pl.Series) -> Pieces:
    values = series.rechunk().to_arrow().cast(pa.large_binary())
    offsets = np.frombuffer(values.buffers()[1], dtype=np.int64)[values.offset :]
    data = np.frombuffer(values.buffers()[2] or b"", dtype=np.uint8)
    if not data[offsets[0] : offsets[len(values)]].all():  # a zero byte: U+0000
        raise TextHoldsNul
    lengths = pc.fill_null(pc.binary_length(values), -1).to_numpy().astype(">i4")
    prefix = _constant_width(lengths.view(np.uint8), 4, len(values))
    return [prefix, pc.fill_null(values, b"")]


def _uuid(series: pl.Series) -> Pieces:
    # An import id given in every row: one value, or a few, looked up by index.
    distinct = series.drop_nulls().unique().to_list()
    table = np.array([uuid.UUID(v).bytes for v in distinct] or [bytes(16)], dtype="V16")
    index = series.replace_strict(
        distinct, list(range(len(distinct))), default=0, return_dtype=pl.UInt32
    )
    return _fixed(table[index.fill_null(0).to_numpy()], series.is_not_null())


def _integers(dtype: str) -> _Encode:
    def encode(series: pl.Series) -> Pieces:
        return _fixed(series.fill_null(0).to_numpy().astype(dtype), series.is_not_null())

    return encode


def _float8(series: pl.Series) -> Pieces:
    return _fixed(series.fill_null(0.0).to_numpy().astype(">f8"), series.is_not_null())


def _boolean(series: pl.Series) -> Pieces:
    return _fixed(series.fill_null(False).to_numpy().astype(np.uint8), series.is_not_null())


def _date(series: pl.Series) -> Pieces:
    days = series.cast(pl.Int32).fill_null(0).to_numpy() - _DAYS_1970_TO_2000
    return _fixed(days.astype(">i4"), series.is_not_null())


def _timestamptz(series: pl.Series) -> Pieces:
    # Microseconds since 2000-01-01 UTC; polars holds microseconds since 1970 in UTC.
    micros = series.dt.cast_time_unit("us").cast(pl.Int64).fill_null(0).to_numpy()
    return _fixed((micros - _MICROSECONDS_1970_TO_2000).astype(">i8"), series.is_not_null())


def _time(series: pl.Series) -> Pieces:
    # Microseconds since midnight, the fraction cut as the text form's %.6f cuts it.
    micros = series.cast(pl.Int64).fill_null(0).to_numpy() // 1000
    return _fixed(micros.astype(">i8"), series.is_not_null())


_ENCODERS: Mapping[str, _Encode] = {
    "bigint": _integers(">i8"),
    "integer": _integers(">i4"),
    "double precision": _float8,
    "boolean": _boolean,
    "date": _date,
    "timestamp with time zone": _timestamptz,
    "time without time zone": _time,
    "text": _text,
    "character varying": _text,
    "uuid": _uuid,
}


def encoder_for(column_type: str) -> _Encode:
    """How values go to a column of this type (PostgreSQL's ``format_type`` spelling)."""
    encoder = _ENCODERS.get(column_type)
    if encoder is None:  # the table checks admit no other type: a bug, not user input
        raise ValueError(f"no binary COPY form for column type {column_type!r}")
    return encoder


def encode(frame: pl.DataFrame, encoders: Sequence[_Encode]) -> memoryview:
    """The rows of ``frame`` in COPY's binary form (without header and trailer), its columns
    in order, each by its encoder. Raises ``TextHoldsNul``."""
    rows = frame.height
    count = np.full(rows, frame.width, dtype=">i2").view(np.uint8)
    pieces = [_constant_width(count, 2, rows)]
    for series, encode_column in zip(frame.iter_columns(), encoders, strict=True):
        pieces += encode_column(series)
    joined = pc.binary_join_element_wise(*pieces, pa.scalar(b"", pa.large_binary()))
    offsets = np.frombuffer(joined.buffers()[1], dtype=np.int64)[joined.offset :]
    return memoryview(joined.buffers()[2])[int(offsets[0]) : int(offsets[rows])]
