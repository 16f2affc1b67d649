"""JSON records (already decoded) to a ``RawBatch`` of text cells with their JSON kinds.

A record must be an object; anything else is a row error (rule ``record``) and the row is
kept, empty, so row numbers and counts stay exact. Keys are matched to field names exactly,
then to a field's ``x-loadbay.aliases``. A record naming one field twice (by name and alias,
or two aliases) is a ``record`` error. Keys matching no field are dropped, or with
``x-loadbay.unknownFields: reject`` reported one ``unknownField`` error per key.

Each value becomes text plus a kind code (``kinds.py``): strings stay as they are, numbers are
``str(value)`` (what frictionless compares with missingValues), booleans ``true``/``false``,
objects and arrays their JSON text. Columns holding only strings and nulls carry no kind
column, so JSON that is all text costs what CSV costs.

Pass the returned errors to ``Validator.validate(batch, pre_errors=errors)``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from loadbay.schemas.model import TableSchema
from loadbay.validation import kinds
from loadbay.validation.compiler import compile_schema
from loadbay.validation.engine import RawBatch
from loadbay.validation.errors import CellError, preview

_KIND_BY_TYPE: dict[type, int] = {
    str: kinds.STRING,
    type(None): kinds.NULL,
    bool: kinds.BOOLEAN,
    int: kinds.INTEGER,
    float: kinds.FLOAT,
}
_TEXT_TYPES = frozenset({str, type(None)})
_KNOWN_TYPES = frozenset(_KIND_BY_TYPE)
_EMPTY: Mapping[str, Any] = {}


def batch_from_records(
    records: Sequence[Any], schema: TableSchema, *, first_row: int = 1
) -> tuple[RawBatch, list[CellError]]:
    """Turn decoded JSON records into a batch; ``records[i]`` is source row ``first_row + i``."""
    compiled = compile_schema(schema)
    names = compiled.field_names
    known = frozenset(names)
    reject_unknown = schema.x_loadbay.unknown_fields == "reject"
    rows: list[Mapping[str, Any]] = []
    errors: list[CellError] = []
    for offset, record in enumerate(records):
        if type(record) is dict and known.issuperset(record):
            rows.append(record)  # the common case: nothing to rename or drop
        elif isinstance(record, Mapping):
            row = first_row + offset
            rows.append(_remap(record, row, compiled.key_to_field, reject_unknown, errors))
        else:
            errors.append(not_an_object(first_row + offset, record))
            rows.append(_EMPTY)
    values, kinds = texts_and_kinds(rows, names)
    batch = RawBatch(
        values=values,
        row_numbers=pl.int_range(first_row, first_row + len(rows), dtype=pl.Int64, eager=True),
        kinds=kinds,
    )
    return batch, errors


def not_an_object(row: int, value: object) -> CellError:
    """The row error for a JSON value that should have been an object."""
    return CellError(
        row,
        None,
        preview(_json_text(value)),
        "record",
        f"expected an object, got {_json_kind(value)}",
    )


def texts_and_kinds(
    rows: Sequence[Mapping[str, Any]], names: Sequence[str]
) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """The ``names`` columns of decoded JSON objects as text, plus their JSON kinds where a
    column holds anything but strings and nulls (``RawBatch.values`` and ``.kinds``)."""
    texts: list[pl.Series] = []
    kind_columns: list[pl.Series] = []
    for name in names:
        column = [row.get(name) for row in rows]
        types = set(map(type, column))
        if types <= _TEXT_TYPES:
            texts.append(pl.Series(name, column, dtype=pl.String))
        else:
            text, codes = _typed_column(name, column, has_other=not types <= _KNOWN_TYPES)
            texts.append(text)
            kind_columns.append(codes)
    values = pl.DataFrame(texts, schema=dict.fromkeys(names, pl.String))
    return values, pl.DataFrame(kind_columns) if kind_columns else None


def _remap(
    record: Mapping[Any, Any],
    row: int,
    key_to_field: Mapping[str, str],
    reject_unknown: bool,
    errors: list[CellError],
) -> Mapping[str, Any]:
    """Record keys renamed to field names; unknown keys dropped or reported."""
    out: dict[str, Any] = {}
    given_as: dict[str, str] = {}
    for key, value in record.items():
        name = key_to_field.get(key) if isinstance(key, str) else None
        if name is None:
            if reject_unknown:
                errors.append(
                    CellError(
                        row,
                        str(key),
                        preview(_cell_text(value)),
                        "unknownField",
                        f'unknown field "{key}"',
                    )
                )
            continue
        if name in given_as:
            errors.append(
                CellError(
                    row,
                    None,
                    None,
                    "record",
                    f'field "{name}" is given twice (as "{given_as[name]}" and "{key}")',
                )
            )
            return _EMPTY
        given_as[name] = key
        out[name] = value
    return out


def _typed_column(name: str, column: list[Any], *, has_other: bool) -> tuple[pl.Series, pl.Series]:
    """Text and kind codes of a column holding more than strings, mostly without Python loops:
    ``str()`` of every value, then nulls and booleans fixed up by polars."""
    codes = pl.Series(name, list(map(_KIND_BY_TYPE.get, map(type, column))), dtype=kinds.KIND_DTYPE)
    text = pl.Series(name, list(map(str, column)), dtype=pl.String)
    if has_other:
        codes = codes.fill_null(kinds.OTHER)
        others = (codes == kinds.OTHER).arg_true()
        text = text.scatter(others, [_json_text(column[i]) for i in others.to_list()])
    text = pl.select(
        pl.when(codes == kinds.NULL)
        .then(None)
        .when(codes == kinds.BOOLEAN)
        .then(text.str.to_lowercase())  # "True" -> "true"
        .otherwise(text)
        .alias(name)
    ).to_series()
    return text, codes


def _cell_text(value: object) -> str | None:
    """One value's text, as ``_typed_column`` spells it."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return kinds.TRUE_TEXT if value else kinds.FALSE_TEXT
    if isinstance(value, int | float):
        return str(value)
    return _json_text(value)


def _json_text(value: object) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=True)
    except (TypeError, ValueError):
        return repr(value)


def _json_kind(value: object) -> str:
    if isinstance(value, list | tuple):
        return "array"
    code = _KIND_BY_TYPE.get(type(value), kinds.OTHER)
    return kinds.describe(code, None if code == kinds.OTHER else "")
