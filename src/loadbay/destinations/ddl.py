"""Target tables: the DDL a schema asks for, and how an existing table is judged against it.

Dialects differ only in their type names and in how they describe an existing table; both are
passed in (``TypeMap``, ``TableShape``), so the rules here are the same for every backend.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from loadbay.destinations.errors import ColumnMismatch
from loadbay.destinations.frames import IMPORT_ID_COLUMN, ROW_COLUMN
from loadbay.schemas.model import FieldType, SchemaField, TableSchema

Quote = Callable[[str], str]

# Per import, the rows its load committed (``ledger_table_sql``); the prefix is reserved, so
# no schema's table can take the name.
LEDGER_TABLE = "_loadbay_loads"


@dataclass(frozen=True, slots=True)
class ColumnType:
    """The type loadbay creates (``ddl``) and the existing types that hold the same values
    losslessly (``accepts``, as normalised by ``normalise_type_name``)."""

    ddl: str
    accepts: frozenset[str]

    def admits(self, type_name: str) -> bool:
        return normalise_type_name(type_name) in self.accepts


@dataclass(frozen=True, slots=True)
class TypeMap:
    fields: Mapping[FieldType, ColumnType]
    import_id: ColumnType
    row: ColumnType
    # The type name that makes a primary key of one integer column the table's own row key
    # (SQLite's INTEGER PRIMARY KEY, an alias of the rowid, with no index of its own); a
    # name ``fields["integer"]`` accepts.
    rowid_key: str | None = None


@dataclass(frozen=True, slots=True)
class ColumnInfo:
    type_name: str
    not_null: bool
    has_default: bool


@dataclass(frozen=True, slots=True)
class TableShape:
    """An existing table as its database describes it."""

    columns: Mapping[str, ColumnInfo]
    # Column sets of the primary key and of every full (non-partial) unique index.
    unique_keys: frozenset[frozenset[str]]


@dataclass(frozen=True, slots=True)
class Evolution:
    """What ``ensure_table`` must do to an existing table: add columns, or give up."""

    added: list[SchemaField]
    mismatches: list[ColumnMismatch]


def normalise_type_name(name: str) -> str:
    """Lower case, single spaces. Modifiers stay: ``varchar(20)`` is not ``varchar``."""
    return " ".join(name.lower().split())


def needs_unique_index(schema: TableSchema, field: SchemaField) -> bool:
    """A unique field needs its own index, unless it is the whole primary key already."""
    return field.constraints.unique and schema.primary_key != [field.name]


def unique_index_name(table: str, column: str) -> str:
    """A name for the unique index of a column added later (CREATE TABLE names its own).

    Hashed so that it fits PostgreSQL's 63 bytes whatever the table and column are called.
    """
    digest = hashlib.sha256(f"{table}\x00{column}".encode("utf-8", "surrogatepass")).hexdigest()
    return f"loadbay_uq_{digest[:24]}"


def column_definition(quote: Quote, types: TypeMap, schema: TableSchema, field: SchemaField) -> str:
    type_name = types.fields[field.type].ddl
    if types.rowid_key and field.type == "integer" and schema.primary_key == [field.name]:
        type_name = types.rowid_key
    sql = f"{quote(field.name)} {type_name}"
    return sql + " NOT NULL" if schema.is_required(field.name) else sql


def create_table_sql(
    quote: Quote, types: TypeMap, schema: TableSchema, *, inline_unique: bool = True
) -> str:
    """The table's CREATE statement; with ``inline_unique=False`` its unique keys (all but
    the primary key) are left to ``unique_index_sql``."""
    parts = [
        column_definition(quote, types, schema, f)
        + (" UNIQUE" if inline_unique and needs_unique_index(schema, f) else "")
        for f in schema.fields
    ]
    parts += [
        f"{quote(IMPORT_ID_COLUMN)} {types.import_id.ddl} NOT NULL",
        f"{quote(ROW_COLUMN)} {types.row.ddl} NOT NULL",
    ]
    if schema.primary_key:
        parts.append(f"PRIMARY KEY ({', '.join(map(quote, schema.primary_key))})")
    body = ",\n  ".join(parts)
    return f"CREATE TABLE IF NOT EXISTS {quote(schema.table_name)} (\n  {body}\n)"


def unique_index_sql(quote: Quote, schema: TableSchema) -> list[str]:
    """The unique keys ``create_table_sql(inline_unique=False)`` leaves out, as indexes of
    their own (which, unlike SQLite's indexes of inline constraints, can be dropped and built
    again around a bulk move)."""
    table = schema.table_name
    keys = [[f.name] for f in schema.fields if needs_unique_index(schema, f)]
    return [
        f"CREATE UNIQUE INDEX {quote(unique_index_name(table, ','.join(key)))} "
        f"ON {quote(table)} ({', '.join(map(quote, key))})"
        for key in keys
    ]


def ledger_table_sql(quote: Quote, types: TypeMap) -> str:
    """The target database's record of the loads that committed there, one row per import,
    written in the load's own transaction: a load run again (a job retried after a crash)
    finds its import in it and adds nothing."""
    return (
        f"CREATE TABLE IF NOT EXISTS {quote(LEDGER_TABLE)} (\n"
        f"  import_id {types.import_id.ddl} PRIMARY KEY,\n"
        f"  table_name TEXT NOT NULL,\n"
        f"  row_count {types.row.ddl} NOT NULL\n)"
    )


def temp_columns_sql(quote: Quote, types: TypeMap, fields: Sequence[SchemaField]) -> str:
    """Columns of a staging table: the fields' types, no constraints, then the row number."""
    parts = [f"{quote(f.name)} {types.fields[f.type].ddl}" for f in fields]
    parts.append(f"{quote(ROW_COLUMN)} {types.row.ddl}")
    return ", ".join(parts)


