"""A Table Schema compiled once: per field the cast, the constraint predicates, the dtypes.

Everything derived from the schema text — regexes checked, bounds and enum members cast to
the field's type, strptime formats checked, output dtypes — is computed here, so validating a
batch only evaluates ready-made polars expressions.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

import polars as pl

from loadbay.errors import InvalidInput
from loadbay.schemas.model import TableSchema
from loadbay.validation.casting import Caster, caster_for
from loadbay.validation.constraints import Check, compile_checks

ROW_COLUMN = "_loadbay_row"


@dataclass(frozen=True, slots=True)
class CompiledField:
    name: str
    position: int
    caster: Caster
    required: bool  # constraints.required, or part of the primary key
    unique: bool
    checks: tuple[Check, ...]
    # Whether the fast cast reads some missing value (say "" as a string): only then must
    # missing cells be nulled explicitly.
    reads_missing: bool

    @property
    def dtype(self) -> pl.DataType:
        return self.caster.dtype

    def cast(self, raw: pl.Expr, kind: pl.Expr | None, missing: pl.Expr) -> pl.Expr:
        """The fast cast of a batch's cells: typed, or null when missing or declined."""
        caster = self.caster
        typed = caster.fast(raw)
        if kind is not None:
            typed = pl.when(kind.is_in(list(caster.text_kinds))).then(typed).otherwise(None)
            for code, special in caster.special.items():
                typed = pl.when(kind == code).then(special(raw)).otherwise(typed)
        if kind is not None or self.reads_missing:
            typed = pl.when(missing).then(None).otherwise(typed)
        return typed.cast(caster.dtype)

    def declined(self, failed: pl.Expr, kind: pl.Expr | None) -> pl.Expr | None:
        """Of the cells that ``failed`` their type, those a closer look may still accept
        (None: there are none, the fast cast is exact). ``caster.hopeless`` narrows them
        further, but costs a regex: it is applied to these cells only."""
        if self.caster.fast_is_exact:
            return None
        if kind is None:
            return failed
        return failed & kind.is_in(list(self.caster.text_kinds))


@dataclass(frozen=True, slots=True)
class CompiledSchema:
    schema: TableSchema
    fields: tuple[CompiledField, ...]
    primary_key: tuple[str, ...]
    missing_values: tuple[str, ...]
    # Record keys (names, then x-loadbay aliases) -> field name, for JSON records.
    key_to_field: dict[str, str]

    @property
    def field_names(self) -> list[str]:
        return [field.name for field in self.fields]

    @property
    def output_schema(self) -> pl.Schema:
        """Columns of ``BatchResult.valid``: the typed fields in order, then the row number."""
        return pl.Schema(
            [(field.name, field.dtype) for field in self.fields] + [(ROW_COLUMN, pl.Int64())]
        )

    def field(self, name: str) -> CompiledField:
        for field in self.fields:
            if field.name == name:
                return field
        raise KeyError(name)


def compile_schema(schema: TableSchema) -> CompiledSchema:
    """Compile ``schema``; ``InvalidInput`` names what loadbay cannot validate.

    Compiled schemas are kept in a small LRU keyed by the schema's canonical JSON, so calling
    this per import (or per API request) is cheap.
    """
    document = schema.model_dump_json(by_alias=True)
    with _CACHE_LOCK:
        compiled = _CACHE.get(document)
        if compiled is not None:
            _CACHE.move_to_end(document)
            return compiled
    compiled = _compile(schema)
    with _CACHE_LOCK:
        _CACHE[document] = compiled
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return compiled


_CACHE: OrderedDict[str, CompiledSchema] = OrderedDict()
_CACHE_LOCK = threading.Lock()
_CACHE_SIZE = 128


def _compile(schema: TableSchema) -> CompiledSchema:
    names = schema.field_names
    if ROW_COLUMN in names:
        raise InvalidInput(f'the field name "{ROW_COLUMN}" is reserved')
    for key in schema.primary_key:
        if key not in names:
            raise InvalidInput(f'primary key field "{key}" is not a field of the schema')
    fields = []
    for position, field in enumerate(schema.fields):
        caster = caster_for(field)
        fields.append(
            CompiledField(
                name=field.name,
                position=position,
                caster=caster,
                required=schema.is_required(field.name),
                unique=field.constraints.unique,
                checks=compile_checks(field, caster),
                reads_missing=_reads_any(caster, schema.missing_values),
            )
        )
    key_to_field = {alias: f.name for f in schema.fields for alias in f.x_loadbay.aliases}
    key_to_field.update({name: name for name in names})  # a real name beats an alias
    return CompiledSchema(
        schema=schema,
        fields=tuple(fields),
        primary_key=tuple(schema.primary_key),
        missing_values=tuple(schema.missing_values),
        key_to_field=key_to_field,
    )


def _reads_any(caster: Caster, texts: list[str]) -> bool:
    cells = pl.Series(texts, dtype=pl.String)
    return bool(pl.select(caster.fast(pl.lit(cells)).is_not_null().any()).item())
