"""Property tests: random cells get frictionless' verdict and value; batching changes nothing.

frictionless' own cell readers (``Field.create_cell_reader``) are the oracle; each example is
a small batch of cells validated by loadbay in one go.
"""

from __future__ import annotations

import datetime as dt
import decimal
import itertools
import math
import uuid as uuid_module
from decimal import Decimal
from typing import Any

import frictionless
import polars as pl
import pytest
import rfc3986
import validators
from dateutil.parser import isoparse as dateutil_isoparse
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from loadbay.validation import Validator, compile_schema, formats
from loadbay.validation.isoparse import isoparse
from loadbay.validation.reference import PY_WHITESPACE
from tests.validation.helpers import table_schema, text_batches, validate_text

SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CELLS = 12  # cells per example

digits = "0123456789"
integer_text = st.one_of(
    st.integers(-(10**20), 10**20).map(str),
    st.text(alphabet=digits + " +-_١５xe.\t", max_size=12),
    st.from_regex(r"\s?[+-]?[0-9_]{1,21}\s?", fullmatch=True),
)
number_text = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.text(alphabet=digits + ".eE+-_ ,infatyINFATYs", max_size=12),
    st.from_regex(r"[+-]?[0-9_]{0,8}\.?[0-9_]{0,8}([eE][+-]?[0-9]{1,4})?", fullmatch=True),
)
date_text = st.one_of(
    st.dates().map(dt.date.isoformat),
    st.text(alphabet=digits + "- /", max_size=12),
    st.from_regex(r"[0-9]{4}-[0-9]{1,2}-[0-9 ]{1,2}", fullmatch=True),
)
offsets = st.sampled_from(["", "Z", "z", "+00:00", "-05:30", "+0200", "+01", "+24:00", "-00:00"])
clock = st.from_regex(r"[0-2][0-9]:[0-6][0-9](:[0-6][0-9]([.,][0-9]{1,8})?)?", fullmatch=True)
datetime_text = st.one_of(
    st.datetimes().map(dt.datetime.isoformat),
    st.tuples(st.dates(), st.sampled_from(["T", " ", "x"]), clock, offsets).map(
        lambda parts: f"{parts[0].isoformat()}{parts[1]}{parts[2]}{parts[3]}"
    ),
    st.text(alphabet=digits + "-:T .Z+W", max_size=24),
)
time_text = st.one_of(
    st.times().map(str),
    st.tuples(clock, offsets).map("".join),
    st.text(alphabet=digits + ":.Z+", max_size=12),
)
year_text = st.one_of(
    st.integers(-100, 20000).map(str), st.text(alphabet=digits + "+- _١", max_size=6)
)
boolean_text = st.one_of(
    st.sampled_from(["true", "True", "TRUE", "1", "false", "False", "FALSE", "0", "yes"]),
    st.text(max_size=5),
)


def frictionless_reader(descriptor: dict[str, Any]) -> Any:
    schema = frictionless.Schema.from_descriptor({"fields": [{"name": "f", **descriptor}]})
    return schema.fields[0].create_cell_reader()


def as_stored(value: Any) -> Any:
    """frictionless' Python value as loadbay's column holds it."""
    if isinstance(value, Decimal):
        return math.nan if value.is_nan() else float(value)
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC) if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(value, dt.time) and value.tzinfo is not None:
        moment = dt.datetime.combine(dt.date(2000, 1, 2), value.replace(tzinfo=None))
        return (moment - value.utcoffset()).time()
    return value


def out_of_range(value: Any) -> bool:
    """Values frictionless accepts that an Int64 or a Float64 column cannot hold."""
    if isinstance(value, int) and not isinstance(value, bool):
        return not -(2**63) <= value < 2**63
    return isinstance(value, Decimal) and value.is_finite() and math.isinf(float(value))


def same(left: Any, right: Any) -> bool:
    if isinstance(left, float) and isinstance(right, float) and math.isnan(left):
        return math.isnan(right)
    return bool(left == right)


