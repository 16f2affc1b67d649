"""Casting text cells to a field's type: a vectorised fast path plus the exact reader.

Every field type has a polars ``fast`` expression that turns text into the typed value or
null. It accepts only text the exact reader (``reference.py``) accepts, and produces the same
value. The cells it declines get a closer look, still vectorised: ``hopeless`` picks out
those that certainly fail (say "abc" for an integer: a type error, done), ``rescue`` reads
the less common spellings it can (whitespace, underscores…); only what is left goes to the
exact reader, once per distinct text. Verdicts therefore match frictionless while almost no
cell reaches Python.

Stored values: integer -> Int64, number -> Float64, boolean, string, date -> Date,
datetime -> Datetime("us", "UTC") (offsets converted to UTC, naive values taken as UTC),
time -> Time (an offset is converted to UTC, wrapping around midnight), year -> Int32.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Final

import polars as pl

from loadbay.errors import InvalidInput
from loadbay.schemas.model import SchemaField
from loadbay.validation import formats, kinds, messages
from loadbay.validation.reference import (
    DEFAULT_DATE_FORMAT,
    PY_WHITESPACE,
    Reader,
    reader_for,
)

FastCast = Callable[[pl.Expr], pl.Expr]

INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1

_INTEGER_TEXT = r"^[+-]?[0-9]{1,18}$"  # 18 digits always fit Int64; longer ones go slow
_NUMBER_TEXT = r"^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$"
_ISO_DATE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
_ISO_CLOCK = r"(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,6})?"
_ISO_OFFSET = r"(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
_ISO_DATETIME = rf"^[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}[T ]{_ISO_CLOCK}{_ISO_OFFSET}?$"
_ISO_TIME = rf"^{_ISO_CLOCK}$"
_HAS_OFFSET = r"[+-][0-9]{2}:[0-9]{2}$"
_ASCII = r"^[\x00-\x7f]*$"
_ANY_DIGIT = r"\d"  # Unicode digits, like Python's int() and Decimal() accept
# What str.strip() removes in ASCII, and the ASCII texts int()/Decimal() could read (what
# these reject, int()/Decimal() reject).
_SPACE = r"[\t\n\x0b\x0c\r\x1c-\x1f ]*"
_ASCII_INTEGER = rf"^{_SPACE}[+-]?[0-9]+(?:_[0-9]+)*{_SPACE}$"
_ASCII_NUMBER = (  # Decimal() drops every underscore first: match the text without them
    rf"^{_SPACE}[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
    rf"|(?i:inf|infinity|s?nan[0-9]*)){_SPACE}$"
)
# strptime directives whose canonical (zero-padded) rendering Python parses back unchanged;
# formats made only of these and plain literals get a polars fast path.
_SAFE_DIRECTIVES: Final = {"date": "Ymd", "datetime": "YmdHMS", "time": "HMS"}


class OutOfRange(ValueError):
    """A value the type accepts but the stored dtype cannot hold (say, a 20-digit integer)."""


@dataclass(frozen=True, slots=True)
class Caster:
    """How one field's cells become typed values, and how a failure is described."""

    dtype: pl.DataType
    read: Reader
    store: Callable[[object], object]
    # Cheap, run on every cell; null where it declines.
    fast: FastCast
    # Run on the cells ``fast`` declined only; more thorough but still vectorised.
    rescue: FastCast | None
    # True when the fast path declines exactly the invalid text: no exact reading needed.
    fast_is_exact: bool
    noun: str  # completes 'value "x" is not …'
    json_noun: str  # completes 'expected …, got number'
    range_noun: str  # completes 'value "x" is out of range for …'
    # JSON kinds parsed from their text like a CSV cell; the other kinds, unless they have an
    # entry in ``special``, are type errors outright.
    text_kinds: frozenset[int] = frozenset({kinds.STRING})
    special: Mapping[int, FastCast] = field(default_factory=dict)
    # True for text that certainly fails the exact reader too (say "abc" for an integer):
    # declined cells it flags are type errors without a trip to Python.
    hopeless: FastCast | None = None

    def type_message(self, raw: pl.Expr, kind: pl.Expr | None) -> pl.Expr:
        by_value = messages.text("value ", messages.quoted(raw), f" is not {self.noun}")
        if kind is None:
            return by_value
        by_kind = messages.text(f"expected {self.json_noun}, got ", messages.json_kind(kind, raw))
        readable = kind.is_in([*self.text_kinds, *self.special])
        return pl.when(readable).then(by_value).otherwise(by_kind)

    def range_message(self, raw: pl.Expr) -> pl.Expr:
        return messages.text(
            "value ", messages.quoted(raw), f" is out of range for {self.range_noun}"
        )


