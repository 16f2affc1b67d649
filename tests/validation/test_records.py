"""batch_from_records: JSON records to text cells and kinds, and the input's own errors."""

from __future__ import annotations

import time
from typing import Any

import polars as pl
import pytest

from loadbay.validation import (
    CellError,
    RawBatch,
    Validator,
    batch_from_records,
    compile_schema,
    kinds,
)
from tests.validation.helpers import table_schema

PEOPLE = table_schema(
    {"name": "id", "type": "integer", "x-loadbay": {"aliases": ["ID", "ident"]}},
    {"name": "email", "constraints": {"required": True}, "x-loadbay": {"aliases": ["mail"]}},
    {"name": "age", "type": "integer"},
    primaryKey=["id"],
)


def rejecting(schema: Any = PEOPLE) -> Any:
    return schema.model_copy(
        update={"x_loadbay": schema.x_loadbay.model_copy(update={"unknown_fields": "reject"})}
    )


def validate(records: list[Any], schema: Any = PEOPLE) -> tuple[list[CellError], Validator]:
    validator = Validator(compile_schema(schema))
    batch, pre_errors = batch_from_records(records, schema)
    result = validator.validate(batch, pre_errors=pre_errors)
    return result.errors, validator


@pytest.mark.parametrize(
    ("record", "kind", "value"),
    [
        ([1, 2], "array", "[1, 2]"),
        ("x", "string", '"x"'),
        (5, "number", "5"),
        (None, "null", "null"),
        (True, "boolean", "true"),
    ],
)
def test_a_record_must_be_an_object(record: Any, kind: str, value: str) -> None:
    errors, validator = validate([{"id": 1, "email": "a"}, record])
    # The row has no cells to check: no "required" errors on top.
    assert errors == [CellError(2, None, value, "record", f"expected an object, got {kind}")]
    assert (validator.rows_seen, validator.rows_valid, validator.rows_invalid) == (2, 1, 1)


def test_unknown_fields_are_dropped_by_default() -> None:
    errors, validator = validate([{"id": 1, "email": "a", "extra": {"x": 1}}])
    assert errors == []
    assert validator.rows_valid == 1


def test_unknown_fields_can_be_rejected() -> None:
    errors, validator = validate(
        [{"id": 1, "email": "a", "zz": [1], "extra": True}, {"id": 2, "email": "b"}],
        rejecting(),
    )
    assert errors == [
        CellError(1, "zz", "[1]", "unknownField", 'unknown field "zz"'),
        CellError(1, "extra", "true", "unknownField", 'unknown field "extra"'),
    ]
    assert (validator.rows_valid, validator.rows_invalid) == (1, 1)


def test_aliases_name_fields() -> None:
    batch, errors = batch_from_records(
        [{"ID": 1, "mail": "a"}, {"ident": "2", "email": "b", "age": None}], PEOPLE
    )
    assert errors == []
    assert batch.values.rows() == [("1", "a", None), ("2", "b", None)]


def test_a_field_given_twice_is_a_record_error() -> None:
    errors, _ = validate(
        [{"id": 1, "email": "a", "mail": "b"}, {"ID": 2, "ident": 3, "email": "c"}]
    )
    assert errors == [
        CellError(1, None, None, "record", 'field "email" is given twice (as "email" and "mail")'),
        CellError(2, None, None, "record", 'field "id" is given twice (as "ID" and "ident")'),
    ]


def test_nested_values_are_type_errors() -> None:
    errors, _ = validate([{"id": {"a": 1}, "email": ["x"], "age": [1, 2]}])
    assert [(e.column, e.value, e.message) for e in errors] == [
        ("id", '{"a": 1}', "expected an integer, got object"),
        ("email", '["x"]', "expected a string, got array"),
        ("age", "[1, 2]", "expected an integer, got array"),
    ]


@pytest.mark.parametrize(
    ("missing_values", "expected"),
    [
        (
            ["", "NA"],
            [(1, "email", "required"), (2, "email", "required"), (3, "email", "required")],
        ),
        (["NA"], [(1, "email", "required"), (3, "email", "required")]),
        ([], [(1, "email", "required")]),
    ],
)
def test_null_empty_and_missing_values(
    missing_values: list[str], expected: list[tuple[int, str, str]]
) -> None:
    schema = PEOPLE.model_copy(update={"missing_values": missing_values})
    records = [{"id": 1, "email": None}, {"id": 2, "email": ""}, {"id": 3, "email": "NA"}]
    errors, _ = validate(records, schema)
    assert [(e.row, e.column, e.rule) for e in errors] == expected


def test_values_become_text_with_their_kinds() -> None:
    batch, _ = batch_from_records(
        [
            {"id": 1, "email": "a", "age": 5.0},
            {"id": True, "email": None, "age": {"x": "é"}},
            {"id": 10**30, "email": "c", "age": 1e20},
        ],
        PEOPLE,
        first_row=10,
    )
    assert batch.values.rows() == [
        ("1", "a", "5.0"),
        ("true", None, '{"x": "é"}'),
        ("1000000000000000000000000000000", "c", "1e+20"),
    ]
    assert batch.row_numbers.to_list() == [10, 11, 12]
    # Only columns holding more than text carry kinds.
    assert batch.kinds is not None
    assert batch.kinds.columns == ["id", "age"]
    assert batch.kinds.rows() == [
        (kinds.INTEGER, kinds.FLOAT),
        (kinds.BOOLEAN, kinds.OTHER),
        (kinds.INTEGER, kinds.FLOAT),
    ]


def test_text_only_records_carry_no_kinds() -> None:
    batch, _ = batch_from_records([{"id": "1", "email": "a"}, {"email": None}], PEOPLE)
    assert batch.kinds is None
    assert batch.values.schema == pl.Schema(dict.fromkeys(["id", "email", "age"], pl.String))


def test_no_records() -> None:
    batch, errors = batch_from_records([], PEOPLE)
    assert (batch.values.height, batch.row_numbers.len(), errors) == (0, 0, [])


def test_a_hundred_thousand_records_convert_quickly() -> None:
    schema = table_schema(
        *({"name": f"f{i}", "type": t} for i, t in enumerate(["integer", "string"] * 3)),
        {"name": "n", "type": "number"},
        {"name": "b", "type": "boolean"},
    )
    records = [
        {"f0": i, "f1": "x", "f2": i, "f3": "y", "f4": i, "f5": "z", "n": i / 2, "b": i % 2 == 0}
        for i in range(100_000)
    ]
    started = time.perf_counter()
    batch, errors = batch_from_records(records, schema)
    elapsed = time.perf_counter() - started
    assert errors == []
    assert batch.values.height == 100_000
    assert elapsed < 2.0  # about 0.15 s on the 2-core machine; generous for loaded CI runners


def test_a_row_that_is_not_a_record_is_skipped_whatever_the_batch_holds() -> None:
    schema = table_schema({"name": "n", "type": "integer", "constraints": {"unique": True}})
    batch = RawBatch(pl.DataFrame({"n": ["x", "1", "1"]}), pl.Series([1, 2, 3]))
    record_error = CellError(1, None, "[]", "record", "expected an object, got array")
    result = Validator(compile_schema(schema)).validate(batch, pre_errors=[record_error])
    assert result.errors == [
        record_error,
        CellError(
            3, "n", "1", "unique", 'duplicate value of unique field "n" (first seen in row 2)'
        ),
    ]
    assert result.valid["_loadbay_row"].to_list() == [2]