def assert_agrees(descriptor: dict[str, Any], cells: list[str]) -> None:
    schema = table_schema({"name": "f", **descriptor})
    errors, _, valid = validate_text(schema, [[cell] for cell in cells])
    ours = {error.row - 2: error.rule for error in errors}
    typed = dict(zip(valid["_loadbay_row"].to_list(), valid["f"].to_list(), strict=True))
    read = frictionless_reader(descriptor)
    for index, cell in enumerate(cells):
        try:
            value, notes = read(cell)
        except decimal.InvalidOperation:
            continue  # frictionless crashes comparing sNaN with a bound; loadbay: NaN fails
        if out_of_range(value):
            assert ours.get(index) == "type", cell  # loadbay cannot store it
        elif notes:
            assert ours.get(index) in set(notes), (cell, notes, ours.get(index))
        else:
            assert index not in ours, (cell, value, ours.get(index))
            if value is not None:
                assert same(as_stored(value), typed[index + 2]), (cell, value, typed[index + 2])


@SETTINGS
@given(st.lists(integer_text, max_size=CELLS))
def test_integer_cells(cells: list[str]) -> None:
    assert_agrees({"type": "integer"}, cells)


@SETTINGS
@given(st.lists(integer_text, max_size=CELLS))
def test_integer_cells_without_bare_numbers(cells: list[str]) -> None:
    assert_agrees({"type": "integer", "bareNumber": False}, cells)


@SETTINGS
@given(st.lists(number_text, max_size=CELLS))
def test_number_cells(cells: list[str]) -> None:
    assert_agrees({"type": "number", "constraints": {"minimum": -1e6}}, cells)


@SETTINGS
@given(st.lists(number_text, max_size=CELLS))
def test_number_cells_with_separators(cells: list[str]) -> None:
    assert_agrees({"type": "number", "groupChar": " ", "decimalChar": ","}, cells)


@SETTINGS
@given(st.lists(date_text, max_size=CELLS))
def test_date_cells(cells: list[str]) -> None:
    assert_agrees({"type": "date", "constraints": {"minimum": "1900-01-01"}}, cells)


@SETTINGS
@given(st.lists(st.dates().map(lambda d: d.strftime("%d/%m/%Y")) | date_text, max_size=CELLS))
def test_date_cells_with_a_format(cells: list[str]) -> None:
    assert_agrees({"type": "date", "format": "%d/%m/%Y"}, cells)


@SETTINGS
@given(st.lists(datetime_text, max_size=CELLS))
def test_datetime_cells(cells: list[str]) -> None:
    assert_agrees({"type": "datetime"}, cells)


@SETTINGS
@given(st.lists(time_text, max_size=CELLS))
def test_time_cells(cells: list[str]) -> None:
    assert_agrees({"type": "time"}, cells)


@SETTINGS
@given(st.lists(year_text, max_size=CELLS))
def test_year_cells(cells: list[str]) -> None:
    assert_agrees({"type": "year"}, cells)


@SETTINGS
@given(st.lists(boolean_text, max_size=CELLS))
def test_boolean_cells(cells: list[str]) -> None:
    assert_agrees({"type": "boolean", "constraints": {"enum": [True]}}, cells)


@SETTINGS
@given(st.lists(st.emails() | st.text(alphabet='ab.@-_"\\ \nü', max_size=15), max_size=CELLS))
def test_email_cells(cells: list[str]) -> None:
    assert_agrees({"type": "string", "format": "email"}, cells)


@SETTINGS
@given(
    st.lists(
        st.uuids().map(str)
        | st.uuids().map(lambda u: "{" + u.hex.upper() + "}")
        | st.text(alphabet="0123456789abcdefABCDEF-{}urn:", max_size=40),
        max_size=CELLS,
    )
)
def test_uuid_cells(cells: list[str]) -> None:
    assert_agrees({"type": "string", "format": "uuid"}, cells)


@SETTINGS
@given(st.text(alphabet=digits + "-:T .,Z+Wz", max_size=30) | datetime_text)
# dateutil reads each number with int() of a slice: a short slice at the end, spaces, signs.
@example("0001W1")
@example("2024-W 1")
@example("  12")
@example("2024-01-01T10:00+01:5")
@example("2024-01-01T1 :00")
def test_isoparse_is_dateutils(text: str) -> None:
    try:
        expected: Any = dateutil_isoparse(text)
    except (ValueError, OverflowError):
        expected = None
    try:
        actual: Any = isoparse(text)
    except (ValueError, OverflowError):
        actual = None
    assert actual == expected
    if actual is not None:
        assert actual.utcoffset() == expected.utcoffset()


