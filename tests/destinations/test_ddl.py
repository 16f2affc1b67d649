"""The dialect-neutral rules: DDL text, judging an existing table, batch shape. No database."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from loadbay.destinations.connection import lock_key
from loadbay.destinations.ddl import (
    ColumnInfo,
    TableShape,
    create_table_sql,
    ledger_table_sql,
    normalise_type_name,
    plan_evolution,
    unique_index_name,
)
from loadbay.destinations.errors import ColumnMismatch, TableMismatch
from loadbay.destinations.frames import conform
from loadbay.destinations.postgres import POSTGRES_TYPES
from loadbay.destinations.sqlite import SQLITE_TYPES, storage_columns
from tests.destinations.helpers import make_schema


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


SCHEMA = make_schema(
    [
        {"name": "id", "type": "integer"},
        {"name": "email", "constraints": {"unique": True, "required": True}},
        {"name": "seen", "type": "datetime"},
    ],
    primaryKey="id",
)
BOOKKEEPING = {
    "_loadbay_import_id": ColumnInfo("uuid", True, False),
    "_loadbay_row": ColumnInfo("bigint", True, False),
}
KEYS = frozenset(
    [frozenset(["id"]), frozenset(["email"]), frozenset(["_loadbay_import_id", "_loadbay_row"])]
)


def shape(columns: dict[str, ColumnInfo], keys: frozenset[frozenset[str]] = KEYS) -> TableShape:
    return TableShape(columns | BOOKKEEPING, keys)


def test_create_table_sql() -> None:
    assert create_table_sql(quote, POSTGRES_TYPES, SCHEMA) == (
        'CREATE TABLE IF NOT EXISTS "people" (\n'
        '  "id" BIGINT NOT NULL,\n'
        '  "email" TEXT NOT NULL UNIQUE,\n'
        '  "seen" TIMESTAMPTZ,\n'
        '  "_loadbay_import_id" UUID NOT NULL,\n'
        '  "_loadbay_row" BIGINT NOT NULL,\n'
        '  PRIMARY KEY ("id")\n'
        ")"
    )


def test_ledger_table_sql() -> None:
    assert ledger_table_sql(quote, SQLITE_TYPES) == (
        'CREATE TABLE IF NOT EXISTS "_loadbay_loads" (\n'
        "  import_id TEXT PRIMARY KEY,\n"
        "  table_name TEXT NOT NULL,\n"
        "  row_count BIGINT NOT NULL\n)"
    )


def test_a_unique_sole_primary_key_gets_no_second_index() -> None:
    schema = make_schema([{"name": "id", "constraints": {"unique": True}}], primaryKey="id")
    assert " UNIQUE," not in create_table_sql(quote, SQLITE_TYPES, schema)


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("BIGINT", "bigint"),
        ("character varying(20)", "character varying(20)"),
        ("  Double   Precision ", "double precision"),
    ],
)
def test_normalise_type_name(raw: str, normal: str) -> None:
    assert normalise_type_name(raw) == normal


def test_compatible_table_needs_nothing() -> None:
    columns = {
        "id": ColumnInfo("bigint", True, False),
        "email": ColumnInfo("character varying", False, False),
        "seen": ColumnInfo("timestamp with time zone", False, False),
    }
    evolution = plan_evolution(SCHEMA, shape(columns), POSTGRES_TYPES)
    assert (evolution.added, evolution.mismatches) == ([], [])


def test_lossy_types_are_mismatches() -> None:
    columns = {
        "id": ColumnInfo("integer", True, False),
        "email": ColumnInfo("character varying(20)", True, False),
        "seen": ColumnInfo("timestamp without time zone", False, False),
    }
    assert plan_evolution(SCHEMA, shape(columns), POSTGRES_TYPES).mismatches == [
        ColumnMismatch("id", "BIGINT", "integer"),
        ColumnMismatch("email", "TEXT", "character varying(20)"),
        ColumnMismatch("seen", "TIMESTAMPTZ", "timestamp without time zone"),
    ]


def test_missing_optional_column_is_added_and_missing_unique_index_is_a_mismatch() -> None:
    columns = {"id": ColumnInfo("bigint", True, False), "email": ColumnInfo("text", True, False)}
    keys = frozenset([frozenset(["id"]), frozenset(["_loadbay_import_id", "_loadbay_row"])])
    evolution = plan_evolution(SCHEMA, shape(columns, keys), POSTGRES_TYPES)
    assert [f.name for f in evolution.added] == ["seen"]
    assert evolution.mismatches == [ColumnMismatch("email", "TEXT UNIQUE", "text without UNIQUE")]


def test_a_table_needs_no_bookkeeping_index() -> None:
    """Loads are recognised by the ledger, not by a UNIQUE (import id, row) index; tables
    made before it keep theirs, and tables without it are fine."""
    columns = {
        "id": ColumnInfo("bigint", True, False),
        "email": ColumnInfo("text", True, False),
        "seen": ColumnInfo("timestamp with time zone", False, False),
        "_loadbay_import_id": ColumnInfo("uuid", True, False),
        "_loadbay_row": ColumnInfo("bigint", True, False),
    }
    keys = frozenset([frozenset(["id"]), frozenset(["email"])])
    assert plan_evolution(SCHEMA, shape(columns, keys), POSTGRES_TYPES).mismatches == []


def test_mismatch_detail_summarises_many_problems() -> None:
    mismatches = [ColumnMismatch(f"c{i}", "TEXT", "bigint") for i in range(5)]
    error = TableMismatch('t"1', mismatches)
    assert error.detail == (
        'table "t\\"1" does not match the schema: column "c0": expected TEXT, found bigint; '
        'column "c1": expected TEXT, found bigint; column "c2": expected TEXT, found bigint; '
        "and 2 more"
    )
    assert len(error.errors) == 5


def test_unique_index_names_fit_postgres_and_differ() -> None:
    first = unique_index_name("a_b", "c")
    assert first != unique_index_name("a", "b_c")
    assert len(first.encode()) <= 63
    assert first == unique_index_name("a_b", "c")


@given(st.text(), st.text())
def test_lock_keys_are_signed_64_bit(kind: str, value: str) -> None:
    key = lock_key(kind, value)
    assert -(2**63) <= key < 2**63
    assert key == lock_key(kind, value)


def test_conform_orders_columns_and_drops_others() -> None:
    frame = pl.DataFrame(
        {
            "extra": [1],
            "_loadbay_row": [7],
            "seen": pl.Series([dt.datetime(2024, 1, 1, tzinfo=dt.UTC)]).dt.cast_time_unit("us"),
            "email": ["a"],
            "id": [1],
        }
    )
    assert conform(frame, SCHEMA.fields).columns == ["id", "email", "seen", "_loadbay_row"]


def test_conform_refuses_a_naive_or_nanosecond_datetime() -> None:
    naive = pl.DataFrame({"seen": [dt.datetime(2024, 1, 1)], "_loadbay_row": [1]})
    with pytest.raises(ValueError, match=r"'seen' is Datetime\(time_unit='us', time_zone=None\)"):
        conform(naive, SCHEMA.fields[2:])
    nano = naive.with_columns(pl.col("seen").dt.replace_time_zone("UTC").dt.cast_time_unit("ns"))
    with pytest.raises(ValueError, match="'seen' is Datetime\\(time_unit='ns'"):
        conform(nano, SCHEMA.fields[2:])


def test_conform_refuses_nulls_in_required_columns() -> None:
    frame = pl.DataFrame({"email": ["a", None], "_loadbay_row": [1, 2]})
    with pytest.raises(ValueError, match=r"nulls in required column\(s\) \['email'\]"):
        conform(frame, SCHEMA.fields[1:2], required=["email"])
    assert conform(frame, SCHEMA.fields[1:2]).height == 2


def test_sqlite_storage_forms() -> None:
    frame = pl.DataFrame(
        {
            "b": [True, False, None],
            "f": [float("nan"), 1.5, None],
            "d": [dt.date(2024, 2, 29), None, dt.date(1, 1, 1)],
            "t": [dt.time(1, 2, 3, 4), None, dt.time(0, 0)],
        }
    )
    assert storage_columns(frame) == [
        [1, 0, None],
        ["NaN", 1.5, None],
        ["2024-02-29", None, "0001-01-01"],
        ["01:02:03.000004", None, "00:00:00.000000"],
    ]
