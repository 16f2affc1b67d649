"""parse_schema: every rule, each bad input with the exact path and message it gets."""

from __future__ import annotations

from typing import Any

import pytest

from loadbay.schemas.document import canonical_json, fingerprint, parse_schema
from loadbay.schemas.errors import InvalidSchema
from tests.schemas.documents import ORDERS, orders, problems, with_fields

SUPPORTED = "string, integer, number, boolean, date, datetime, time, year"
URL_CHARS = "may contain only ASCII letters, digits, '_' and '-' because it is used in URLs"
TOO_LONG_BYTES = "bytes long in UTF-8; at most 63 are allowed (PostgreSQL's limit for identifiers)"
RESERVED = "must not start with '_loadbay_': it is reserved for loadbay"
ORDERED = "integer, number, date, datetime, time, year"
DATE_FORMATS = "default, or a strptime pattern such as %d/%m/%Y"


def field(name: str = "f", type_: str = "string", /, **properties: Any) -> dict[str, Any]:
    return {"name": name, "type": type_, **properties}


def constrained(type_: str, **constraints: Any) -> dict[str, Any]:
    return with_fields(field("f", type_, constraints=constraints))


def test_a_valid_document_parses_into_the_model() -> None:
    schema = parse_schema(ORDERS)

    assert schema.name == "orders"
    assert schema.field_names == ["id", "email", "placed"]
    assert schema.primary_key == ["id"]
    assert schema.fields[0].constraints.minimum == 1
    assert schema.fields[2].format == "%d/%m/%Y"
    assert schema.table_name == "orders"


def test_a_single_primary_key_name_becomes_a_list() -> None:
    assert parse_schema(orders(primaryKey="id")).primary_key == ["id"]


def test_custom_properties_are_kept_as_table_schema_allows() -> None:
    document = orders(rdfType="https://schema.org/Order", **{"x-owner": {"team": "sales"}})
    document["fields"][0]["rdfType"] = "https://schema.org/identifier"

    schema = parse_schema(document)

    assert schema.to_document()["x-owner"] == {"team": "sales"}
    assert schema.to_document()["fields"][0]["rdfType"] == "https://schema.org/identifier"


def test_the_canonical_document_ignores_spelling_and_defaults() -> None:
    verbose = orders(primaryKey="id", missingValues=[""])
    verbose["fields"][1] |= {"constraints": {"required": False}, "bareNumber": True}

    assert canonical_json(parse_schema(verbose)) == canonical_json(parse_schema(ORDERS))
    assert fingerprint(parse_schema(verbose)) == fingerprint(parse_schema(ORDERS))
    assert len(fingerprint(parse_schema(ORDERS))) == 64


def test_every_problem_is_reported_in_one_pass() -> None:
    document = with_fields(
        field("id", "integer", constraints={"minimum": 5, "maximum": 1}),
        {"name": 7},  # malformed: the other fields are still checked
        field("ID", "object"),
        field("_loadbay_row", "date", format="dd/mm"),
        name="9lives",
        primaryKey=["nope"],
    )

    assert problems(document) == [
        ("$.fields[1].name", "Input should be a valid string"),
        ("$.fields[2].type", f'unsupported type "object" (supported: {SUPPORTED})'),
        ("$.name", 'must start with an ASCII letter, not "9"'),
        ("$.fields[0].constraints.minimum", "minimum 5 is greater than maximum 1"),
        ("$.fields[3].name", RESERVED),
        (
            "$.fields[3].format",
            f'format "dd/mm" is not valid for date fields (valid: {DATE_FORMATS})',
        ),
        ("$.primaryKey[0]", '"nope" is not a field of this schema'),
    ]


def test_the_error_detail_summarises_the_first_problems() -> None:
    with pytest.raises(InvalidSchema) as info:
        parse_schema(with_fields(field(""), field(""), field(""), field(""), name=""))

    assert info.value.detail == (
        "invalid schema: $.name: must not be empty; $.fields[0].name: must not be empty; "
        "$.fields[1].name: must not be empty; and 2 more problem(s)"
    )