@SETTINGS
@given(st.emails() | st.text(alphabet='aé.@-_"\\ \n[]:', max_size=20))
def test_email_check_is_validators(text: str) -> None:
    assert formats.is_email(text) == bool(validators.email(text))


@SETTINGS
@given(st.uuids().map(str) | st.text(alphabet="0123456789abcdef-{}urn:+_ ", max_size=45))
def test_uuid_check_is_validators(text: str) -> None:
    assert formats.is_uuid(text) == bool(validators.uuid(text))


@SETTINGS
@given(st.text(alphabet="ab1+.-:/?#é ", max_size=12))
def test_uri_check_is_rfc3986(text: str) -> None:
    checker = rfc3986.validators.Validator().require_presence_of("scheme")
    try:
        checker.validate(rfc3986.uri_reference(text))
        expected = True
    except rfc3986.exceptions.ValidationError:
        expected = False
    assert formats.is_uri(text) == expected


def test_uuid_module_is_the_reference() -> None:
    # validators.uuid also accepts UUID objects; loadbay only ever sees text.
    assert formats.is_uuid(str(uuid_module.uuid4()))


# --- batching invariance -----------------------------------------------------------------

BATCH_SCHEMA = table_schema(
    {"name": "id", "type": "integer"},
    {"name": "email", "constraints": {"unique": True, "maxLength": 3}},
    {"name": "n", "type": "number", "constraints": {"minimum": 0}},
    {"name": "d", "type": "date"},
    {"name": "key", "type": "integer", "constraints": {"unique": True}},
    primaryKey=["id"],
)
row_cells = st.tuples(
    st.sampled_from(["1", "2", "3", "4", "x", "", " 2", "10000000000000"]),
    st.sampled_from(["a", "b", "a", "", "abcd", "é"]),
    st.sampled_from(["1", "-1", "nan", "x", "", "0.5"]),
    st.sampled_from(["2023-01-05", "2023-02-30", "2023-1-5", ""]),
    st.sampled_from(["1", "2", "-3", "9999999999", "", "y"]),
)


@SETTINGS
@given(st.lists(row_cells, max_size=30), st.lists(st.integers(0, 30), max_size=4))
def test_batching_changes_nothing(rows: list[tuple[str, ...]], cuts: list[int]) -> None:
    whole, whole_validator, whole_valid = validate_text(BATCH_SCHEMA, rows)
    bounds = sorted({0, len(rows), *(c for c in cuts if c <= len(rows))})
    validator = Validator(compile_schema(BATCH_SCHEMA))
    split: list[Any] = []
    valid = []
    for start, stop in itertools.pairwise(bounds):
        (batch,) = text_batches(BATCH_SCHEMA, rows[start:stop])
        batch = type(batch)(batch.values, batch.row_numbers + start, batch.kinds)
        result = validator.validate(batch)
        split += result.errors
        valid.append(result.valid)
    assert split == whole
    assert (validator.rows_seen, validator.rows_valid, validator.errors_total) == (
        whole_validator.rows_seen,
        whole_validator.rows_valid,
        whole_validator.errors_total,
    )
    if valid:
        assert pl.concat(valid).equals(whole_valid)


def test_empty_batches_change_nothing() -> None:
    errors, validator, valid = validate_text(BATCH_SCHEMA, [])
    assert (errors, validator.rows_seen, valid.height) == ([], 0, 0)


@pytest.mark.parametrize("batches", [1, 2, 5])
def test_duplicates_are_found_across_any_batching(batches: int) -> None:
    rows = [[str(i % 7), f"k{i}", "1", "2023-01-05", str(i)] for i in range(20)]
    errors, _, _ = validate_text(BATCH_SCHEMA, rows, batches=batches)
    assert [e.row for e in errors if e.rule == "primaryKey"] == list(range(9, 22))


def test_the_whitespace_polars_strips_is_pythons() -> None:
    assert set(PY_WHITESPACE) == {chr(c) for c in range(0x110000) if chr(c).isspace()}
