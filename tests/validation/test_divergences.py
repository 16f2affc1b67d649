"""Where loadbay deliberately differs from frictionless, pinned on both sides."""

from __future__ import annotations

from typing import Any

import pytest

from tests.validation.helpers import (
    frictionless_verdict,
    table_schema,
    validate_records,
    validate_text,
    verdict,
)


@pytest.mark.parametrize(
    ("pattern", "cell"),
    [
        ("a|b", "ab"),  # frictionless anchors as ^a|b$: "starts with a" passes
        ("abc", "abc\n"),  # Python's $ also matches before a final newline
    ],
)
def test_pattern_is_a_full_match(pattern: str, cell: str) -> None:
    schema = table_schema({"name": "f", "constraints": {"pattern": pattern}})
    errors, _, _ = validate_text(schema, [[cell]])
    assert verdict(errors) == {(2, "f", "pattern")}
    assert frictionless_verdict(schema, [[cell]]) == set()


@pytest.mark.parametrize(
    ("descriptor", "cell", "message"),
    [
        (
            {"type": "integer"},
            "9223372036854775808",
            'value "9223372036854775808" is out of range for a 64-bit integer',
        ),
        ({"type": "number"}, "1e400", 'value "1e400" is out of range for a 64-bit float'),
    ],
)
def test_values_the_column_cannot_hold_are_type_errors(
    descriptor: dict[str, Any], cell: str, message: str
) -> None:
    schema = table_schema({"name": "f", **descriptor})
    errors, _, _ = validate_text(schema, [[cell]])
    assert [(e.rule, e.message) for e in errors] == [("type", message)]
    assert frictionless_verdict(schema, [[cell]]) == set()


def test_a_json_integral_float_beyond_int64_is_a_type_error() -> None:
    schema = table_schema({"name": "f", "type": "integer"})
    errors, _, _ = validate_records(schema, [{"f": 1e20}])
    assert [(e.rule, e.message) for e in errors] == [("type", 'value "1e+20" is not an integer')]
    assert frictionless_verdict(schema, [[1e20]]) == set()


def test_a_json_boolean_is_not_a_year() -> None:
    schema = table_schema({"name": "f", "type": "year"})
    errors, _, _ = validate_records(schema, [{"f": True}])
    assert [(e.rule, e.message) for e in errors] == [("type", "expected a year, got boolean")]
    assert frictionless_verdict(schema, [[True]]) == set()  # bool is an int in Python


def test_every_part_of_a_composite_primary_key_is_required() -> None:
    schema = table_schema({"name": "a", "type": "integer"}, {"name": "b"}, primaryKey=["a", "b"])
    errors, _, _ = validate_text(schema, [["1", ""]])
    assert verdict(errors) == {(2, "b", "required")}
    assert frictionless_verdict(schema, [["1", ""]]) == set()


def test_a_blank_row_without_required_fields_is_valid() -> None:
    schema = table_schema({"name": "a", "type": "integer"}, {"name": "b"})
    errors, validator, _ = validate_text(schema, [["", ""]])
    assert errors == []
    assert validator.rows_valid == 1


def test_naive_datetimes_are_utc_for_uniqueness() -> None:
    schema = table_schema({"name": "f", "type": "datetime", "constraints": {"unique": True}})
    rows = [["2023-01-05T10:00:00"], ["2023-01-05T10:00:00Z"]]
    errors, _, _ = validate_text(schema, rows)
    assert verdict(errors) == {(3, "f", "unique")}
    assert frictionless_verdict(schema, rows) == set()  # naive != aware in Python
