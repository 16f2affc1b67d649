"""Checks of a mapping given by a person or a client."""

from __future__ import annotations

from loadbay.errors import ErrorDetail
from loadbay.schemas.mapping import validate_mapping
from loadbay.schemas.model import TableSchema

SCHEMA = TableSchema.model_validate(
    {
        "name": "customers",
        "primaryKey": "id",
        "fields": [
            {"name": "id", "type": "integer"},
            {"name": "email", "constraints": {"required": True}},
            {"name": "name"},
        ],
    }
)
HEADERS = ["ID", "E-mail", "Name", "dup", "dup"]


def test_a_complete_mapping_is_valid() -> None:
    assert validate_mapping(SCHEMA, HEADERS, {"id": "ID", "email": "E-mail"}) == []


def test_every_problem_is_reported_by_field() -> None:
    errors = validate_mapping(
        SCHEMA,
        HEADERS,
        {"nope": "ID", "id": "ID", "name": "ID", "email": "dup", "x": "Nom"},
    )

    assert errors == [
        ErrorDetail(path="$.mapping.nope", message='"nope" is not a field of schema "customers"'),
        ErrorDetail(path="$.mapping.name", message='column "ID" is already mapped to field "id"'),
        ErrorDetail(
            path="$.mapping.email",
            message='column "dup" appears 2 times in the file, '
            "so its name does not say which one is meant",
        ),
        ErrorDetail(path="$.mapping.x", message='"x" is not a field of schema "customers"'),
    ]


def test_an_unknown_column_is_reported() -> None:
    assert validate_mapping(SCHEMA, HEADERS, {"id": "ID", "email": "Email"}) == [
        ErrorDetail(path="$.mapping.email", message='column "Email" is not in the file'),
    ]


def test_required_and_primary_key_fields_must_be_mapped() -> None:
    assert validate_mapping(SCHEMA, HEADERS, {"name": "Name"}) == [
        ErrorDetail(path="$.mapping.id", message="required field is not mapped to a column"),
        ErrorDetail(path="$.mapping.email", message="required field is not mapped to a column"),
    ]


def test_hostile_names_are_shortened_in_messages() -> None:
    field = "f" * 10_000 + "\ud800"

    [error] = validate_mapping(SCHEMA, HEADERS, {"id": "ID", "email": "E-mail", field: "Name"})

    assert error.message == f'"{"f" * 40}…" is not a field of schema "customers"'
    assert error.path is not None
    error.path.encode("utf-8")  # a lone surrogate would make the response unencodable
