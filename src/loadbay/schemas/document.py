"""Schema documents: from JSON/YAML values and files to a checked ``TableSchema``, and back.

``parse_schema`` is the only way in. It reports every problem of a document at once, each
with its JSON path: values JSON cannot hold, the Pydantic models' errors, and the rules in
``schemas.rules``.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from loadbay.errors import ErrorDetail, json_path
from loadbay.schemas import rules
from loadbay.schemas.destination import DestinationAuth, HttpDestinationConfig
from loadbay.schemas.errors import InvalidSchema, printable, shown
from loadbay.schemas.model import (
    FIELD_TYPES,
    Constraints,
    FieldExtension,
    SchemaExtension,
    SchemaField,
    TableSchema,
)
from loadbay.schemas.yaml12 import load_yaml

# Table Schema documents are about five levels deep; custom properties get some room, but a
# bound keeps every recursive walk (ours, json.dumps when storing) far from Python's limit.
MAX_DEPTH = 32
_TOO_DEEP = f"nested too deeply (a schema may nest at most {MAX_DEPTH} levels)"

JSON_SUFFIXES = frozenset({".json"})
YAML_SUFFIXES = frozenset({".yaml", ".yml"})
SCHEMA_FILE_SUFFIXES = JSON_SUFFIXES | YAML_SUFFIXES

# Documents are validated strictly (no "5" or true where an integer belongs) and by their
# Table Schema property names only: ``primary_key`` is not ``primaryKey``.
_VALIDATION: dict[str, Any] = {"strict": True, "by_alias": True, "by_name": False}


def parse_schema(document: Any) -> TableSchema:
    """The ``TableSchema`` of a JSON/YAML value, or ``InvalidSchema`` naming every problem."""
    errors = list(_non_json_values(document, ()))
    schema: TableSchema | None
    try:
        schema = TableSchema.model_validate(document, **_VALIDATION)
    except ValidationError as exc:
        schema = None
        errors.extend(_validation_errors(exc))
    errors.extend(rules.check(_parts(document, schema)))
    if errors or schema is None:
        raise InvalidSchema(errors)
    return schema


def load_schema_file(path: Path) -> TableSchema:
    """Parse a ``.json``, ``.yaml`` or ``.yml`` file; the ``InvalidSchema`` it raises names
    the file as its ``source``."""
    try:
        return parse_schema(_read_document(path))
    except InvalidSchema as exc:
        raise InvalidSchema(exc.errors, source=str(path)) from None


def canonical_json(schema: TableSchema) -> str:
    """The stored form: sorted keys, no whitespace, so equal schemas give equal text."""
    return json.dumps(
        schema.to_document(),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    )


def fingerprint(schema: TableSchema) -> str:
    """sha256 (hex) of the canonical JSON."""
    return hashlib.sha256(canonical_json(schema).encode("utf-8")).hexdigest()


def schema_from_canonical(text: str) -> TableSchema:
    """A stored canonical document, already checked when it was registered."""
    return TableSchema.model_validate_json(text, **_VALIDATION)


def _read_document(path: Path) -> Any:
    suffix = path.suffix.lower()
    if suffix not in SCHEMA_FILE_SUFFIXES:
        raise _file_problem(
            f"unsupported file type {shown(suffix)} (expected .json, .yaml or .yml)"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise _file_problem(f"not UTF-8 text: invalid byte at offset {exc.start}") from None
    except OSError as exc:
        raise _file_problem(f"cannot read the file: {exc.strerror or exc}") from None
    try:
        return _decode(text, json_syntax=suffix in JSON_SUFFIXES)
    except RecursionError:
        raise _file_problem(_TOO_DEEP) from None


def _decode(text: str, *, json_syntax: bool) -> Any:
    if json_syntax:
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise _file_problem(
                f"invalid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
            ) from None
        except ValueError as exc:  # e.g. an integer of more than 4,300 digits
            raise _file_problem(f"invalid JSON: {exc}") from None
    try:
        return load_yaml(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        what = ", ".join(part for part in (exc.context, exc.problem) if part)
        raise _file_problem(f"invalid YAML: {what}{where}") from None
    except (yaml.YAMLError, ValueError) as exc:
        raise _file_problem(f"invalid YAML: {exc}") from None


def _file_problem(message: str) -> InvalidSchema:
    return InvalidSchema([ErrorDetail(message=message)])


def _non_json_values(value: Any, loc: tuple[str | int, ...]) -> Iterator[ErrorDetail]:
    """Values a JSON document cannot hold (and so a stored one could not): NaN, Infinity,
    lone surrogates, non-string keys, YAML-only types such as sets and bytes; and nesting
    deeper than ``MAX_DEPTH``."""
    if isinstance(value, dict | list) and len(loc) >= MAX_DEPTH:
        yield _error(loc, _TOO_DEEP)
    elif isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                yield _error(loc, f"keys must be strings, not {shown(key)}")
                continue
            yield from _non_json_values(key, (*loc, key))
            yield from _non_json_values(item, (*loc, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _non_json_values(item, (*loc, index))
    elif isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            code = ord(value[exc.start])
            yield _error(loc, f"contains a lone surrogate U+{code:04X}, which is not valid Unicode")
    elif isinstance(value, float):
        if not math.isfinite(value):
            yield _error(loc, "NaN and Infinity are not valid JSON numbers")
    elif value is not None and not isinstance(value, bool | int):
        yield _error(loc, f"a {type(value).__name__} is not a JSON value")


def _error(loc: tuple[str | int, ...], message: str) -> ErrorDetail:
    # Locations can hold the document's own keys, lone surrogates included.
    return ErrorDetail(message=message, path=printable(json_path(loc)))


def _validation_errors(exc: ValidationError) -> Iterator[ErrorDetail]:
    for err in exc.errors(include_url=False):
        if err["type"] == "string_unicode":
            continue  # a lone surrogate in a key: _non_json_values names it, with its path
        loc = err["loc"]
        yield _error(loc, _message(err["type"], loc, err))


def _message(kind: str, loc: tuple[str | int, ...], err: ErrorDetails) -> str:
    if kind == "literal_error" and len(loc) == 3 and loc[0] == "fields" and loc[2] == "type":
        return f"unsupported type {shown(err['input'])} (supported: {', '.join(FIELD_TYPES)})"
    if kind == "model_type":
        return "must be an object"
    if kind == "value_error":
        return str(err["ctx"]["error"])
    if kind == "extra_forbidden" and len(loc) >= 2:
        model = _FORBIDDING_MODELS.get((loc[-2], len(loc)))
        if model is not None:
            allowed = ", ".join(info.alias or name for name, info in model.model_fields.items())
            return f"unknown property (allowed here: {allowed})"
    return str(err["msg"])


# The models that forbid unknown properties, by (parent key, depth) of an error's location.
_FORBIDDING_MODELS: dict[tuple[str | int, int], type[BaseModel]] = {
    ("x-loadbay", 2): SchemaExtension,
    ("x-loadbay", 4): FieldExtension,
    ("constraints", 4): Constraints,
    ("destination", 3): HttpDestinationConfig,
    ("auth", 4): DestinationAuth,
}


def _parts(document: Any, schema: TableSchema | None) -> rules.SchemaParts:
    """The well-formed parts of a document, for the rules to check."""
    if not isinstance(document, dict):
        return rules.SchemaParts()
    raw_fields = document.get("fields")
    if not isinstance(raw_fields, list):
        raw_fields = None
    if schema is not None:
        fields = list(enumerate(schema.fields))
        table = schema.x_loadbay.table
    else:
        fields = list(_well_formed_fields(raw_fields or []))
        extension = document.get("x-loadbay")
        table = extension.get("table") if isinstance(extension, dict) else None
    name = document.get("name")
    return rules.SchemaParts(
        name=name if isinstance(name, str) else None,
        table=table if isinstance(table, str) else None,
        primary_key=_primary_key_entries(document.get("primaryKey")),
        fields=fields,
        field_names=None if raw_fields is None else frozenset(_raw_field_names(raw_fields)),
        extra_keys=frozenset(k for k in document if isinstance(k, str)) - _SCHEMA_KEYS,
    )


_SCHEMA_KEYS = frozenset(info.alias or attr for attr, info in TableSchema.model_fields.items())


def _raw_field_names(raw_fields: list[Any]) -> Iterator[str]:
    for raw in raw_fields:
        if isinstance(raw, dict) and isinstance(raw.get("name"), str):
            yield raw["name"]


def _well_formed_fields(raw_fields: list[Any]) -> Iterator[tuple[int, SchemaField]]:
    for index, raw in enumerate(raw_fields):
        try:
            yield index, SchemaField.model_validate(raw, **_VALIDATION)
        except ValidationError:
            continue  # its problems are among the document's validation errors already


def _primary_key_entries(raw: Any) -> list[tuple[tuple[str | int, ...], str]]:
    if isinstance(raw, str):  # Table Schema allows a single name
        return [(("primaryKey",), raw)]
    if isinstance(raw, list):
        return [(("primaryKey", i), entry) for i, entry in enumerate(raw) if isinstance(entry, str)]
    return []
