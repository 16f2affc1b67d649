"""The rules of a schema document that its Pydantic models cannot check on their own.

They look at ``SchemaParts``: the parts of a document that are well-formed. A document with a
malformed field still has its other fields checked, so one pass reports every problem.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, get_args

from pydantic import BaseModel

from loadbay.errors import ErrorDetail, json_path
from loadbay.schemas.errors import shown
from loadbay.schemas.model import (
    Constraints,
    SchemaField,
    StringFormat,
    TableSchema,
)
from loadbay.schemas.names import fold_identifier, identifier_problems, schema_name_problems
from loadbay.schemas.values import cast_constraint_value

Loc = tuple[str | int, ...]

STRING_FORMATS: tuple[str, ...] = get_args(StringFormat)
TEMPORAL_TYPES = frozenset({"date", "datetime", "time"})
ORDERED_TYPES = ("integer", "number", "date", "datetime", "time", "year")
# Which types each constraint applies to (Table Schema v1); required, unique and enum apply
# to every type.
CONSTRAINT_TYPES: dict[str, tuple[str, ...]] = {
    "minimum": ORDERED_TYPES,
    "maximum": ORDERED_TYPES,
    "min_length": ("string",),
    "max_length": ("string",),
    "pattern": ("string",),
}


@dataclass(frozen=True, slots=True)
class SchemaParts:
    name: str | None = None
    table: str | None = None
    # (location, entry) of every primaryKey entry that is a string
    primary_key: list[tuple[Loc, str]] = field(default_factory=list)
    # (index, field) of every field that is well-formed on its own
    fields: list[tuple[int, SchemaField]] = field(default_factory=list)
    # names of every field that has a string name, well-formed or not; None when the
    # document has no list of fields to check the primary key against
    field_names: frozenset[str] | None = None
    # keys of the top-level object that are not properties of the model
    extra_keys: frozenset[str] = frozenset()


def check(parts: SchemaParts) -> list[ErrorDetail]:
    return [
        *_schema_names(parts),
        *_misspelt_keys((), parts.extra_keys, TableSchema),
        *(problem for index, f in parts.fields for problem in _field(index, f)),
        *_duplicate_names(parts.fields),
        *_aliases(parts.fields),
        *_primary_key(parts.primary_key, parts.field_names),
    ]


def _error(loc: Loc, message: str) -> ErrorDetail:
    return ErrorDetail(message=message, path=json_path(loc))


def _schema_names(parts: SchemaParts) -> Iterator[ErrorDetail]:
    if parts.name is not None:
        for message in schema_name_problems(parts.name):
            yield _error(("name",), message)
    if parts.table is not None:
        for message in identifier_problems(parts.table):
            yield _error(("x-loadbay", "table"), message)


def _misspelt_keys(at: Loc, keys: Iterable[str], model: type[BaseModel]) -> Iterator[ErrorDetail]:
    """``primary_key`` for ``primaryKey``: kept as an unknown property, it would be ignored."""
    spelling = {
        name: info.alias
        for name, info in model.model_fields.items()
        if info.alias and info.alias != name
    }
    for key in sorted(keys):
        if key in spelling:
            yield _error((*at, key), f"unknown property; Table Schema spells it {spelling[key]!r}")


def _field(index: int, f: SchemaField) -> Iterator[ErrorDetail]:
    at: Loc = ("fields", index)
    for message in identifier_problems(f.name):
        yield _error((*at, "name"), message)
    yield from _misspelt_keys(at, (f.model_extra or {}).keys(), SchemaField)
    yield from _format(at, f)
    yield from _constraints((*at, "constraints"), f)


def _format(at: Loc, f: SchemaField) -> Iterator[ErrorDetail]:
    if f.type == "string":
        valid = f.format in STRING_FORMATS
        allowed = ", ".join(STRING_FORMATS)
    elif f.type in TEMPORAL_TYPES:
        # "any" (guess the layout) is left out on purpose: a guess can read 01/02 as
        # January or February, and loadbay must not load a date it is not sure of.
        valid = f.format == "default" or "%" in f.format
        allowed = "default, or a strptime pattern such as %d/%m/%Y"
    else:
        valid = f.format == "default"
        allowed = "default"
    if not valid:
        yield _error(
            (*at, "format"),
            f"format {shown(f.format)} is not valid for {f.type} fields (valid: {allowed})",
        )


def _constraints(at: Loc, f: SchemaField) -> Iterator[ErrorDetail]:
    c = f.constraints
    applicable: set[str] = set()
    for attr, types in CONSTRAINT_TYPES.items():
        if getattr(c, attr) is None:
            continue
        if f.type in types:
            applicable.add(attr)
        else:
            yield _error(
                (*at, _key(attr)),
                f"{_key(attr)} does not apply to {f.type} fields "
                f"(it applies to: {', '.join(types)})",
            )
    bounds: dict[str, Any] = {}
    for attr in ("minimum", "maximum"):
        if attr in applicable:
            try:
                bounds[attr] = _comparable(cast_constraint_value(f, getattr(c, attr)))
            except ValueError as exc:
                yield _error((*at, attr), f"{exc}, as the field's type is {f.type}")
    if len(bounds) == 2 and bounds["minimum"] > bounds["maximum"]:
        yield _error(
            (*at, "minimum"),
            f"minimum {shown(c.minimum)} is greater than maximum {shown(c.maximum)}",
        )
    if (
        "min_length" in applicable
        and c.min_length is not None
        and c.max_length is not None
        and c.min_length > c.max_length
    ):
        yield _error(
            (*at, "minLength"),
            f"minLength {c.min_length} is greater than maxLength {c.max_length}",
        )
    if "pattern" in applicable and c.pattern is not None:
        problem = _pattern_problem(c.pattern)
        if problem:
            yield _error((*at, "pattern"), problem)
    for index, value in enumerate(c.enum or ()):
        try:
            cast_constraint_value(f, value)
        except ValueError as exc:
            yield _error((*at, "enum", index), f"{exc}, as the field's type is {f.type}")


def _key(attr: str) -> str:
    """The document's spelling of a constraint attribute (``min_length`` -> ``minLength``)."""
    return Constraints.model_fields[attr].alias or attr