def caster_for(field: SchemaField) -> Caster:
    """The caster of a schema field; ``InvalidInput`` for a format loadbay cannot honour."""
    read = reader_for(field)
    match field.type:
        case "integer":
            return _integer(field, read)
        case "number":
            return _number(field, read)
        case "boolean":
            return _boolean(field, read)
        case "date" | "datetime" | "time":
            return _temporal(field, read)
        case "year":
            return _year(read)
        case _:
            return _string(field, read)


# --- numbers -------------------------------------------------------------------------------


def _hopeless_integer(field: SchemaField) -> FastCast:
    """No digit at all, or (bareNumber) ASCII text outside int()'s grammar."""

    def hopeless(raw: pl.Expr) -> pl.Expr:
        digitless = ~raw.str.contains(_ANY_DIGIT)
        if not field.bare_number:
            return digitless
        return digitless | (raw.str.contains(_ASCII) & ~raw.str.contains(_ASCII_INTEGER))

    return hopeless


def _hopeless_number(raw: pl.Expr) -> pl.Expr:
    """ASCII text outside Decimal()'s grammar (other text may be "inf" in Unicode spaces)."""
    grammatical = raw.str.replace_all("_", "", literal=True).str.contains(_ASCII_NUMBER)
    return raw.str.contains(_ASCII) & ~grammatical


def _numeric_text(field: SchemaField, text: pl.Expr) -> pl.Expr:
    """``str.strip()`` and, with bareNumber false, frictionless' removal of currency signs etc."""
    text = text.str.strip_chars(PY_WHITESPACE)
    if not field.bare_number:
        text = text.str.replace(r"^[^-\d]*", "").str.replace(r"\D*$", "")
    return text


def _integer(field: SchemaField, read: Reader) -> Caster:
    def fast(raw: pl.Expr) -> pl.Expr:
        # polars parses [+-]?[0-9]+ within Int64: text Python's int() reads to the same value.
        return raw.cast(pl.Int64, strict=False)

    def rescue(raw: pl.Expr) -> pl.Expr:
        text = _numeric_text(field, raw)
        return pl.when(text.str.contains(_INTEGER_TEXT)).then(text.cast(pl.Int64, strict=False))

    def from_float(raw: pl.Expr) -> pl.Expr:
        # A JSON number like 5.0 is an integer for frictionless (float.is_integer()).
        number = raw.cast(pl.Float64, strict=False)
        fits = (number == number.floor()) & (number >= -(2.0**63)) & (number < 2.0**63)
        return pl.when(fits).then(number.cast(pl.Int64, strict=False))

    def store(value: object) -> object:
        assert isinstance(value, int)
        if not INT64_MIN <= value <= INT64_MAX:
            raise OutOfRange(value)
        return value

    return Caster(
        dtype=pl.Int64(),
        read=read,
        store=store,
        fast=fast,
        rescue=rescue,
        fast_is_exact=False,
        noun="an integer",
        json_noun="an integer",
        range_noun="a 64-bit integer",
        text_kinds=frozenset({kinds.STRING, kinds.INTEGER}),
        special={kinds.FLOAT: from_float},
        hopeless=_hopeless_integer(field),
    )