# --- the document's shape ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        pytest.param([ORDERS], [("$", "must be an object")], id="array"),
        pytest.param(None, [("$", "must be an object")], id="null"),
        pytest.param("orders", [("$", "must be an object")], id="string"),
        pytest.param(orders(name=None), [("$.name", "Field required")], id="no-name"),
        pytest.param(orders(fields=None), [("$.fields", "Field required")], id="no-fields"),
        pytest.param(
            orders(fields=[], primaryKey=None),
            [("$.fields", "List should have at least 1 item after validation, not 0")],
            id="no-field",
        ),
        pytest.param(
            with_fields("id"), [("$.fields[0]", "must be an object")], id="field-not-object"
        ),
        pytest.param(
            with_fields({"type": "string"}), [("$.fields[0].name", "Field required")], id="unnamed"
        ),
        pytest.param(
            orders(primaryKey=[1]),
            [("$.primaryKey[0]", "Input should be a valid string")],
            id="primary-key-number",
        ),
        pytest.param(
            with_fields(field(constraints={"required": "yes"})),
            [("$.fields[0].constraints.required", "Input should be a valid boolean")],
            id="required-string",
        ),
        pytest.param(
            with_fields(field(constraints={"exclusiveMinimum": 1})),
            [
                (
                    "$.fields[0].constraints.exclusiveMinimum",
                    "unknown property (allowed here: required, unique, minimum, maximum, "
                    "minLength, maxLength, pattern, enum)",
                )
            ],
            id="unknown-constraint",
        ),
        pytest.param(
            orders(**{"x-loadbay": {"tabel": "t"}}),
            [
                (
                    "$.x-loadbay.tabel",
                    "unknown property (allowed here: table, unknownFields, destination)",
                )
            ],
            id="unknown-schema-extension",
        ),
        pytest.param(
            with_fields(field(**{"x-loadbay": {"alias": ["e"]}})),
            [("$.fields[0].x-loadbay.alias", "unknown property (allowed here: aliases)")],
            id="unknown-field-extension",
        ),
        pytest.param(
            orders(**{"x-loadbay": {"unknownFields": "maybe"}}),
            [("$.x-loadbay.unknownFields", "Input should be 'ignore' or 'reject'")],
            id="unknown-fields-policy",
        ),
        pytest.param(
            orders(primary_key=["id"]),
            [("$.primary_key", "unknown property; Table Schema spells it 'primaryKey'")],
            id="snake-case-schema-key",
        ),
        pytest.param(
            with_fields(field(true_values=["y"])),
            [("$.fields[0].true_values", "unknown property; Table Schema spells it 'trueValues'")],
            id="snake-case-field-key",
        ),
    ],
)
def test_shape(document: Any, expected: list[tuple[str, str]]) -> None:
    assert problems(document) == expected


def nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


# --- values JSON cannot hold ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        pytest.param(
            orders(**{"x-score": float("nan")}),
            [("$.x-score", "NaN and Infinity are not valid JSON numbers")],
            id="nan",
        ),
        pytest.param(
            orders(**{"x-score": [float("-inf")]}),
            [("$.x-score[0]", "NaN and Infinity are not valid JSON numbers")],
            id="infinity",
        ),
        pytest.param(
            orders(title="bad \ud800 text"),
            [("$.title", "contains a lone surrogate U+D800, which is not valid Unicode")],
            id="lone-surrogate",
        ),
        pytest.param(
            orders(**{"x-bad\udfffkey": 1}),
            [("$.x-bad\\udfffkey", "contains a lone surrogate U+DFFF, which is not valid Unicode")],
            id="lone-surrogate-in-key",
        ),
        pytest.param(
            orders(**{"x-map": {1: "one"}}),
            [("$.x-map", "keys must be strings, not 1")],
            id="number-key",
        ),
        pytest.param(
            orders(**{"x-tags": b"raw"}),
            [("$.x-tags", "a bytes is not a JSON value")],
            id="bytes",
        ),
        pytest.param(
            orders(**{"x-deep": nested(10_000)}),
            [("$.x-deep" + "[0]" * 31, "nested too deeply (a schema may nest at most 32 levels)")],
            id="nested-too-deeply",
        ),
        pytest.param(
            constrained("number", minimum=float("nan")),
            [
                ("$.fields[0].constraints.minimum", "NaN and Infinity are not valid JSON numbers"),
                (
                    "$.fields[0].constraints.minimum",
                    "must be a finite number, as the field's type is number",
                ),
            ],
            id="nan-bound",
        ),
    ],
)
def test_values_a_json_document_cannot_hold(document: Any, expected: list[tuple[str, str]]) -> None:
    assert problems(document) == expected


# --- the schema's name (it goes into URLs) -------------------------------------------------