def _comparable(value: Any) -> Any:
    # A naive and an aware time cannot be compared in Python; for ordering the bounds, a
    # value without a time zone counts as UTC.
    if isinstance(value, dt.datetime | dt.time) and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value


def _pattern_problem(pattern: str) -> str | None:
    try:
        re.compile(pattern)
    except re.error as exc:
        where = f" at position {exc.pos}" if exc.pos is not None else ""
        return f"pattern does not compile: {exc.msg}{where}"
    except RecursionError:
        return "pattern does not compile: it is nested too deeply"
    except OverflowError as exc:
        return f"pattern does not compile: {exc}"
    return None


def _duplicate_names(fields: list[tuple[int, SchemaField]]) -> Iterator[ErrorDetail]:
    first: dict[str, int] = {}
    for index, f in fields:
        other = first.setdefault(fold_identifier(f.name), index)
        if other != index and f.name:  # an empty name is reported as such
            yield _error(
                ("fields", index, "name"),
                f"{shown(f.name)} is already the name of $.fields[{other}] "
                "(names are compared ignoring ASCII case, as SQLite compares columns)",
            )


def _aliases(fields: list[tuple[int, SchemaField]]) -> Iterator[ErrorDetail]:
    """Aliases match file headers ignoring case and surrounding spaces, so must be unambiguous."""
    owners: dict[str, int] = {}
    for index, f in fields:
        owners.setdefault(_alias_key(f.name), index)
    seen: dict[str, int] = {}
    for index, f in fields:
        for position, alias in enumerate(f.x_loadbay.aliases):
            loc: Loc = ("fields", index, "x-loadbay", "aliases", position)
            key = _alias_key(alias)
            owner = owners.get(key, index)
            if not key:
                yield _error(loc, "must not be empty")
            elif owner != index:
                yield _error(loc, f"{shown(alias)} is the name of $.fields[{owner}]")
            elif key in seen:
                yield _error(loc, f"{shown(alias)} is already an alias of $.fields[{seen[key]}]")
            else:
                seen[key] = index


def _alias_key(name: str) -> str:
    return name.strip().casefold()


def _primary_key(
    entries: list[tuple[Loc, str]], field_names: frozenset[str] | None
) -> Iterator[ErrorDetail]:
    if field_names is None:
        return
    seen: set[str] = set()
    for loc, entry in entries:
        if entry not in field_names:
            yield _error(loc, f"{shown(entry)} is not a field of this schema")
        elif entry in seen:
            yield _error(loc, f"{shown(entry)} is listed twice")
        seen.add(entry)