def _number(field: SchemaField, read: Reader) -> Caster:
    def careful(raw: pl.Expr) -> pl.Expr:
        text = _numeric_text(field, raw)
        if field.group_char:
            text = text.str.replace_all(field.group_char, "", literal=True)
        if field.decimal_char != ".":
            # frictionless rejects a "." when another decimal character is declared.
            declined = text.str.contains(".", literal=True)
            text = text.str.replace_all(field.decimal_char, ".", literal=True)
            text = pl.when(declined).then(None).otherwise(text)
        number = text.cast(pl.Float64, strict=False)
        # inf/nan spellings and overflow are left to the exact reader.
        return pl.when(text.str.contains(_NUMBER_TEXT) & number.is_finite()).then(number)

    def plain(raw: pl.Expr) -> pl.Expr:
        # polars' float parser reads what Decimal() reads, correctly rounded; inf and nan
        # (spelled or from overflow) are left to the exact reader.
        number = raw.cast(pl.Float64, strict=False)
        return pl.when(number.is_finite()).then(number)

    # With bareNumber false or other separators, plain text means something else (".5" -> 5).
    is_plain = field.bare_number and not field.group_char and field.decimal_char == "."

    def store(value: object) -> object:
        if isinstance(value, Decimal):
            if value.is_nan():
                return math.nan
            number = float(value)
            if math.isinf(number) and value.is_finite():
                raise OutOfRange(value)
            return number
        if isinstance(value, float):  # a schema constant
            return value
        assert isinstance(value, int)
        try:
            return float(value)
        except OverflowError as exc:
            raise OutOfRange(value) from exc

    return Caster(
        dtype=pl.Float64(),
        read=read,
        store=store,
        fast=plain if is_plain else careful,
        rescue=careful if is_plain else None,
        fast_is_exact=False,
        noun="a number",
        json_noun="a number",
        range_noun="a 64-bit float",
        text_kinds=frozenset({kinds.STRING, kinds.INTEGER, kinds.FLOAT}),
        hopeless=_hopeless_number if is_plain else None,
    )


def _year(read: Reader) -> Caster:
    def fast(raw: pl.Expr) -> pl.Expr:
        return pl.when(raw.str.contains(r"^[0-9]{4}$")).then(raw.cast(pl.Int32, strict=False))

    def from_integer(raw: pl.Expr) -> pl.Expr:
        number = raw.cast(pl.Int64, strict=False)
        return pl.when(number.is_between(0, 9999)).then(number.cast(pl.Int32))

    return Caster(
        dtype=pl.Int32(),
        read=read,
        store=_identity,
        fast=fast,
        rescue=None,
        fast_is_exact=False,
        noun="a valid year (expected 4 digits, 0000 to 9999)",
        json_noun="a year",
        range_noun="a year",
        special={kinds.INTEGER: from_integer},
        hopeless=lambda raw: raw.str.len_chars() != 4,
    )


# --- boolean and string ----------------------------------------------------------------------


def _boolean(field: SchemaField, read: Reader) -> Caster:
    def fast(raw: pl.Expr) -> pl.Expr:
        # False is tested first: frictionless' mapping lets falseValues win over trueValues.
        return (
            pl.when(raw.is_in(field.false_values))
            .then(pl.lit(False))
            .when(raw.is_in(field.true_values))
            .then(pl.lit(True))
        )

    def from_json(raw: pl.Expr) -> pl.Expr:
        return (
            pl.when(raw == kinds.TRUE_TEXT)
            .then(pl.lit(True))
            .when(raw == kinds.FALSE_TEXT)
            .then(pl.lit(False))
        )

    spelled = ", ".join(f'"{value}"' for value in [*field.true_values, *field.false_values])
    return Caster(
        dtype=pl.Boolean(),
        read=read,
        store=_identity,
        fast=fast,
        rescue=None,
        fast_is_exact=True,
        noun=f"a boolean (expected one of {spelled})",
        json_noun="a boolean",
        range_noun="a boolean",
        special={kinds.BOOLEAN: from_json},
    )