@pytest.mark.parametrize(
    ("name", "message"),
    [
        pytest.param("", "must not be empty", id="empty"),
        pytest.param("1orders", 'must start with an ASCII letter, not "1"', id="digit-first"),
        pytest.param("_orders", 'must start with an ASCII letter, not "_"', id="underscore-first"),
        pytest.param("ördnung", 'must start with an ASCII letter, not "ö"', id="non-ascii-first"),
        pytest.param("orders;--", f'{URL_CHARS}; found ";"', id="sql-comment"),
        pytest.param('or"ders', f'{URL_CHARS}; found "\\""', id="double-quote"),
        pytest.param("o'rders", f'{URL_CHARS}; found "\'"', id="single-quote"),
        pytest.param("orders/../admin", f'{URL_CHARS}; found "/"', id="slash"),
        pytest.param("orders\n", f'{URL_CHARS}; found "\\n"', id="trailing-newline"),
        pytest.param("ord ers", f'{URL_CHARS}; found " "', id="space"),
        pytest.param("orders😀", f'{URL_CHARS}; found "😀"', id="emoji"),
        pytest.param("a" * 64, "is 64 characters long; at most 63 are allowed", id="64-chars"),
        pytest.param(
            "a" * 10_000, "is 10000 characters long; at most 63 are allowed", id="10000-chars"
        ),
    ],
)
def test_bad_schema_names(name: str, message: str) -> None:
    assert problems(orders(name=name)) == [("$.name", message)]


def test_a_schema_name_that_is_not_a_string() -> None:
    assert problems(orders(name=5)) == [("$.name", "Input should be a valid string")]


@pytest.mark.parametrize("name", ["a", "Orders_2-b", "x" * 63])
def test_good_schema_names(name: str) -> None:
    assert parse_schema(orders(name=name)).name == name


# --- field names and the table name (they become SQL identifiers) --------------------------


@pytest.mark.parametrize(
    ("name", "messages"),
    [
        pytest.param("", ["must not be empty"], id="empty"),
        pytest.param("a\x00b", ["must not contain control characters (found U+0000)"], id="nul"),
        pytest.param("a\tb", ["must not contain control characters (found U+0009)"], id="tab"),
        pytest.param("a\x9bb", ["must not contain control characters (found U+009B)"], id="c1"),
        pytest.param("x" * 64, [f"is 64 {TOO_LONG_BYTES}"], id="64-bytes"),
        pytest.param("x" * 10_000, [f"is 10000 {TOO_LONG_BYTES}"], id="10000-chars"),
        pytest.param("é" * 32, [f"is 64 {TOO_LONG_BYTES}"], id="32-chars-64-bytes"),
        pytest.param("😀" * 16, [f"is 64 {TOO_LONG_BYTES}"], id="16-emoji"),
        pytest.param("_loadbay_row", [RESERVED], id="reserved"),
        pytest.param("_LOADBAY_ROW", [RESERVED], id="reserved-upper-case"),
        pytest.param(
            "_loadbay_" + "\x00" * 60,
            [
                "must not contain control characters (found U+0000)",
                f"is 69 {TOO_LONG_BYTES}",
                RESERVED,
            ],
            id="every-problem",
        ),
    ],
)
def test_bad_field_names(name: str, messages: list[str]) -> None:
    document = with_fields(field("ok"), field(name))

    assert problems(document) == [("$.fields[1].name", message) for message in messages]


def test_a_long_name_is_not_repeated_in_the_message() -> None:
    assert problems(with_fields(field("y" * 10_000), field("Y" * 10_000)))[-1][1] == (
        '"' + "Y" * 40 + '…" is already the name of $.fields[0] '
        "(names are compared ignoring ASCII case, as SQLite compares columns)"
    )


@pytest.mark.parametrize(
    "name",
    [
        'a"b',
        "x; DROP TABLE orders;--",
        "O'Brien",
        "名前",
        "a b",
        "😀" * 15,  # 60 bytes
        "é" * 31,  # 62 bytes
        "x" * 63,
        "loadbay_row",
        "_loadbayrow",
    ],
)
def test_hostile_but_valid_field_names(name: str) -> None:
    assert parse_schema(with_fields(field(name))).field_names == [name]


def test_field_names_must_differ_in_more_than_ascii_case() -> None:
    assert problems(with_fields(field("id"), field("Name"), field("ID"), field("NAME"))) == [
        (
            "$.fields[2].name",
            '"ID" is already the name of $.fields[0] '
            "(names are compared ignoring ASCII case, as SQLite compares columns)",
        ),
        (
            "$.fields[3].name",
            '"NAME" is already the name of $.fields[1] '
            "(names are compared ignoring ASCII case, as SQLite compares columns)",
        ),
    ]


