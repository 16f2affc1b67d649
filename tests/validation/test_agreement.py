"""loadbay agrees with frictionless: same rows flagged, same rules, on a shared table of cases.

Every case is validated by both; text cases as CSV-like text cells (in one batch and in
three), JSON cases through ``batch_from_records`` against frictionless reading the same
Python values. The few deliberate differences are pinned in ``test_divergences.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.validation.helpers import (
    frictionless_verdict,
    table_schema,
    validate_records,
    validate_text,
    verdict,
)

MB_STRING = "x" * 1_000_000


@dataclass(frozen=True)
class Case:
    id: str
    fields: list[dict[str, Any]]
    rows: list[list[Any]]
    extra: dict[str, Any] = field(default_factory=dict)


def column(case_id: str, descriptor: dict[str, Any], cells: list[Any], **extra: Any) -> Case:
    """A one-field case: each cell is a row."""
    return Case(case_id, [{"name": "f", **descriptor}], [[cell] for cell in cells], extra)


def integer(**constraints: Any) -> dict[str, Any]:
    return {"type": "integer", "constraints": constraints}


TEXT_CASES = [
    # --- integer
    column("integer-plain", integer(), ["1", "-5", "+7", "007", "0", "-0", "123456789012"]),
    column("integer-junk", integer(), ["abc", "1.5", "1e3", " ", "0x10", "1,000", "1 000", "--1"]),
    column(
        "integer-space-unicode", integer(), [" 42 ", "\t7\n", "١٢٣", "５", "1_000", "1__0", "_1"]
    ),
    column(
        "integer-int64-edges",
        integer(),
        ["9223372036854775807", "-9223372036854775808", "0009223372036854775807"],
    ),
    column(
        "integer-bare-number-false",
        {"type": "integer", "bareNumber": False},
        ["$ 1000", "1000 EUR", "EUR-5", "- 5", "12-", "abc", "1.5", "€12"],
    ),
    column("integer-bounds", integer(minimum=0, maximum=120), ["0", "120", "121", "-1", "x", ""]),
    column("integer-enum", integer(enum=[1, 2, "3"]), ["1", "2", "3", "03", "4", " 2", "+1"]),
    column("integer-required", integer(required=True), ["", "1", None, "x"]),
    # --- number
    column(
        "number-plain",
        {"type": "number"},
        ["1.5", "-0.25", ".5", "5.", "1e5", "1E-3", "+2", "1_000.5", "0.1e-310", " 7 "],
    ),
    column(
        "number-special",
        {"type": "number"},
        ["inf", "-Infinity", "nan", "NaN", "sNaN", "nan123", "INF", "infinit"],
    ),
    column(
        "number-underscores",  # Decimal() drops them all, wherever they are
        {"type": "number"},
        ["_-0", "1_e5", "_1_", "in_f", "1._5", "__", "1 _", "_"],
    ),
    column("number-junk", {"type": "number"}, ["abc", "1,5", "1.2.3", "e5", ".", "", "١.٥", "1e"]),
    column(
        "number-decimal-char",
        {"type": "number", "decimalChar": ","},
        ["1,5", "1.5", "1000,25", "-,5"],
    ),
    column(
        "number-group-and-decimal-char",
        {"type": "number", "groupChar": ".", "decimalChar": ","},
        ["1.000,5", "1,5", "1.234.567", "1.2,3,4"],
    ),
    column("number-group-char", {"type": "number", "groupChar": ","}, ["1,000.5", "1,,0", ",5"]),
    column(
        "number-bare-number-false",
        {"type": "number", "bareNumber": False},
        ["€ 12.50", "12.50 USD", "abc", "-.5", ".5", "5."],
    ),
    column(
        "number-bounds",
        {"type": "number", "constraints": {"minimum": 0.5, "maximum": 10}},
        ["0.5", "0.49", "10", "10.000001", "nan", "inf", "-inf"],
    ),
    column(
        "number-enum",
        {"type": "number", "constraints": {"enum": [1.5, 2]}},
        ["1.5", "1.50", "2", "2.0", "3", "nan"],
    ),
    # --- boolean
    column(
        "boolean-defaults",
        {"type": "boolean"},
        ["true", "True", "TRUE", "1", "false", "False", "FALSE", "0", "yes", "tRue", " true"],
    ),
    column(
        "boolean-custom-values",
        {"type": "boolean", "trueValues": ["yes", "y"], "falseValues": ["no", "n"]},
        ["yes", "y", "no", "n", "true", "1", "Yes"],
    ),
    column("boolean-enum", {"type": "boolean", "constraints": {"enum": [True]}}, ["true", "false"]),
    # --- string
    column(
        "string-lengths",
        {"type": "string", "constraints": {"minLength": 2, "maxLength": 5}},
        ["a", "ab", "abcde", "abcdef", "日本語", "🎉🎉", "é", "👨‍👩‍👧"],
    ),
    column(
        "string-pattern",
        {"type": "string", "constraints": {"pattern": "[A-Z]{2}[0-9]+"}},
        ["AB1", "ab1", "AB", "ABC1", "AB12", "AB12 "],
    ),
    column(
        "string-pattern-unicode",
        {"type": "string", "constraints": {"pattern": r"\w+"}},
        ["héllo", "hello world", "日本", "🎉"],
    ),
    column(
        "string-pattern-emoji",
        {"type": "string", "constraints": {"pattern": ".."}},
        ["🎉🎉", "🎉", "ab"],
    ),
    column(
        "string-enum",
        {"type": "string", "constraints": {"enum": ["DE", "FR", "🎉", "ü"]}},
        ["DE", "de", "FR", "XX", " DE", "🎉", "ü", "u\u0308"],
    ),
    column(
        "string-email",
        {"type": "string", "format": "email"},
        [
            "a@b.com",
            "first.last+tag@example.co.uk",
            "bad",
            "a@b",
            "a@@b.com",
            "a b@c.com",
            "x@localhost",
            "ü@b.com",
            "a@exämple.com",
            '"quoted"@x.com',
            "a@b.c",
            "A@B.CO",
            ".a@b.com",
            "a..b@c.com",
            "a@-b.com",
            "a@b_c.com",
            "a" * 65 + "@b.com",
            "a" * 64 + "@b.com",
            "a@" + "b" * 64 + ".com",
            "ab\n@example.com",
            "a@b.com\n",
        ],
    ),
    column(
        "string-uri",
        {"type": "string", "format": "uri"},
        [
            "https://example.com",
            "mailto:a@b.com",
            "urn:isbn:1",
            "example.com",
            "1http://x",
            "/path",
            "a+b.c-d:rest",
            "é:x",
            "http//x",
        ],
    ),
    column(
        "string-uuid",
        {"type": "string", "format": "uuid"},
        [
            "2bc1c94f-0deb-43e9-92a1-4775189ec9f8",
            "2BC1C94F0DEB43E992A14775189EC9F8",
            "{2bc1c94f-0deb-43e9-92a1-4775189ec9f8}",
            "urn:uuid:2bc1c94f-0deb-43e9-92a1-4775189ec9f8",
            "2bc1c94f-0deb-43e9-92a1-4775189ec9fZ",
            "xyz",
            "2bc1c94f0deb43e992a14775189ec9f",
            "2bc1-c94f0deb43e992a14775189ec9f8",
        ],
    ),
    column("string-1mb", {"type": "string", "constraints": {"maxLength": 100}}, [MB_STRING, "ok"]),
    # --- date
    column(
        "date-default",
        {"type": "date"},
        [
            "2023-01-05",
            "2023-02-30",
            "2024-02-29",
            "2023-02-29",
            "1900-02-29",
            "2000-02-29",
            "2023-1-5",
            "2023-13-01",
            "0000-01-01",
            "0001-01-01",
            "9999-12-31",
            " 2023-01-05",
            "2023-01-05 ",
            "2023/01/05",
            "20230105",
            "２０２３-01-05",
            "2023-01- 5",
        ],
    ),
    column(
        "date-format-dmy",
        {"type": "date", "format": "%d/%m/%Y"},
        ["05/01/2023", "5/1/2023", "31/02/2023", "2023-01-05", "29/02/2024", "29/02/2023"],
    ),
    column(
        "date-format-compact",
        {"type": "date", "format": "%Y%m%d"},
        ["20230105", "2023015", "202301051", "20231231"],
    ),
    column(
        "date-format-month-name",
        {"type": "date", "format": "%b %d %Y"},
        ["Jan 05 2023", "jan 5 2023", "Foo 05 2023", "Feb 30 2023"],
    ),
    column(
        "date-bounds",
        {"type": "date", "constraints": {"minimum": "2020-01-01", "maximum": "2020-12-31"}},
        ["2019-12-31", "2020-01-01", "2020-12-31", "2021-01-01", "2020-02-30"],
    ),
    column(
        "date-enum",
        {"type": "date", "constraints": {"enum": ["2020-01-01"]}},
        ["2020-01-01", "2020-1-1", "2020-01-02"],
    ),
    # --- datetime
    column(
        "datetime-default",
        {"type": "datetime"},
        [
            "2023-01-05T10:00:00",
            "2023-01-05T10:00:00Z",
            "2023-01-05T10:00:00+02:00",
            "2023-01-05 10:00:00",
            "2023-01-05T10:00:00.123456",
            "2023-01-05T10:00:00.1234567",
            "2023-01-05T24:00:00",
            "2023-01-05T23:59:60",
            "2023-02-30T10:00:00",
            "2023-01-05T10:00",
            "2023-01-05",
            "2023-01-05T10:00:00+25:00",
            "2023-01-05T10:00:00-0500",
            "2023-01-05T10:00:00+05",
            "2023-01-05x10:00:00",
            "2023-W01-1T10:00:00",
            "2023-01-05T10:00:00,5",
            "0000-01-05T10:00:00",
            "2023-01-05T10:00:00z",
        ],
    ),
    column(
        "datetime-format",
        {"type": "datetime", "format": "%d/%m/%Y %H:%M"},
        ["05/01/2023 10:30", "5/1/2023 9:05", "05/01/2023 25:00", "05/01/2023T10:30"],
    ),
    column(
        "datetime-bounds",
        {"type": "datetime", "constraints": {"minimum": "2023-01-01T00:00:00Z"}},
        ["2022-12-31T23:59:59Z", "2023-01-01T00:00:00Z", "2023-01-01T01:00:00+02:00"],
    ),
    # --- time
    column(
        "time-default",
        {"type": "time"},
        [
            "10:00:00",
            "23:59:59",
            "24:00:00",
            "10:00",
            "10:00:00.5",
            "10:00:00Z",
            "10:00:00+01:00",
            "25:00:00",
            "10:60:00",
            "1:00:00",
            "10:00:00 ",
            "10:00:00.1234567",
        ],
    ),
    column(
        "time-format",
        {"type": "time", "format": "%H:%M"},
        ["10:30", "9:05", "24:00", "10:30:00", "23:59"],
    ),
    column(
        "time-bounds",
        {"type": "time", "constraints": {"minimum": "09:00:00", "maximum": "17:00:00"}},
        ["08:59:59", "09:00:00", "17:00:00", "17:00:01"],
    ),
    # --- year
    column(
        "year",
        {"type": "year"},
        ["2023", "0000", "9999", "99", "10000", "+123", " 123", "1_23", "abcd", "２０２３", "-123"],
    ),
    column(
        "year-bounds",
        {"type": "year", "constraints": {"minimum": 2000, "maximum": 2030}},
        ["1999", "2000", "2030", "2031"],
    ),
    # --- missing values
    column("missing-default", integer(required=True), ["", "1", None, " "]),
    column(
        "missing-custom",
        integer(),
        ["NA", "-", "1", "n/a", ""],
        missingValues=["", "NA", "-"],
    ),
    column(
        "missing-empty-string-not-missing",
        {"type": "string", "constraints": {"required": True}},
        ["", "NA", "x"],
        missingValues=["NA"],
    ),
    column(
        "missing-none",
        {"type": "string", "constraints": {"required": True}},
        ["", "x"],
        missingValues=[],
    ),
    column("missing-zero", integer(minimum=1), ["0", "1", "2"], missingValues=["", "0"]),
    # --- unique and primary keys
    column("unique-integer", integer(unique=True), ["1", "2", "1", "3", "2", " 1", "x", ""]),
    column(
        "unique-string",
        {"type": "string", "constraints": {"unique": True}},
        ["a", "b", "a", "A", "", "", "🎉", "🎉"],
    ),
    column(
        "unique-number",
        {"type": "number", "constraints": {"unique": True}},
        ["1", "1.0", "1e0", "2", "nan", "nan", "-0", "0"],
    ),
    column(
        "unique-datetime",
        {"type": "datetime", "constraints": {"unique": True}},
        ["2023-01-05T10:00:00Z", "2023-01-05T12:00:00+02:00", "2023-01-05T10:00:01Z"],
    ),
    column(
        "unique-date",
        {"type": "date", "constraints": {"unique": True}},
        ["2023-01-05", "2023-1-5", "2023-01-06"],
    ),
    column(
        "unique-boolean",
        {"type": "boolean", "constraints": {"unique": True}},
        ["true", "1", "false", "0"],
    ),
    column(
        "unique-sparse-integers",
        integer(unique=True),
        ["1", "1000000000000", "-5", "1", "1000000000000", "-5"],
    ),
    column("primary-key", integer(), ["1", "2", "2", "x", "", "3", "1"], primaryKey=["f"]),
    column("primary-key-and-unique", integer(unique=True), ["1", "2", "1"], primaryKey=["f"]),
    Case(
        "primary-key-composite",
        [{"name": "a", "type": "integer"}, {"name": "b", "type": "string"}],
        [["1", "x"], ["1", "y"], ["1", "x"], ["2", "x"], ["01", "x"], ["2", "X"]],
        {"primaryKey": ["a", "b"]},
    ),
    Case(
        "several-fields",
        [
            {"name": "id", "type": "integer", "constraints": {"required": True}},
            {"name": "email", "type": "string", "format": "email", "constraints": {"unique": True}},
            {"name": "age", "type": "integer", "constraints": {"minimum": 0, "maximum": 120}},
            {"name": "when", "type": "date"},
        ],
        [
            ["1", "a@b.com", "30", "2023-01-05"],
            ["2", "bad", "130", "2023-02-30"],
            ["", "a@b.com", "-1", ""],
            ["x", "c@d.com", "x", "x"],
            ["5", "", "", "2024-02-29"],
        ],
    ),
]

JSON_CASES = [
    column(
        "json-integer",
        {"type": "integer"},
        [1, 5.0, 5.5, True, "7", None, {"a": 1}, [1], -0.0, "x", 2.5e3],
    ),
    column("json-number", {"type": "number"}, [1, 2.5, True, "3.5", "abc", [1], 10**30]),
    column("json-string", {"type": "string"}, ["a", 1, 1.5, True, None, {"a": 1}, ""]),
    column("json-boolean", {"type": "boolean"}, [True, False, "true", 1, 0, "yes", None]),
    column("json-date", {"type": "date"}, ["2023-01-05", 20230105, True, "2023-02-30"]),
    column("json-year", {"type": "year"}, [2023, "2023", 12345, -1, 2023.0, "99", 0]),
    column("json-integer-bounds", integer(minimum=1, maximum=10), [0, 1, 10, 11, 10.0, "11"]),
    column("json-missing-values", integer(), ["NA", None, 5, ""], missingValues=["", "NA"]),
]


@pytest.mark.parametrize("case", TEXT_CASES, ids=lambda case: case.id)
@pytest.mark.parametrize("batches", [1, 3])
def test_text_cells_agree_with_frictionless(case: Case, batches: int) -> None:
    schema = table_schema(*case.fields, **case.extra)
    errors, _, _ = validate_text(schema, case.rows, batches=batches)
    assert verdict(errors) == frictionless_verdict(schema, case.rows)


@pytest.mark.parametrize("case", JSON_CASES, ids=lambda case: case.id)
def test_json_values_agree_with_frictionless(case: Case) -> None:
    schema = table_schema(*case.fields, **case.extra)
    records = [dict(zip(schema.field_names, row, strict=True)) for row in case.rows]
    errors, _, _ = validate_records(schema, records)
    assert verdict(errors) == frictionless_verdict(schema, case.rows)


def test_the_table_is_broad() -> None:
    assert len(TEXT_CASES) + len(JSON_CASES) >= 60
    ids = [case.id for case in TEXT_CASES + JSON_CASES]
    assert len(ids) == len(set(ids))
