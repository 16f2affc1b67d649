"""Constraint values (``minimum``, ``maximum``, ``enum``) read as values of their field's type.

A value is given either as its JSON type (``5``, ``true``) or as a string in the logical form
(``"5"``, ``"2024-01-31"``). Dates and times are ISO 8601 strings whatever the field's
``format``: the format describes the data files, not the schema.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable
from typing import Any

from loadbay.schemas.model import SchemaField

_INTEGER = re.compile(r"[+-]?[0-9]+")
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def cast_constraint_value(field: SchemaField, value: Any) -> Any:
    """``value`` as a Python value of ``field``'s type; ``ValueError`` says what was expected."""
    return _CASTS[field.type](field, value)


def _string(_field: SchemaField, value: Any) -> str:
    if isinstance(value, str):
        return value
    raise ValueError("must be a string")


def _integer(_field: SchemaField, value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("must be an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _INTEGER.fullmatch(value):
        try:
            return int(value)
        except ValueError:  # Python refuses to convert more than 4,300 digits
            raise ValueError("has too many digits") from None
    raise ValueError("must be an integer")


def _number(_field: SchemaField, value: Any) -> int | float:
    if isinstance(value, bool):
        raise ValueError("must be a number")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    if isinstance(value, str) and _NUMBER.fullmatch(value) and math.isfinite(float(value)):
        return float(value)
    raise ValueError("must be a finite number")


def _boolean(field: SchemaField, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        if value in field.true_values:
            return True
        if value in field.false_values:
            return False
    raise ValueError("must be true or false, or one of the field's trueValues or falseValues")


def _iso(parse: Callable[[str], Any], example: str) -> Callable[[SchemaField, Any], Any]:
    def cast(_field: SchemaField, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return parse(value)
            except ValueError:
                pass
        raise ValueError(f"must be an ISO 8601 string such as {example}")

    return cast


_CASTS: dict[str, Callable[[SchemaField, Any], Any]] = {
    "string": _string,
    "integer": _integer,
    "year": _integer,
    "number": _number,
    "boolean": _boolean,
    "date": _iso(dt.date.fromisoformat, "2024-01-31"),
    "datetime": _iso(dt.datetime.fromisoformat, "2024-01-31T09:30:00Z"),
    "time": _iso(dt.time.fromisoformat, "09:30:00"),
}