def test_names_that_differ_beyond_ascii_case_are_distinct() -> None:
    # SQLite folds ASCII letters only, so these are two columns everywhere.
    assert parse_schema(with_fields(field("é"), field("É"))).field_names == ["é", "É"]


@pytest.mark.parametrize(
    ("table", "message"),
    [
        pytest.param("", "must not be empty", id="empty"),
        pytest.param("_loadbay_imports", RESERVED, id="reserved"),
        pytest.param("t\x00", "must not contain control characters (found U+0000)", id="nul"),
        pytest.param("t" * 64, f"is 64 {TOO_LONG_BYTES}", id="64-bytes"),
    ],
)
def test_bad_table_names(table: str, message: str) -> None:
    assert problems(orders(**{"x-loadbay": {"table": table}})) == [("$.x-loadbay.table", message)]


def test_a_table_name_may_be_any_identifier() -> None:
    schema = parse_schema(orders(**{"x-loadbay": {"table": 'sales "orders"; --'}}))

    assert schema.table_name == 'sales "orders"; --'


# --- primary key ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("primary_key", "expected"),
    [
        pytest.param(
            ["nope"], [("$.primaryKey[0]", '"nope" is not a field of this schema')], id="unknown"
        ),
        pytest.param(
            "nope", [("$.primaryKey", '"nope" is not a field of this schema')], id="unknown-single"
        ),
        pytest.param(
            ["ID"], [("$.primaryKey[0]", '"ID" is not a field of this schema')], id="other-case"
        ),
        pytest.param(
            ["id", "email", "id"], [("$.primaryKey[2]", '"id" is listed twice')], id="twice"
        ),
    ],
)
def test_bad_primary_keys(primary_key: Any, expected: list[tuple[str, str]]) -> None:
    assert problems(orders(primaryKey=primary_key)) == expected


def test_a_primary_key_may_name_a_field_that_has_other_problems() -> None:
    document = orders()
    document["fields"][0]["type"] = "any"

    assert problems(document) == [
        ("$.fields[0].type", f'unsupported type "any" (supported: {SUPPORTED})')
    ]


# --- types and formats ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "type_", ["object", "array", "geopoint", "duration", "yearmonth", "any", "geojson", "varchar"]
)
def test_unsupported_types(type_: str) -> None:
    assert problems(with_fields(field("f", type_))) == [
        ("$.fields[0].type", f'unsupported type "{type_}" (supported: {SUPPORTED})')
    ]


def test_a_type_that_is_not_a_string() -> None:
    assert problems(with_fields(field("f", 5))) == [  # type: ignore[arg-type]
        ("$.fields[0].type", f"unsupported type 5 (supported: {SUPPORTED})")
    ]


@pytest.mark.parametrize(
    ("type_", "format_", "message"),
    [
        ("string", "phone", 'format "phone" is not valid for string fields '
         "(valid: default, email, uri, uuid)"),
        ("date", "dd/mm/yyyy", 'format "dd/mm/yyyy" is not valid for date fields '
         f"(valid: {DATE_FORMATS})"),
        ("datetime", "iso", 'format "iso" is not valid for datetime fields '
         f"(valid: {DATE_FORMATS})"),
        ("time", "", f'format "" is not valid for time fields (valid: {DATE_FORMATS})'),
        ("date", "any", f'format "any" is not valid for date fields (valid: {DATE_FORMATS})'),
        ("integer", "currency", 'format "currency" is not valid for integer fields '
         "(valid: default)"),
        ("boolean", "any", 'format "any" is not valid for boolean fields (valid: default)'),
        ("year", "%Y", 'format "%Y" is not valid for year fields (valid: default)'),
    ],
)  # fmt: skip
def test_bad_formats(type_: str, format_: str, message: str) -> None:
    assert problems(with_fields(field("f", type_, format=format_))) == [
        ("$.fields[0].format", message)
    ]


@pytest.mark.parametrize(
    ("type_", "format_"),
    [
        ("string", "email"),
        ("string", "uri"),
        ("string", "uuid"),
        ("date", "%d/%m/%Y"),
        ("datetime", "%Y-%m-%dT%H:%M"),
        ("time", "%H.%M"),
        ("number", "default"),
    ],
)
def test_good_formats(type_: str, format_: str) -> None:
    assert parse_schema(with_fields(field("f", type_, format=format_))).fields[0].format == format_