def _string(field: SchemaField, read: Reader) -> Caster:
    noun = "a string"
    fast: FastCast = _identity_expr
    rescue: FastCast | None = None
    hopeless: FastCast | None = None
    exact = True
    match field.format:
        case "default":
            pass
        case "email":
            noun = "a valid email address"
            exact = False

            def fast(raw: pl.Expr) -> pl.Expr:
                # Up to 65 bytes, neither part can break its length limit (64 and 253).
                short = raw.str.len_bytes() <= 65
                return pl.when(short & raw.str.contains(formats.FAST_EMAIL)).then(raw)

            def rescue(raw: pl.Expr) -> pl.Expr:
                valid = raw.str.contains(formats.FAST_EMAIL_LENGTHS) & raw.str.contains(
                    formats.FAST_EMAIL
                )
                return pl.when(valid).then(raw)

            def hopeless(raw: pl.Expr) -> pl.Expr:
                return raw.str.count_matches("@", literal=True) != 1

        case "uri":
            noun = "a valid URI (expected a scheme such as https:)"

            def fast(raw: pl.Expr) -> pl.Expr:
                return pl.when(raw.str.contains(formats.FAST_URI)).then(raw)

        case "uuid":
            noun = "a valid UUID"
            exact = False

            def fast(raw: pl.Expr) -> pl.Expr:
                return pl.when(raw.str.contains(formats.FAST_UUID)).then(raw)

            def hopeless(raw: pl.Expr) -> pl.Expr:
                # UUID() only removes characters (braces, dashes, prefixes) to find 32 digits.
                return raw.str.len_chars() < 32

        case other:
            raise _unsupported(field, f'string format "{other}" is not supported')
    return Caster(
        dtype=pl.String(),
        read=read,
        store=_identity,
        fast=fast,
        rescue=rescue,
        fast_is_exact=exact,
        noun=noun,
        json_noun="a string",
        range_noun="a string",
        hopeless=hopeless,
    )


# --- date, datetime, time ----------------------------------------------------------------------


def _temporal(field: SchemaField, read: Reader) -> Caster:
    kind = field.type
    if field.format == "any":
        raise _unsupported(field, f'{kind} format "any" is not supported; give a strptime pattern')
    if field.format != "default":
        _check_strptime_format(field)
    fast: FastCast
    hopeless: FastCast | None = None
    if field.format == "default":
        fast = {"date": _fast_iso_date, "datetime": _fast_iso_datetime, "time": _fast_iso_time}[
            kind
        ]
        hopeless = _HOPELESS_ISO[kind]
        expected = {
            "date": DEFAULT_DATE_FORMAT,
            "datetime": "ISO 8601 such as 2024-01-31T09:30:00Z",
            "time": "ISO 8601 such as 09:30:00",
        }[kind]
    else:
        fast = _fast_strptime(kind, field.format)
        expected = field.format
    dtype: pl.DataType = {
        "date": pl.Date(),
        "datetime": pl.Datetime("us", "UTC"),
        "time": pl.Time(),
    }[kind]
    store = {"date": _identity, "datetime": _store_datetime, "time": _store_time}[kind]
    return Caster(
        dtype=dtype,
        read=read,
        store=store,
        fast=fast,
        rescue=None,
        fast_is_exact=False,
        noun=f"a valid {kind} (expected {expected})",
        json_noun=f"a {kind} string",
        range_noun=f"a {kind}",
        hopeless=hopeless,
    )


def _fast_iso_date(raw: pl.Expr) -> pl.Expr:
    # Python's date has no year 0; chrono does.
    valid = raw.str.contains(_ISO_DATE) & ~raw.str.starts_with("0000")
    return pl.when(valid).then(raw.str.to_date(DEFAULT_DATE_FORMAT, strict=False, cache=False))


