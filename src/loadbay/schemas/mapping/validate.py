"""Checks of a mapping given by a person or a client: ``{"<schema field>": "<source column>"}``."""

from __future__ import annotations

from collections import Counter

from loadbay.errors import ErrorDetail
from loadbay.schemas.errors import printable, shown
from loadbay.schemas.model import TableSchema


def validate_mapping(
    schema: TableSchema, headers: list[str], mapping: dict[str, str]
) -> list[ErrorDetail]:
    """Every problem of ``mapping`` for this schema and header row; empty when it is usable.

    Problems are reported in the mapping's order, then missing required fields in schema
    order, each at ``$.mapping.<field>``.
    """
    fields = set(schema.field_names)
    counts = Counter(headers)
    first_user: dict[str, str] = {}
    errors: list[ErrorDetail] = []

    def error(field: str, message: str) -> None:
        errors.append(ErrorDetail(path=printable(f"$.mapping.{field}"), message=message))

    for field, column in mapping.items():
        if field not in fields:
            # An unknown field claims no column: the column may well be meant for another.
            error(field, f"{shown(field)} is not a field of schema {shown(schema.name)}")
            continue
        if column not in counts:
            error(field, f"column {shown(column)} is not in the file")
        elif counts[column] > 1:
            error(
                field,
                f"column {shown(column)} appears {counts[column]} times in the file, "
                "so its name does not say which one is meant",
            )
        elif column in first_user:
            error(
                field,
                f"column {shown(column)} is already mapped to field {shown(first_user[column])}",
            )
        else:
            first_user[column] = field
    for field in schema.field_names:
        if schema.is_required(field) and field not in mapping:
            error(field, "required field is not mapped to a column")
    return errors