# --- constraints ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("type_", "constraints", "key", "applies_to"),
    [
        ("integer", {"minLength": 1}, "minLength", "string"),
        ("date", {"maxLength": 10}, "maxLength", "string"),
        ("number", {"pattern": "[0-9]+"}, "pattern", "string"),
        ("string", {"minimum": "a"}, "minimum", ORDERED),
        ("boolean", {"maximum": 1}, "maximum", ORDERED),
    ],
)
def test_constraints_that_do_not_apply_to_the_type(
    type_: str, constraints: dict[str, Any], key: str, applies_to: str
) -> None:
    assert problems(constrained(type_, **constraints)) == [
        (
            f"$.fields[0].constraints.{key}",
            f"{key} does not apply to {type_} fields (it applies to: {applies_to})",
        )
    ]


BOUND = "$.fields[0].constraints.minimum"
NOT_A_BOUND = "must be a number, or an ISO 8601 string for date and time fields"


@pytest.mark.parametrize(
    ("type_", "minimum", "message"),
    [
        ("integer", 1.5, "must be an integer, as the field's type is integer"),
        ("integer", "one", "must be an integer, as the field's type is integer"),
        ("integer", "9" * 5000, "has too many digits, as the field's type is integer"),
        ("year", "MMXXIV", "must be an integer, as the field's type is year"),
        ("number", "1e999", "must be a finite number, as the field's type is number"),
        ("number", "1,5", "must be a finite number, as the field's type is number"),
        ("date", "31/01/2024", "must be an ISO 8601 string such as 2024-01-31, "
         "as the field's type is date"),
        ("date", 20240131, "must be an ISO 8601 string such as 2024-01-31, "
         "as the field's type is date"),
        ("datetime", "yesterday", "must be an ISO 8601 string such as 2024-01-31T09:30:00Z, "
         "as the field's type is datetime"),
        ("time", "25:00", "must be an ISO 8601 string such as 09:30:00, "
         "as the field's type is time"),
        ("integer", True, NOT_A_BOUND),
        ("integer", [1], NOT_A_BOUND),
        ("date", None, None),
    ],
)  # fmt: skip
def test_bounds_must_be_values_of_the_field_type(
    type_: str, minimum: Any, message: str | None
) -> None:
    document = constrained(type_, minimum=minimum)
    if message is None:  # null means "no bound"
        assert parse_schema(document).fields[0].constraints.minimum is None
    else:
        assert problems(document) == [(BOUND, message)]


@pytest.mark.parametrize(
    ("type_", "minimum", "maximum"),
    [
        ("integer", 1, 10),
        ("integer", "1", 10.0),
        ("integer", 5, 5),
        ("number", -0.5, "1e3"),
        ("year", 1900, "2100"),
        ("date", "2024-01-01", "2024-12-31"),
        ("datetime", "2024-01-01T12:00:00+02:00", "2024-01-01T11:00:00"),  # naive is UTC
        ("time", "08:00", "17:30:00"),
    ],
)
def test_good_bounds(type_: str, minimum: Any, maximum: Any) -> None:
    constraints = parse_schema(constrained(type_, minimum=minimum, maximum=maximum)).fields[0]

    assert (constraints.constraints.minimum, constraints.constraints.maximum) == (minimum, maximum)


@pytest.mark.parametrize(
    ("type_", "minimum", "maximum", "message"),
    [
        ("integer", 10, 1, "minimum 10 is greater than maximum 1"),
        ("number", "2.5", 2.4, 'minimum "2.5" is greater than maximum 2.4'),
        ("date", "2024-02-01", "2024-01-31", 'minimum "2024-02-01" is greater than maximum '
         '"2024-01-31"'),
        ("datetime", "2024-01-01T12:00:00", "2024-01-01T11:00:00+00:00", 'minimum '
         '"2024-01-01T12:00:00" is greater than maximum "2024-01-01T11:00:00+00:00"'),
        ("time", "18:00", "09:00", 'minimum "18:00" is greater than maximum "09:00"'),
    ],
)  # fmt: skip
def test_minimum_above_maximum(type_: str, minimum: Any, maximum: Any, message: str) -> None:
    assert problems(constrained(type_, minimum=minimum, maximum=maximum)) == [(BOUND, message)]


