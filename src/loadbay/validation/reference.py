"""Exact value readers: one Python value in, the typed value (or ``INVALID``) out.

These mirror frictionless v5's ``create_value_reader`` for each field type, rule for rule
(``int()``/``Decimal()`` after ``str.strip()``, bareNumber/groupChar/decimalChar, trueValues,
strptime formats, dateutil's ISO parsing, the email/uri/uuid checks). The engine uses them
for what cannot be vectorised: schema constants (enum members, bounds) and the few cells the
polars fast path declines. The only deliberate difference: a JSON boolean is not a valid
``year`` (frictionless accepts ``True`` as the year 1 because ``bool`` subclasses ``int``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime, time
from decimal import Decimal
from typing import Final

from loadbay.schemas.model import SchemaField
from loadbay.validation import formats
from loadbay.validation.isoparse import isoparse


class _Invalid:
    """The type of ``INVALID``: the cell cannot be read as the field's type."""

    def __repr__(self) -> str:
        return "INVALID"


INVALID: Final = _Invalid()
Reader = Callable[[object], object]

# Every character ``str.strip()`` removes (``str.isspace()``), for polars' ``strip_chars``.
PY_WHITESPACE: Final = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
    "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
# frictionless' bareNumber=false pattern: leading non-digits (but a minus), trailing non-digits.
_NOT_BARE = re.compile(r"((^[^-\d]*)|(\D*$))")
DEFAULT_DATE_FORMAT: Final = "%Y-%m-%d"


def reader_for(field: SchemaField) -> Reader:
    """The exact reader of ``field``'s type and options."""
    match field.type:
        case "integer":
            return _integer_reader(field.bare_number)
        case "number":
            return _number_reader(field.bare_number, field.group_char, field.decimal_char)
        case "boolean":
            return _boolean_reader(field.true_values, field.false_values)
        case "date":
            return _date_reader(field.format)
        case "datetime":
            return _datetime_reader(field.format)
        case "time":
            return _time_reader(field.format)
        case "year":
            return _read_year
        case _:
            return _string_reader(field.format)


def _integer_reader(bare_number: bool) -> Reader:
    def read(cell: object) -> object:
        if isinstance(cell, str):
            text = cell.strip()
            if not bare_number:
                text = _NOT_BARE.sub("", text)
            try:
                return int(text)
            except ValueError:
                return INVALID
        if isinstance(cell, bool):
            return INVALID
        if isinstance(cell, int):
            return cell
        if isinstance(cell, float) and cell.is_integer():
            return int(cell)
        if isinstance(cell, Decimal) and cell.is_finite() and cell % 1 == 0:
            return int(cell)
        return INVALID

    return read


def _number_reader(bare_number: bool, group_char: str, decimal_char: str) -> Reader:
    def read(cell: object) -> object:
        if isinstance(cell, str):
            text = cell.strip()
            if not bare_number:
                text = _NOT_BARE.sub("", text)
            if group_char:
                text = text.replace(group_char, "")
            if decimal_char != ".":
                if "." in text:
                    return INVALID
                text = text.replace(decimal_char, ".")
            try:
                return Decimal(text)
            except ArithmeticError:  # decimal.InvalidOperation
                return INVALID
        if isinstance(cell, Decimal):
            return cell
        if isinstance(cell, bool):
            return INVALID
        if isinstance(cell, int):
            return cell
        if isinstance(cell, float):
            return Decimal(str(cell))
        return INVALID

    return read


def _boolean_reader(true_values: list[str], false_values: list[str]) -> Reader:
    # Built like frictionless' mapping: a value in both lists ends up False.
    mapping = dict.fromkeys(true_values, True) | dict.fromkeys(false_values, False)

    def read(cell: object) -> object:
        if isinstance(cell, bool):
            return cell
        if isinstance(cell, str) and cell in mapping:
            return mapping[cell]
        return INVALID

    return read


def _string_reader(fmt: str) -> Reader:
    check: Callable[[str], bool] | None = {
        "email": formats.is_email,
        "uri": formats.is_uri,
        "uuid": formats.is_uuid,
    }.get(fmt)

    def read(cell: object) -> object:
        if not isinstance(cell, str) or (check is not None and not check(cell)):
            return INVALID
        return cell

    return read


def _date_reader(fmt: str) -> Reader:
    pattern = DEFAULT_DATE_FORMAT if fmt == "default" else fmt

    def read(cell: object) -> object:
        if isinstance(cell, datetime):
            # frictionless looks at hours, minutes and seconds only (not microseconds).
            midnight = cell.hour == 0 and cell.minute == 0 and cell.second == 0
            return cell.date() if midnight else INVALID
        if isinstance(cell, date):
            return cell
        if not isinstance(cell, str):
            return INVALID
        try:
            return datetime.strptime(cell, pattern).date()
        except ValueError:
            return INVALID

    return read


def _datetime_reader(fmt: str) -> Reader:
    def read(cell: object) -> object:
        if isinstance(cell, datetime):
            return cell
        if not isinstance(cell, str):
            return INVALID
        try:
            if fmt == "default":
                # frictionless' guard against the shorter forms isoparse would accept.
                if len(cell) < 19 or cell[16] != ":":
                    return INVALID
                return isoparse(cell)
            return datetime.strptime(cell, fmt)
        except (ValueError, OverflowError):
            return INVALID

    return read


def _time_reader(fmt: str) -> Reader:
    def read(cell: object) -> object:
        if isinstance(cell, time):
            return cell
        if not isinstance(cell, str):
            return INVALID
        try:
            if fmt == "default":
                if len(cell) < 8 or cell[5] != ":":
                    return INVALID
                return isoparse(f"2000-01-01T{cell}").timetz()
            return datetime.strptime(cell, fmt).timetz()
        except (ValueError, OverflowError):
            return INVALID

    return read


def _read_year(cell: object) -> object:
    if isinstance(cell, bool):
        return INVALID
    if isinstance(cell, str):
        if len(cell) != 4:
            return INVALID
        try:
            cell = int(cell)
        except ValueError:
            return INVALID
    if not isinstance(cell, int) or cell < 0 or cell > 9999:
        return INVALID
    return cell
