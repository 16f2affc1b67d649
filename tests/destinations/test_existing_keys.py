"""existing_keys(): which keys of a batch are in the target table already."""

from __future__ import annotations

import datetime as dt
import uuid

import polars as pl
import pytest
import sqlalchemy as sa

from loadbay.destinations.sql import SqlDestination
from tests.destinations.helpers import batch, make_schema, temp_tables

SINGLE = make_schema(
    [
        {"name": "id", "type": "integer"},
        {"name": "email", "type": "string", "constraints": {"unique": True}},
        {"name": "note"},
    ],
    primaryKey="id",
)
COMPOSITE = make_schema(
    [
        {"name": "code", "type": "string"},
        {"name": "day", "type": "date"},
        {"name": "n", "type": "integer"},
    ],
    primaryKey=["code", "day"],
)
DAY = dt.date(2024, 2, 29)


def test_single_column_key(destination: SqlDestination, destination_engine: sa.Engine) -> None:
    rows = [{"id": 1, "email": "a@x"}, {"id": 5, "email": "b@x"}]
    destination.load(SINGLE, [batch(SINGLE, rows)], import_id=uuid.uuid4(), mode="insert")
    keys = pl.DataFrame({"id": [5, 2, None, 1, 5]}, schema={"id": pl.Int64})

    found = destination.existing_keys(SINGLE, keys)

    assert found.dtype == pl.Boolean
    assert found.to_list() == [True, False, False, True, True]
    assert temp_tables(destination_engine) == []


def test_unique_column_key(destination: SqlDestination) -> None:
    rows = [{"id": 1, "email": "a@x"}, {"id": 2, "email": ""}]
    destination.load(SINGLE, [batch(SINGLE, rows)], import_id=uuid.uuid4(), mode="insert")
    keys = pl.DataFrame({"email": ["", None, "A@x", "a@x"]})

    assert destination.existing_keys(SINGLE, keys).to_list() == [True, False, False, True]


def test_composite_key_in_any_column_order(destination: SqlDestination) -> None:
    rows = [{"code": "a", "day": DAY, "n": 1}, {"code": "b", "day": DAY, "n": 2}]
    destination.load(COMPOSITE, [batch(COMPOSITE, rows)], import_id=uuid.uuid4(), mode="insert")
    keys = pl.DataFrame(
        {
            "day": [DAY, DAY, None, dt.date(2024, 3, 1), DAY],
            "code": ["b", "c", "a", "a", None],
        }
    )

    assert destination.existing_keys(COMPOSITE, keys).to_list() == [
        True,
        False,
        False,
        False,
        False,
    ]


def test_missing_table_means_no_key_exists(
    destination: SqlDestination, target_engine: sa.Engine
) -> None:
    found = destination.existing_keys(SINGLE, pl.DataFrame({"id": [1, 2, 3]}))
    assert found.to_list() == [False, False, False]
    assert sa.inspect(target_engine).get_table_names() == []


def test_key_column_not_in_the_table_yet(destination: SqlDestination) -> None:
    destination.ensure_table(make_schema([{"name": "id", "type": "integer"}], primaryKey="id"))
    assert destination.existing_keys(SINGLE, pl.DataFrame({"email": ["a@x"]})).to_list() == [False]


def test_no_keys(destination: SqlDestination) -> None:
    found = destination.existing_keys(SINGLE, pl.DataFrame({"id": []}, schema={"id": pl.Int64}))
    assert found.to_list() == []
    assert found.dtype == pl.Boolean


@pytest.mark.parametrize("columns", [["note"], ["id", "email"], []])
def test_keys_must_be_the_primary_key_or_a_unique_column(
    destination: SqlDestination, columns: list[str]
) -> None:
    keys = pl.DataFrame({c: ["x"] for c in columns})
    with pytest.raises(ValueError, match="keys must be the primary key columns"):
        destination.existing_keys(SINGLE, keys)


def test_key_dtype_is_checked(destination: SqlDestination) -> None:
    destination.ensure_table(SINGLE)
    with pytest.raises(ValueError, match="'id' is String, expected Int64"):
        destination.existing_keys(SINGLE, pl.DataFrame({"id": ["1"]}))