def test_min_length_above_max_length() -> None:
    assert problems(constrained("string", minLength=5, maxLength=2)) == [
        ("$.fields[0].constraints.minLength", "minLength 5 is greater than maxLength 2")
    ]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (-1, "Input should be greater than or equal to 0"),
        ("3", "Input should be a valid integer"),
        (2.5, "Input should be a valid integer"),
        (True, "Input should be a valid integer"),
    ],
)
def test_bad_lengths(value: Any, message: str) -> None:
    assert problems(constrained("string", maxLength=value)) == [
        ("$.fields[0].constraints.maxLength", message)
    ]


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("[", "pattern does not compile: unterminated character set at position 0"),
        ("(?P<x", "pattern does not compile: missing >, unterminated name at position 4"),
        ("a{99999999999}", "pattern does not compile: the repetition number is too large"),
        ("(" * 5000 + ")" * 5000, "pattern does not compile: it is nested too deeply"),
    ],
)
def test_patterns_must_compile(pattern: str, message: str) -> None:
    assert problems(constrained("string", pattern=pattern)) == [
        ("$.fields[0].constraints.pattern", message)
    ]


@pytest.mark.parametrize(
    ("type_", "enum", "index", "message"),
    [
        ("integer", [1, "2", "x"], 2, "must be an integer, as the field's type is integer"),
        ("string", ["a", 1], 1, "must be a string, as the field's type is string"),
        ("string", [None], 0, "must be a string, as the field's type is string"),
        ("boolean", [True, "yes"], 1, "must be true or false, or one of the field's trueValues "
         "or falseValues, as the field's type is boolean"),
        ("date", ["2024-13-01"], 0, "must be an ISO 8601 string such as 2024-01-31, "
         "as the field's type is date"),
        ("number", [1, float("inf")], 1, "NaN and Infinity are not valid JSON numbers"),
    ],
)  # fmt: skip
def test_enum_values_must_be_values_of_the_field_type(
    type_: str, enum: list[Any], index: int, message: str
) -> None:
    assert problems(constrained(type_, enum=enum))[0] == (
        f"$.fields[0].constraints.enum[{index}]",
        message,
    )


def test_an_empty_enum() -> None:
    assert problems(constrained("string", enum=[])) == [
        ("$.fields[0].constraints.enum", "List should have at least 1 item after validation, not 0")
    ]


def test_boolean_enum_values_may_use_the_field_s_true_and_false_values() -> None:
    document = with_fields(
        field("f", "boolean", trueValues=["yes"], falseValues=["no"], constraints={"enum": ["yes"]})
    )

    assert parse_schema(document).fields[0].constraints.enum == ["yes"]


# --- aliases -------------------------------------------------------------------------------


def aliased(*aliases_per_field: list[str]) -> dict[str, Any]:
    names = ["id", "email", "phone"]
    return with_fields(
        *(
            field(name, **{"x-loadbay": {"aliases": a}})
            for name, a in zip(names, aliases_per_field, strict=False)
        )
    )


@pytest.mark.parametrize(
    ("aliases", "path", "message"),
    [
        pytest.param(
            ([], ["id"]), "$.fields[1].x-loadbay.aliases[0]", '"id" is the name of $.fields[0]',
            id="another-field-s-name",
        ),
        pytest.param(
            ([], [" ID "]), "$.fields[1].x-loadbay.aliases[0]", '" ID " is the name of $.fields[0]',
            id="another-field-s-name-in-other-case",
        ),
        pytest.param(
            (["mail"], ["Mail"]), "$.fields[1].x-loadbay.aliases[0]",
            '"Mail" is already an alias of $.fields[0]', id="alias-of-another-field",
        ),
        pytest.param(
            ([], ["mail", " MAIL"]), "$.fields[1].x-loadbay.aliases[1]",
            '" MAIL" is already an alias of $.fields[1]', id="twice-on-one-field",
        ),
        pytest.param(([""],), "$.fields[0].x-loadbay.aliases[0]", "must not be empty", id="empty"),
        pytest.param(([" "],), "$.fields[0].x-loadbay.aliases[0]", "must not be empty", id="blank"),
    ],
)  # fmt: skip
def test_bad_aliases(aliases: tuple[list[str], ...], path: str, message: str) -> None:
    assert problems(aliased(*aliases)) == [(path, message)]


def test_an_alias_may_repeat_its_own_field_s_name() -> None:
    schema = parse_schema(aliased(["ID", "identifier"], ["e-mail"]))

    assert schema.fields[0].x_loadbay.aliases == ["ID", "identifier"]
