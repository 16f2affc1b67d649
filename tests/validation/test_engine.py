"""The Validator: typed output, exact messages, order, counts, uniqueness, budget."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from typing import Any

import polars as pl
import pytest

from loadbay.validation import (
    CellError,
    ErrorBudget,
    RawBatch,
    Validator,
    compile_schema,
    kinds,
)
from loadbay.validation.errors import many_errors
from tests.validation.helpers import table_schema, text_batches, validate_text

UTC = dt.UTC


def one(descriptor: dict[str, Any], cell: str | None, **extra: Any) -> list[CellError]:
    errors, _, _ = validate_text(table_schema({"name": "f", **descriptor}, **extra), [[cell]])
    return errors


# --- typed output ------------------------------------------------------------------------


def test_valid_rows_are_typed_in_schema_order() -> None:
    schema = table_schema(
        {"name": "s"},
        {"name": "i", "type": "integer"},
        {"name": "n", "type": "number"},
        {"name": "b", "type": "boolean"},
        {"name": "d", "type": "date"},
        {"name": "dt", "type": "datetime"},
        {"name": "t", "type": "time"},
        {"name": "y", "type": "year"},
    )
    rows = [
        ["a", "1", "1.5", "true", "2024-02-29", "2024-01-31T09:30:00+02:00", "09:30:00", "2024"],
        ["é", " ١٢٣ ", "Infinity", "0", "2024-1-5", "2024-01-31 09:30:00", "10:00:00Z", "0000"],
        ["🎉", "-7", "1_000.5", "FALSE", "0001-01-01", "2024-01-31T24:00:00Z", "24:00:00", "9999"],
        ["", "", "", "", "", "", "23:30:00-01:00", ""],
    ]
    errors, _, valid = validate_text(schema, rows)
    assert errors == []
    assert valid.schema == compile_schema(schema).output_schema
    assert list(valid.schema.items()) == [
        ("s", pl.String),
        ("i", pl.Int64),
        ("n", pl.Float64),
        ("b", pl.Boolean),
        ("d", pl.Date),
        ("dt", pl.Datetime("us", "UTC")),
        ("t", pl.Time),
        ("y", pl.Int32),
        ("_loadbay_row", pl.Int64),
    ]
    assert valid.rows() == [
        ("a", 1, 1.5, True, dt.date(2024, 2, 29), dt.datetime(2024, 1, 31, 7, 30, tzinfo=UTC),
         dt.time(9, 30), 2024, 2),
        ("é", 123, math.inf, False, dt.date(2024, 1, 5),
         dt.datetime(2024, 1, 31, 9, 30, tzinfo=UTC), dt.time(10), 0, 3),
        ("🎉", -7, 1000.5, False, dt.date(1, 1, 1), dt.datetime(2024, 2, 1, tzinfo=UTC),
         dt.time(0), 9999, 4),
        (None, None, None, None, None, None, dt.time(0, 30), None, 5),
    ]  # fmt: skip


def test_custom_formats_read_what_strptime_reads() -> None:
    schema = table_schema(
        {"name": "d", "type": "date", "format": "%d/%m/%Y"},
        {"name": "dt", "type": "datetime", "format": "%d.%m.%Y %H:%M"},
        {"name": "t", "type": "time", "format": "%H.%M"},
    )
    rows = [["31/01/2024", "31.01.2024 09:30", "09.30"], ["1/2/2024", "1.2.2024 9:05", "9.05"]]
    errors, _, valid = validate_text(schema, rows)
    assert errors == []
    assert valid.drop("_loadbay_row").rows() == [
        (dt.date(2024, 1, 31), dt.datetime(2024, 1, 31, 9, 30, tzinfo=UTC), dt.time(9, 30)),
        (dt.date(2024, 2, 1), dt.datetime(2024, 2, 1, 9, 5, tzinfo=UTC), dt.time(9, 5)),
    ]


def test_a_batch_without_rows() -> None:
    schema = table_schema({"name": "id", "type": "integer"}, primaryKey=["id"])
    errors, validator, valid = validate_text(schema, [])
    assert errors == []
    assert valid.schema == compile_schema(schema).output_schema
    assert validator.rows_seen == 0


# --- messages ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("descriptor", "cell", "rule", "message"),
    [
        ({"type": "integer"}, "abc", "type", 'value "abc" is not an integer'),
        ({"type": "integer"}, 'a"b\nc', "type", 'value "a\\"b\\nc" is not an integer'),
        ({"type": "number"}, "1,5", "type", 'value "1,5" is not a number'),
        (
            {"type": "boolean"},
            "yes",
            "type",
            'value "yes" is not a boolean (expected one of "true", "True", "TRUE", "1", '
            '"false", "False", "FALSE", "0")',
        ),
        (
            {"type": "date"},
            "2023-02-30",
            "type",
            'value "2023-02-30" is not a valid date (expected %Y-%m-%d)',
        ),
        (
            {"type": "date", "format": "%d/%m/%Y"},
            "30/02/2023",
            "type",
            'value "30/02/2023" is not a valid date (expected %d/%m/%Y)',
        ),
        (
            {"type": "datetime"},
            "2023-01-05",
            "type",
            'value "2023-01-05" is not a valid datetime '
            "(expected ISO 8601 such as 2024-01-31T09:30:00Z)",
        ),
        (
            {"type": "time"},
            "25:00:00",
            "type",
            'value "25:00:00" is not a valid time (expected ISO 8601 such as 09:30:00)',
        ),
        (
            {"type": "year"},
            "99",
            "type",
            'value "99" is not a valid year (expected 4 digits, 0000 to 9999)',
        ),
        (
            {"type": "string", "format": "email"},
            "a@b",
            "type",
            'value "a@b" is not a valid email address',
        ),
        (
            {"type": "string", "format": "uri"},
            "example.com",
            "type",
            'value "example.com" is not a valid URI (expected a scheme such as https:)',
        ),
        ({"type": "string", "format": "uuid"}, "xyz", "type", 'value "xyz" is not a valid UUID'),
        ({"type": "integer", "constraints": {"required": True}}, "", "required",
         "a value is required"),
        ({"type": "integer", "constraints": {"maximum": 120}}, "130", "maximum",
         "must be at most 120, got 130"),
        ({"type": "integer", "constraints": {"minimum": 0}}, " -1", "minimum",
         "must be at least 0, got  -1"),
        ({"type": "date", "constraints": {"minimum": "2020-01-01"}}, "2019-12-31", "minimum",
         "must be at least 2020-01-01, got 2019-12-31"),
        ({"constraints": {"minLength": 2}}, "🎉", "minLength",
         "must be at least 2 characters long, got 1"),
        ({"constraints": {"maxLength": 3}}, "abcd", "maxLength",
         "must be at most 3 characters long, got 4"),
        ({"constraints": {"pattern": "[A-Z]+"}}, "ab", "pattern",
         'does not match the pattern "[A-Z]+"'),
        ({"constraints": {"enum": ["DE", "FR"]}}, "XX", "enum",
         'must be one of "DE", "FR"; got "XX"'),
        ({"constraints": {"enum": [f"c{i}" for i in range(12)]}}, "x", "enum",
         'must be one of "c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8", "c9", '
         '… (12 values); got "x"'),
    ],
)  # fmt: skip
def test_messages(descriptor: dict[str, Any], cell: str, rule: str, message: str) -> None:
    assert one(descriptor, cell) == [CellError(2, "f", cell, rule, message)]


def test_a_cell_reports_every_constraint_it_breaks() -> None:
    descriptor = {"constraints": {"minLength": 5, "pattern": "[0-9]+", "enum": ["12345"]}}
    assert [e.rule for e in one(descriptor, "ab")] == ["minLength", "pattern", "enum"]


def test_a_cell_that_does_not_cast_reports_only_its_type() -> None:
    descriptor = {"type": "integer", "constraints": {"minimum": 5, "enum": [6]}}
    assert [e.rule for e in one(descriptor, "x")] == ["type"]


def test_long_values_are_cut_to_200_characters() -> None:
    cell = "é" * 1_000_000
    (error,) = one({"type": "integer"}, cell)
    assert error.value == "é" * 200 + "…"
    assert error.message == f'value "{"é" * 200}…" is not an integer'
    (error,) = one({"constraints": {"maxLength": 100}}, cell)
    assert error.message == "must be at most 100 characters long, got 1000000"


def test_errors_are_sorted_by_row_then_field_then_rule() -> None:
    schema = table_schema(
        {"name": "a", "type": "integer", "constraints": {"unique": True}},
        {"name": "b", "constraints": {"required": True, "minLength": 3, "pattern": "[0-9]+"}},
    )
    errors, _, _ = validate_text(schema, [["x", "ab"], ["1", ""], ["1", "xy"]])
    assert [(e.row, e.column, e.rule) for e in errors] == [
        (2, "a", "type"),
        (2, "b", "minLength"),
        (2, "b", "pattern"),
        (3, "b", "required"),
        (4, "a", "unique"),
        (4, "b", "minLength"),
        (4, "b", "pattern"),
    ]


# --- uniqueness --------------------------------------------------------------------------


def test_unique_and_primary_key_messages() -> None:
    schema = table_schema(
        {"name": "id", "type": "integer"},
        {"name": "email", "constraints": {"unique": True}},
        primaryKey=["id"],
    )
    errors, _, _ = validate_text(schema, [["1", "a@x"], ["1", "a@x"], ["2", "b@x"]], batches=2)
    assert errors == [
        CellError(3, "id", "1", "primaryKey", 'duplicate primary key "id" (first seen in row 2)'),
        CellError(
            3,
            "email",
            "a@x",
            "unique",
            'duplicate value of unique field "email" (first seen in row 2)',
        ),
    ]


def test_a_composite_primary_key_is_a_row_error() -> None:
    schema = table_schema({"name": "a", "type": "integer"}, {"name": "b"}, primaryKey=["a", "b"])
    errors, _, _ = validate_text(schema, [["1", "x"], ["2", "x"], ["01", "x"]])
    assert errors == [
        CellError(
            4, None, "01, x", "primaryKey", 'duplicate primary key "a", "b" (first seen in row 2)'
        )
    ]


@pytest.mark.parametrize("batches", [1, 4])
def test_integer_keys_from_dense_to_sparse(batches: int) -> None:
    schema = table_schema({"name": "id", "type": "integer"}, primaryKey=["id"])
    cells = ["1", "2", "-5", "3", "1000000000000", "2", "-5", "1000000000000", "4", "-9" + "0" * 17]
    errors, _, valid = validate_text(schema, [[c] for c in cells], batches=batches)
    assert [(e.row, e.message) for e in errors] == [
        (7, 'duplicate primary key "id" (first seen in row 3)'),
        (8, 'duplicate primary key "id" (first seen in row 4)'),
        (9, 'duplicate primary key "id" (first seen in row 6)'),
    ]
    assert valid.height == 7


def test_float_keys_compare_as_numbers() -> None:
    schema = table_schema({"name": "n", "type": "number", "constraints": {"unique": True}})
    errors, _, _ = validate_text(schema, [["0"], ["-0.0"], ["nan"], ["NaN"], ["1e0"], ["1"]])
    assert [e.row for e in errors] == [3, 7]  # NaN equals nothing, as in frictionless


def test_existing_keys_are_duplicates_everywhere() -> None:
    calls: list[pl.DataFrame] = []
    in_target = {("id", 2), ("email", "b@x")}

    def existing_keys(keys: pl.DataFrame) -> pl.Series:
        calls.append(keys)
        (name,) = keys.columns
        return pl.Series([(name, value) in in_target for value in keys[name]], dtype=pl.Boolean)

    schema = table_schema(
        {"name": "id", "type": "integer"},
        {"name": "email", "constraints": {"unique": True}},
        primaryKey=["id"],
    )
    rows = [["1", "a@x"], ["2", "b@x"], ["2", "c@x"], ["3", "b@x"], ["1", "d@x"]]
    errors, validator, valid = validate_text(schema, rows, batches=2, existing_keys=existing_keys)
    assert [(e.row, e.column, e.message) for e in errors] == [
        (3, "id", 'primary key "id" already exists in the target table'),
        (3, "email", 'value of unique field "email" already exists in the target table'),
        (4, "id", 'primary key "id" already exists in the target table'),
        (5, "email", 'value of unique field "email" already exists in the target table'),
        (6, "id", 'duplicate primary key "id" (first seen in row 2)'),
    ]
    assert valid["_loadbay_row"].to_list() == [2]
    # Per batch: each unique field, then the key; only distinct keys new to the run.
    assert [(frame.columns, frame.dtypes, frame.to_series().to_list()) for frame in calls] == [
        (["email"], [pl.String], ["a@x", "b@x", "c@x"]),
        (["id"], [pl.Int64], [1, 2]),
        (["email"], [pl.String], ["d@x"]),
        (["id"], [pl.Int64], [3]),
    ]
    assert validator.rows_invalid == 4


def test_existing_keys_must_answer_for_every_key() -> None:
    schema = table_schema({"name": "id", "type": "integer"}, primaryKey=["id"])
    with pytest.raises(TypeError, match="aligned with the keys"):
        validate_text(schema, [["1"], ["2"]], existing_keys=lambda keys: pl.Series([True]))


def test_missing_values_take_no_part_in_uniqueness() -> None:
    schema = table_schema({"name": "f", "constraints": {"unique": True}})
    errors, _, _ = validate_text(schema, [[""], [""], [None], ["x"]])
    assert errors == []


# --- counts and the budget -----------------------------------------------------------------


def test_counts_are_exact_across_batches() -> None:
    schema = table_schema({"name": "n", "type": "integer", "constraints": {"maximum": 5}})
    validator = Validator(compile_schema(schema))
    results = [
        validator.validate(batch)
        for batch in text_batches(schema, [[str(i)] for i in range(10)], batches=3)
    ]
    assert [(r.rows, r.rows_valid, r.rows_invalid, len(r.errors)) for r in results] == [
        (4, 4, 0, 0),
        (4, 2, 2, 2),
        (2, 0, 2, 2),
    ]
    assert (validator.rows_seen, validator.rows_valid, validator.rows_invalid) == (10, 6, 4)
    assert validator.errors_total == 4
    assert not validator.budget_exceeded


def test_the_error_budget_counts_errors() -> None:
    schema = table_schema({"name": "n", "type": "integer"})
    errors, validator, _ = validate_text(
        schema, [["x"], ["1"], ["y"], ["z"]], batches=2, budget=ErrorBudget(max_errors=2)
    )
    assert len(errors) == 3
    assert validator.budget_exceeded


def test_the_error_ratio_waits_for_enough_rows() -> None:
    schema = table_schema({"name": "n", "type": "integer"})
    validator = Validator(
        compile_schema(schema), budget=ErrorBudget(max_error_ratio=0.5, min_rows_for_ratio=4)
    )
    first, second = text_batches(schema, [["x"], ["y"], ["1"], ["2"], ["3"]], batches=2)
    assert not validator.validate(first).budget_exceeded  # 2 of 3 bad, but only 3 rows seen
    assert not validator.validate(second).budget_exceeded  # 2 of 5 bad
    assert not validator.finish()

    validator = Validator(compile_schema(schema), budget=ErrorBudget(max_error_ratio=0.5))
    (batch,) = text_batches(schema, [["x"], ["y"], ["1"]])
    assert not validator.validate(batch).budget_exceeded  # fewer than 100 rows seen
    assert validator.finish()  # the whole (small) input is over the ratio
    assert validator.budget_exceeded


# --- batches ------------------------------------------------------------------------------


def test_json_kinds_may_cover_some_fields_only() -> None:
    schema = table_schema({"name": "a", "type": "integer"}, {"name": "b", "type": "integer"})
    batch = RawBatch(
        values=pl.DataFrame({"a": ["1", "true"], "b": ["true", "2"]}),
        row_numbers=pl.Series([1, 2]),
        kinds=pl.DataFrame({"a": [kinds.INTEGER, kinds.BOOLEAN]}, schema={"a": pl.UInt8}),
    )
    result = Validator(compile_schema(schema)).validate(batch)
    assert [(e.row, e.column, e.message) for e in result.errors] == [
        (1, "b", 'value "true" is not an integer'),
        (2, "a", "expected an integer, got boolean"),
    ]


@pytest.mark.parametrize(
    ("batch", "problem"),
    [
        (RawBatch(pl.DataFrame({"b": ["1"]}), pl.Series([1])), "no column for fields"),
        (RawBatch(pl.DataFrame({"a": [1]}), pl.Series([1])), "must be pl.String"),
        (RawBatch(pl.DataFrame({"a": ["1"]}), pl.Series([1, 2])), "aligned"),
    ],
)
def test_malformed_batches_are_programming_errors(batch: RawBatch, problem: str) -> None:
    validator = Validator(compile_schema(table_schema({"name": "a"})))
    with pytest.raises(ValueError, match=problem):
        validator.validate(batch)


def test_a_pattern_only_python_understands() -> None:
    descriptor = {"constraints": {"pattern": r"(?=.*[0-9])[a-z0-9]+"}}
    assert one(descriptor, "abc1") == []
    assert [e.rule for e in one(descriptor, "abc")] == ["pattern"]


def test_errors_made_in_bulk_are_ordinary_cell_errors() -> None:
    (made,) = many_errors([5], ["f"], ["x"], ["type"], ["bad"])
    assert made == CellError(5, "f", "x", "type", "bad")
    assert hash(made) == hash(CellError(5, "f", "x", "type", "bad"))
    assert repr(made) == "CellError(row=5, column='f', value='x', rule='type', message='bad')"
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.row = 6