def plan_evolution(schema: TableSchema, shape: TableShape, types: TypeMap) -> Evolution:
    added: list[SchemaField] = []
    mismatches: list[ColumnMismatch] = []
    for field in schema.fields:
        column_type = types.fields[field.type]
        required = schema.is_required(field.name)
        info = shape.columns.get(field.name)
        if info is None:
            if required:
                mismatches.append(
                    ColumnMismatch(field.name, f"{column_type.ddl} NOT NULL", "no such column")
                )
            else:
                added.append(field)
            continue
        mismatches += _column_mismatches(field.name, column_type, info, required=required)
        if needs_unique_index(schema, field) and frozenset([field.name]) not in shape.unique_keys:
            mismatches.append(
                ColumnMismatch(
                    field.name, f"{column_type.ddl} UNIQUE", f"{info.type_name} without UNIQUE"
                )
            )
    for name, column_type in ((IMPORT_ID_COLUMN, types.import_id), (ROW_COLUMN, types.row)):
        info = shape.columns.get(name)
        if info is None:
            mismatches.append(ColumnMismatch(name, f"{column_type.ddl} NOT NULL", "no such column"))
        else:
            mismatches += _column_mismatches(name, column_type, info, required=True)
    mismatches += _key_mismatches(schema, shape)
    known = {*schema.field_names, IMPORT_ID_COLUMN, ROW_COLUMN}
    for name, info in shape.columns.items():
        if name not in known and info.not_null and not info.has_default:
            # Every insert would fail on it: loadbay has no value to give.
            mismatches.append(
                ColumnMismatch(
                    name,
                    "a nullable column or one with a default (the schema has no such field)",
                    f"{info.type_name} NOT NULL without a default",
                )
            )
    return Evolution(added, mismatches)


def _column_mismatches(
    name: str, column_type: ColumnType, info: ColumnInfo, *, required: bool
) -> list[ColumnMismatch]:
    if not column_type.admits(info.type_name):
        return [ColumnMismatch(name, column_type.ddl, info.type_name)]
    if info.not_null and not required:
        return [ColumnMismatch(name, f"{column_type.ddl} (nullable)", f"{info.type_name} NOT NULL")]
    return []


def _key_mismatches(schema: TableSchema, shape: TableShape) -> list[ColumnMismatch]:
    keys: list[tuple[list[str], str]] = []
    if schema.primary_key:
        keys.append((schema.primary_key, "PRIMARY KEY"))
    mismatches = []
    for columns, kind in keys:
        present = all(c in shape.columns for c in columns)
        # A missing key column is reported already; its index cannot exist either.
        if present and frozenset(columns) not in shape.unique_keys:
            mismatches.append(
                ColumnMismatch(
                    ", ".join(columns),
                    f"{kind} ({', '.join(columns)})",
                    "no primary key or unique index on exactly these columns",
                )
            )
    return mismatches
