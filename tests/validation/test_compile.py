"""compile_schema: what it caches, and what it refuses."""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest

from loadbay.errors import InvalidInput
from loadbay.validation import compile_schema
from tests.validation.helpers import table_schema


def test_equal_schemas_share_one_compiled_schema() -> None:
    first = compile_schema(table_schema({"name": "a", "type": "integer"}))
    assert compile_schema(table_schema({"name": "a", "type": "integer"})) is first
    assert compile_schema(table_schema({"name": "a", "type": "number"})) is not first


def test_the_compiled_schema_describes_its_output() -> None:
    compiled = compile_schema(
        table_schema(
            {"name": "id", "type": "integer"},
            {"name": "when", "type": "datetime"},
            primaryKey="id",
        )
    )
    assert compiled.field_names == ["id", "when"]
    assert compiled.primary_key == ("id",)
    assert compiled.output_schema == pl.Schema(
        {"id": pl.Int64, "when": pl.Datetime("us", "UTC"), "_loadbay_row": pl.Int64}
    )
    assert compiled.field("id").required


@pytest.mark.parametrize(
    ("fields", "extra", "message"),
    [
        (
            [{"name": "d", "type": "date", "format": "any"}],
            {},
            'field "d": date format "any" is not supported; give a strptime pattern',
        ),
        (
            [{"name": "d", "type": "date", "format": "%Q"}],
            {},
            'field "d": format "%Q" is not a valid pattern: ',
        ),
        (
            [{"name": "s", "format": "binary"}],
            {},
            'field "s": string format "binary" is not supported',
        ),
        (
            [{"name": "i", "type": "integer", "constraints": {"minLength": 2}}],
            {},
            'field "i": constraint "minLength" is not supported by type "integer"',
        ),
        (
            [{"name": "i", "type": "integer", "constraints": {"minimum": "abc"}}],
            {},
            "field \"i\": minimum 'abc' cannot be read: must be an integer",
        ),
        (
            [{"name": "i", "type": "integer", "constraints": {"enum": [1, "x"]}}],
            {},
            "field \"i\": enum value 'x' cannot be read: must be an integer",
        ),
        ([{"name": "_loadbay_row"}], {}, 'the field name "_loadbay_row" is reserved'),
        ([{"name": "a"}], {"primaryKey": ["b"]}, 'primary key field "b" is not a field'),
    ],
)
def test_what_cannot_be_validated_is_refused(
    fields: list[dict[str, Any]], extra: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidInput) as raised:
        compile_schema(table_schema(*fields, **extra))
    assert str(raised.value).startswith(message)