def _fast_iso_datetime(raw: pl.Expr) -> pl.Expr:
    # dateutil accepts any one separator character; "T" and " " are the ones worth a fast path.
    text = raw.str.slice(0, 10) + "T" + raw.str.slice(11)
    text = text.str.replace(r"Z$", "+00:00")
    text = pl.when(text.str.contains(_HAS_OFFSET)).then(text).otherwise(text + "+00:00")
    valid = raw.str.contains(_ISO_DATETIME) & ~raw.str.starts_with("0000")
    parsed = text.str.strptime(pl.Datetime("us", "UTC"), "%Y-%m-%dT%H:%M:%S%.f%:z", strict=False)
    return pl.when(valid).then(parsed)


def _fast_iso_time(raw: pl.Expr) -> pl.Expr:
    return pl.when(raw.str.contains(_ISO_TIME)).then(
        raw.str.strptime(pl.Time, "%H:%M:%S%.f", strict=False)
    )


def _hopeless_iso(
    min_length: int, max_length: int | None, colon: int | None, canonical: str
) -> FastCast:
    """Texts of impossible length, without frictionless' guard colon, or canonical texts the
    fast path rejected (whose calendar date is impossible): all certainly invalid."""

    def hopeless(raw: pl.Expr) -> pl.Expr:
        length = raw.str.len_chars()
        out = (length < min_length) | raw.str.contains(canonical)
        if max_length is not None:
            out = out | (length > max_length)
        if colon is not None:
            out = out | (raw.str.slice(colon, 1) != ":")
        return out

    return hopeless


# strptime("%Y-%m-%d") reads 8 to 10 characters; frictionless wants datetimes of 19 or more
# characters with a colon at index 16, and times of 8 or more with a colon at index 5.
_HOPELESS_ISO: Final = {
    "date": _hopeless_iso(8, 10, None, _ISO_DATE),
    "datetime": _hopeless_iso(19, None, 16, _ISO_DATETIME),
    "time": _hopeless_iso(8, None, 5, _ISO_TIME),
}


def _fast_strptime(kind: str, fmt: str) -> FastCast:
    """A custom format: parse with polars, keep a value only if it renders back to the text.

    The round trip proves the text is the canonical zero-padded spelling, which Python's
    strptime reads to the same value; anything else (single digits, other case, spaces) is
    left to Python's strptime itself.
    """
    tokens = re.findall(r"%.|[^%]", fmt)
    safe = all(
        token[1] in _SAFE_DIRECTIVES[kind] if token.startswith("%") else not token.isspace()
        for token in tokens
    )
    if not safe:
        return _none_expr

    def fast(raw: pl.Expr) -> pl.Expr:
        parsed: pl.Expr
        if kind == "date":
            parsed = raw.str.to_date(fmt, strict=False)
        elif kind == "time":
            parsed = raw.str.strptime(pl.Time, fmt, strict=False)
        else:
            parsed = raw.str.to_datetime(fmt, time_unit="us", strict=False).dt.replace_time_zone(
                "UTC"
            )
        valid = (parsed.dt.strftime(fmt) == raw) & (
            parsed.dt.year() >= 1 if kind != "time" else pl.lit(True)
        )
        return pl.when(valid).then(parsed)

    return fast


def _check_strptime_format(field: SchemaField) -> None:
    try:
        rendered = datetime(2000, 1, 31, 12, 30, 45).strftime(field.format)
        datetime.strptime(rendered, field.format)
    except ValueError as exc:
        raise _unsupported(field, f'format "{field.format}" is not a valid pattern: {exc}') from exc


def _store_datetime(value: object) -> object:
    assert isinstance(value, datetime)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:
        raise OutOfRange(value) from exc


def _store_time(value: object) -> object:
    assert isinstance(value, time)
    offset = value.utcoffset()
    if offset is None:
        return value
    moment = datetime.combine(date(2000, 1, 2), value.replace(tzinfo=None)) - offset
    return moment.time()


# --- helpers ---------------------------------------------------------------------------------


def _identity(value: object) -> object:
    return value


def _identity_expr(raw: pl.Expr) -> pl.Expr:
    return raw


def _none_expr(raw: pl.Expr) -> pl.Expr:
    return pl.lit(None)


def _unsupported(field: SchemaField, message: str) -> InvalidInput:
    return InvalidInput(f'field "{field.name}": {message}')
