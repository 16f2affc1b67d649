"""Shared helpers: schemas from short field lists, and loadbay's and frictionless' verdicts.

A verdict is a set of ``(row, field, rule)``: loadbay's ``CellError`` rules, and frictionless'
errors mapped onto them (type-error -> type, constraint-error -> the constraint its note names,
unique-error -> unique, primary-key -> primaryKey on no field). Rows are numbered as
frictionless numbers them: the header is row 1, so data starts at row 2.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import frictionless
import polars as pl

from loadbay.schemas.model import TableSchema
from loadbay.validation import (
    CellError,
    ErrorBudget,
    RawBatch,
    Validator,
    batch_from_records,
    compile_schema,
)
from loadbay.validation.keys import ExistingKeys

Verdict = set[tuple[int, str | None, str]]
FIRST_ROW = 2
_CONSTRAINT = re.compile(r'constraint "(\w+)" is')
_ALL_NULL_KEY = 'cells composing the primary keys are all "None"'


def table_schema(*fields: dict[str, Any], **extra: Any) -> TableSchema:
    return TableSchema.model_validate({"name": "t", "fields": list(fields), **extra})


def text_batches(
    schema: TableSchema, rows: Sequence[Sequence[str | None]], batches: int = 1
) -> list[RawBatch]:
    """``rows`` (text cells in field order) cut into ``batches`` RawBatches of near-equal size."""
    names = schema.field_names
    size = -(-len(rows) // batches) if rows else 0
    out = []
    for start in range(0, max(len(rows), 1), max(size, 1)):
        chunk = rows[start : start + size] if size else []
        out.append(
            RawBatch(
                values=pl.DataFrame(
                    {name: [row[i] for row in chunk] for i, name in enumerate(names)},
                    schema=dict.fromkeys(names, pl.String),
                ),
                row_numbers=pl.Series(
                    range(FIRST_ROW + start, FIRST_ROW + start + len(chunk)), dtype=pl.Int64
                ),
            )
        )
    return out


def validate_text(
    schema: TableSchema,
    rows: Sequence[Sequence[str | None]],
    *,
    batches: int = 1,
    budget: ErrorBudget | None = None,
    existing_keys: ExistingKeys | None = None,
) -> tuple[list[CellError], Validator, pl.DataFrame]:
    """Validate text rows; returns every error, the validator and the valid rows."""
    validator = Validator(compile_schema(schema), budget=budget, existing_keys=existing_keys)
    errors: list[CellError] = []
    valid = []
    for batch in text_batches(schema, rows, batches):
        result = validator.validate(batch)
        errors += result.errors
        valid.append(result.valid)
    return errors, validator, pl.concat(valid)


def validate_records(
    schema: TableSchema, records: Sequence[Any]
) -> tuple[list[CellError], Validator, pl.DataFrame]:
    validator = Validator(compile_schema(schema))
    batch, pre_errors = batch_from_records(records, schema, first_row=FIRST_ROW)
    result = validator.validate(batch, pre_errors=pre_errors)
    return result.errors, validator, result.valid


def verdict(errors: Sequence[CellError]) -> Verdict:
    return {(e.row, None if e.rule == "primaryKey" else e.column, e.rule) for e in errors}


def frictionless_verdict(schema: TableSchema, rows: Sequence[Sequence[Any]]) -> Verdict:
    """frictionless' errors for ``rows`` (cells as given: text, or JSON values)."""
    resource = frictionless.Resource(
        data=[schema.field_names, *[list(row) for row in rows]],
        schema=frictionless.Schema.from_descriptor(schema.to_document()),
    )
    report = resource.validate(limit_errors=10**6)
    task = report.tasks[0]
    assert not report.errors, report.errors
    out: Verdict = set()
    for error in task.errors:
        row = error.row_number
        match error.type:
            case "type-error":
                out.add((row, error.field_name, "type"))
            case "constraint-error":
                found = _CONSTRAINT.search(error.note)
                assert found, error.note
                out.add((row, error.field_name, found.group(1)))
            case "unique-error":
                out.add((row, error.field_name, "unique"))
            case "primary-key" if error.note == _ALL_NULL_KEY:
                # loadbay: a primary key is required, so its missing cells fail "required"
                # (cells that failed their type already have an error).
                cells = rows[row - FIRST_ROW]
                for name in schema.primary_key:
                    cell = cells[schema.field_names.index(name)]
                    if cell is None or cell in schema.missing_values:
                        out.add((row, name, "required"))
            case "primary-key":
                out.add((row, None, "primaryKey"))
            case "blank-row":
                # frictionless reports a row of missing cells as blank instead of its other
                # errors; loadbay checks it like any row: only required cells fail.
                out |= {
                    (row, name, "required")
                    for name in schema.field_names
                    if schema.is_required(name)
                }
            case other:
                raise AssertionError(f"unexpected frictionless error {other}: {error.message}")
    return out
