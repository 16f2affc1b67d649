"""Properties of parse_schema over generated documents (hypothesis)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from loadbay.schemas.document import (
    canonical_json,
    fingerprint,
    parse_schema,
    schema_from_canonical,
)
from loadbay.schemas.errors import InvalidSchema
from loadbay.schemas.model import FIELD_TYPES
from loadbay.schemas.names import (
    SCHEMA_NAME,
    fold_identifier,
    identifier_problems,
    schema_name_problems,
)
from loadbay.schemas.rules import STRING_FORMATS

text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | text,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(text, children, max_size=3),
    max_leaves=8,
)
identifiers = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=20).filter(
    lambda name: not identifier_problems(name)
)
schema_names = st.from_regex(SCHEMA_NAME, fullmatch=True)

# Each type's constraint values, drawn as Python values and written as the document would.
ORDERED_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "integer": st.integers(-(10**12), 10**12),
    "year": st.integers(1, 9999),
    "number": st.integers(-(10**6), 10**6) | st.floats(-1e9, 1e9, allow_nan=False),
    "date": st.dates(),
    "datetime": st.datetimes(),
    "time": st.times(),
}
ENUM_VALUES: dict[str, st.SearchStrategy[Any]] = {
    **ORDERED_VALUES,
    "string": text,
    "boolean": st.booleans(),
}


def as_document_value(value: Any) -> Any:
    """Dates and times as ISO strings, as documents write them."""
    return value.isoformat() if isinstance(value, dt.date | dt.time) else value


@st.composite
def constraints(draw: st.DrawFn, type_: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if draw(st.booleans()):
        out["required"] = draw(st.booleans())
    if draw(st.booleans()):
        out["unique"] = draw(st.booleans())
    if type_ in ORDERED_VALUES and draw(st.booleans()):
        low, high = sorted(draw(st.lists(ORDERED_VALUES[type_], min_size=2, max_size=2)))
        out |= draw(
            st.sampled_from(
                [{"minimum": low}, {"maximum": high}, {"minimum": low, "maximum": high}]
            )
        )
    if type_ == "string" and draw(st.booleans()):
        low, high = sorted(draw(st.lists(st.integers(0, 100), min_size=2, max_size=2)))
        out |= {"minLength": low, "maxLength": high}
        out["pattern"] = draw(st.sampled_from(["^[a-z]+$", r"\d{3}", ".*", "(?i)yes|no"]))
    if draw(st.booleans()):
        out["enum"] = draw(st.lists(ENUM_VALUES[type_], min_size=1, max_size=3))
    if "enum" in out:
        out["enum"] = [as_document_value(value) for value in out["enum"]]
    return {key: as_document_value(value) for key, value in out.items()}


@st.composite
def field_documents(draw: st.DrawFn, name: str) -> dict[str, Any]:
    type_ = draw(st.sampled_from(FIELD_TYPES))
    field: dict[str, Any] = {"name": name, "type": type_}
    if type_ == "string":
        field["format"] = draw(st.sampled_from(STRING_FORMATS))
    elif type_ in ("date", "datetime", "time"):
        field["format"] = draw(st.sampled_from(["default", "%d/%m/%Y %H:%M"]))
    if type_ == "boolean" and draw(st.booleans()):
        field |= {"trueValues": ["yes", "Y"], "falseValues": ["no", "N"]}
    if draw(st.booleans()):
        field["constraints"] = draw(constraints(type_))
    if draw(st.booleans()):
        field["title"] = draw(text)
    if draw(st.booleans()):
        field["x-note"] = draw(json_values)
    return field


@st.composite
def schema_documents(draw: st.DrawFn) -> dict[str, Any]:
    names = draw(st.lists(identifiers, min_size=1, max_size=6, unique_by=fold_identifier))
    fields = [draw(field_documents(name)) for name in names]
    taken = {name.strip().casefold() for name in names}
    for number, field in enumerate(fields):
        aliases = [f"{field['name']} alias {number}", f"column {number}"]
        if not taken & {alias.strip().casefold() for alias in aliases}:
            field["x-loadbay"] = {"aliases": draw(st.lists(st.sampled_from(aliases), unique=True))}
    document: dict[str, Any] = {"name": draw(schema_names), "fields": fields}
    if draw(st.booleans()):
        document["primaryKey"] = draw(
            st.sampled_from(names) | st.lists(st.sampled_from(names), unique=True, max_size=2)
        )
    if draw(st.booleans()):
        document["missingValues"] = draw(st.lists(text, max_size=3))
    if draw(st.booleans()):
        document["x-loadbay"] = {
            "table": draw(identifiers.filter(lambda n: not n.lower().startswith("_loadbay_"))),
            "unknownFields": draw(st.sampled_from(["ignore", "reject"])),
        }
    if draw(st.booleans()):
        document["description"] = draw(text)
    if draw(st.booleans()):
        document["x-meta"] = draw(json_values)
    return document


@given(schema_documents())
def test_a_parsed_document_round_trips_through_its_canonical_form(document: dict[str, Any]) -> None:
    schema = parse_schema(document)

    again = parse_schema(schema.to_document())

    assert again == schema
    assert canonical_json(again) == canonical_json(schema)
    assert parse_schema(json.loads(canonical_json(schema))) == schema
    assert schema_from_canonical(canonical_json(schema)) == schema
    assert fingerprint(again) == fingerprint(schema)


FIELD_KEYS = ["name", "type", "format", "constraints", "trueValues", "x-loadbay", "title"]
SCHEMA_KEYS = ["name", "fields", "primaryKey", "missingValues", "x-loadbay", "title"]
CONSTRAINT_KEYS = ["required", "minimum", "maximum", "minLength", "pattern", "enum"]
anything = st.recursive(
    json_values | st.sampled_from(FIELD_TYPES) | st.sampled_from(["%d", "orders", "id"]),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(CONSTRAINT_KEYS) | text, children, max_size=4)
    ),
    max_leaves=10,
)
fuzzed_fields = st.lists(
    st.dictionaries(st.sampled_from(FIELD_KEYS), anything, max_size=5) | anything, max_size=4
)
fuzzed_documents = (
    st.dictionaries(st.sampled_from(SCHEMA_KEYS), anything | fuzzed_fields, max_size=6) | anything
)


@given(fuzzed_documents)
def test_any_document_either_parses_or_names_its_problems(document: Any) -> None:
    try:
        parse_schema(document)
    except InvalidSchema as exc:
        errors = exc.errors
    else:
        return
    assert errors
    for error in errors:
        assert error.path is not None
        assert error.path.startswith("$")
        assert error.message
        (error.path + error.message).encode("utf-8")  # a UTF-8 response can carry them


@given(st.text(max_size=80))
def test_a_schema_name_has_problems_exactly_when_it_breaks_the_pattern(name: str) -> None:
    assert bool(schema_name_problems(name)) == (SCHEMA_NAME.fullmatch(name) is None)
