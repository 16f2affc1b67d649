"""Field constraints compiled once into polars predicates over the typed column.

Bounds and enum members are read as the schema registry reads them
(``schemas.values.cast_constraint_value``: the JSON value, or a string in the logical form,
ISO 8601 for dates and times whatever the field's ``format``), then stored like a cell, so
``minimum: "2020-01-01"`` on a date field is a date and ``enum: ["1", 2]`` on an integer
field is ``{1, 2}``. ``pattern`` is a full match (``^(?:pattern)$``) run by polars' Rust regex
engine; a pattern only Python's ``re`` understands (look-around, back-references) falls back to
``re.fullmatch`` over the distinct values. frictionless anchors with ``^pattern$`` instead, so
it differs for top-level alternations (``a|b`` accepts "ab…" there) and lets ``$`` match
before a trailing newline; loadbay keeps the Table Schema meaning: the whole value matches.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import polars as pl

from loadbay.errors import InvalidInput
from loadbay.schemas.model import SchemaField
from loadbay.schemas.values import cast_constraint_value
from loadbay.validation import messages
from loadbay.validation.casting import Caster
from loadbay.validation.errors import Rule, quoted

# What frictionless supports per type (besides required and unique, which every type has).
SUPPORTED: dict[str, frozenset[str]] = {
    "string": frozenset({"minLength", "maxLength", "pattern", "enum"}),
    "boolean": frozenset({"enum"}),
}
_ORDERED = frozenset({"minimum", "maximum", "enum"})
_ENUM_SHOWN = 10


@dataclass(frozen=True, slots=True)
class Check:
    """One constraint: ``failing(typed)`` is True where a non-null value breaks it."""

    rule: Rule
    failing: Callable[[pl.Expr], pl.Expr]
    message: Callable[[pl.Expr], pl.Expr]  # the raw text -> the message


def compile_checks(field: SchemaField, caster: Caster) -> tuple[Check, ...]:
    constraints = field.constraints
    declared = {
        "minimum": constraints.minimum,
        "maximum": constraints.maximum,
        "minLength": constraints.min_length,
        "maxLength": constraints.max_length,
        "pattern": constraints.pattern,
        "enum": constraints.enum,
    }
    supported = SUPPORTED.get(field.type, _ORDERED)
    checks: list[Check] = []
    for name, value in declared.items():
        if value is None:
            continue
        if name not in supported:
            raise _invalid(field, f'constraint "{name}" is not supported by type "{field.type}"')
        checks.append(_BUILDERS[name](field, caster, value))
    return tuple(checks)


def _minimum(field: SchemaField, caster: Caster, declared: Any) -> Check:
    bound = pl.lit(_bound(field, caster, "minimum", declared), dtype=caster.dtype)

    def failing(typed: pl.Expr) -> pl.Expr:
        return _nan_fails(typed < bound, typed, caster)

    return Check(
        "minimum",
        failing,
        lambda raw: messages.text(f"must be at least {declared}, got ", messages.preview(raw)),
    )


def _maximum(field: SchemaField, caster: Caster, declared: Any) -> Check:
    bound = pl.lit(_bound(field, caster, "maximum", declared), dtype=caster.dtype)

    def failing(typed: pl.Expr) -> pl.Expr:
        return _nan_fails(typed > bound, typed, caster)

    return Check(
        "maximum",
        failing,
        lambda raw: messages.text(f"must be at most {declared}, got ", messages.preview(raw)),
    )


def _nan_fails(broken: pl.Expr, typed: pl.Expr, caster: Caster) -> pl.Expr:
    # frictionless: NaN passes no bound. polars orders NaN above every number instead.
    return broken | typed.is_nan() if caster.dtype == pl.Float64 else broken


def _bound(field: SchemaField, caster: Caster, name: str, declared: Any) -> object:
    try:
        return _stored(field, caster, declared)
    except ValueError as exc:  # OutOfRange too
        raise _invalid(field, f"{name} {declared!r} cannot be read: {exc}") from exc


def _stored(field: SchemaField, caster: Caster, declared: Any) -> object:
    """A constraint value as the typed column holds it; ValueError when it is none."""
    return caster.store(cast_constraint_value(field, declared))


def _min_length(field: SchemaField, caster: Caster, declared: Any) -> Check:
    return Check(
        "minLength",
        lambda typed: typed.str.len_chars() < declared,
        lambda raw: messages.text(
            f"must be at least {declared} characters long, got ",
            raw.str.len_chars().cast(pl.String),
        ),
    )


def _max_length(field: SchemaField, caster: Caster, declared: Any) -> Check:
    return Check(
        "maxLength",
        lambda typed: typed.str.len_chars() > declared,
        lambda raw: messages.text(
            f"must be at most {declared} characters long, got ",
            raw.str.len_chars().cast(pl.String),
        ),
    )


def _pattern(field: SchemaField, caster: Caster, declared: Any) -> Check:
    anchored = f"^(?:{declared})$"
    message = f"does not match the pattern {quoted(declared)}"
    if _rust_regex_compiles(anchored):
        return Check(
            "pattern", lambda typed: ~typed.str.contains(anchored), lambda _: pl.lit(message)
        )
    try:
        compiled = re.compile(declared)
    except re.error as exc:
        raise _invalid(field, f"pattern {declared!r} is not a valid regular expression") from exc

    def mismatches(values: pl.Series) -> pl.Series:
        distinct = values.drop_nulls().unique()
        mismatched = [text for text in distinct.to_list() if not compiled.fullmatch(text)]
        return values.is_in(pl.Series(mismatched, dtype=pl.String).implode())

    return Check(
        "pattern",
        lambda typed: typed.map_batches(mismatches, return_dtype=pl.Boolean),
        lambda _: pl.lit(message),
    )


def _rust_regex_compiles(pattern: str) -> bool:
    try:
        pl.Series([""], dtype=pl.String).str.contains(pattern)
    except pl.exceptions.ComputeError:
        return False
    return True


def _enum(field: SchemaField, caster: Caster, declared: Any) -> Check:
    members: list[object] = []
    for item in declared:
        try:
            stored = _stored(field, caster, item)
        except ValueError as exc:
            raise _invalid(field, f"enum value {item!r} cannot be read: {exc}") from exc
        if isinstance(stored, float) and math.isnan(stored):
            continue  # NaN equals nothing, not even NaN
        members.append(stored)
    allowed = pl.Series(members, dtype=caster.dtype)
    shown = ", ".join(quoted(str(item)) for item in declared[:_ENUM_SHOWN])
    if len(declared) > _ENUM_SHOWN:
        shown += f", … ({len(declared)} values)"
    return Check(
        "enum",
        lambda typed: ~typed.is_in(allowed.implode()),
        lambda raw: messages.text(f"must be one of {shown}; got ", messages.quoted(raw)),
    )


_BUILDERS: dict[str, Callable[[SchemaField, Caster, Any], Check]] = {
    "minimum": _minimum,
    "maximum": _maximum,
    "minLength": _min_length,
    "maxLength": _max_length,
    "pattern": _pattern,
    "enum": _enum,
}


def _invalid(field: SchemaField, message: str) -> InvalidInput:
    return InvalidInput(f'field "{field.name}": {message}')
