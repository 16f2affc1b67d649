"""ensure_table against a real database: creation, evolution, and tables it must refuse."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from loadbay.destinations.errors import ColumnMismatch, LoadConflict, TableMismatch
from loadbay.destinations.sql import SqlDestination
from loadbay.errors import Conflict
from tests.destinations.helpers import batch, columns, make_schema, query, read

ALL_TYPES: list[dict[str, Any]] = [
    {"name": "id", "type": "integer"},
    {"name": "name", "type": "string", "constraints": {"required": True}},
    {"name": "email", "type": "string", "constraints": {"unique": True}},
    {"name": "score", "type": "number"},
    {"name": "active", "type": "boolean"},
    {"name": "born", "type": "date"},
    {"name": "seen", "type": "datetime"},
    {"name": "at", "type": "time"},
    {"name": "year", "type": "year"},
]

EXPECTED_COLUMNS = {
    "postgres": [
        ("id", "bigint", True),
        ("name", "text", True),
        ("email", "text", False),
        ("score", "double precision", False),
        ("active", "boolean", False),
        ("born", "date", False),
        ("seen", "timestamp with time zone", False),
        ("at", "time without time zone", False),
        ("year", "integer", False),
        ("_loadbay_import_id", "uuid", True),
        ("_loadbay_row", "bigint", True),
    ],
    "sqlite": [
        ("id", "INTEGER", True),  # a primary key of one integer: the rowid itself
        ("name", "TEXT", True),
        ("email", "TEXT", False),
        ("score", "REAL", False),
        ("active", "BOOLEAN", False),
        ("born", "DATE", False),
        ("seen", "TIMESTAMP", False),
        ("at", "TIME", False),
        ("year", "INTEGER", False),
        ("_loadbay_import_id", "TEXT", True),
        ("_loadbay_row", "BIGINT", True),
    ],
}

# What an existing bigint column is called in each database's catalog.
BIGINT = {"postgres": "bigint", "sqlite": "BIGINT"}


def test_creates_typed_table_with_keys(
    destination: SqlDestination, target_engine: sa.Engine, backend: str
) -> None:
    schema = make_schema(ALL_TYPES, primaryKey="id")

    destination.ensure_table(schema)

    assert columns(target_engine, "people") == EXPECTED_COLUMNS[backend]
    inspector = sa.inspect(target_engine)
    assert inspector.get_pk_constraint("people")["constrained_columns"] == ["id"]
    # PostgreSQL: constraints; SQLite: unique indexes of their own, which a load into the
    # empty table can drop and build again after the rows.
    unique = sorted(c["column_names"] for c in inspector.get_unique_constraints("people"))
    if backend == "sqlite":
        unique += sorted(i["column_names"] for i in inspector.get_indexes("people") if i["unique"])
        # INTEGER PRIMARY KEY is an alias of the rowid: rows are kept in its order, with no
        # index of its own to maintain.
        pk_indexes = "SELECT count(*) FROM pragma_index_list('people') WHERE origin = 'pk'"
        assert query(target_engine, pk_indexes) == [(0,)]
    assert unique == [["email"]]


def test_composite_primary_key_columns_are_not_null(
    destination: SqlDestination, target_engine: sa.Engine
) -> None:
    schema = make_schema(
        [{"name": "a", "type": "string"}, {"name": "b", "type": "date"}, {"name": "c"}],
        primaryKey=["b", "a"],
    )

    destination.ensure_table(schema)

    assert [(n, nn) for n, _, nn in columns(target_engine, "people")][:3] == [
        ("a", True),
        ("b", True),
        ("c", False),
    ]
    assert sa.inspect(target_engine).get_pk_constraint("people")["constrained_columns"] == [
        "b",
        "a",
    ]


def test_ensure_table_twice_changes_nothing(
    destination: SqlDestination, target_engine: sa.Engine, backend: str
) -> None:
    schema = make_schema(ALL_TYPES, primaryKey="id")
    destination.ensure_table(schema)
    destination.ensure_table(schema)
    assert columns(target_engine, "people") == EXPECTED_COLUMNS[backend]


def test_table_name_comes_from_x_loadbay(
    destination: SqlDestination, target_engine: sa.Engine
) -> None:
    destination.ensure_table(make_schema([{"name": "a"}], **{"x-loadbay": {"table": "crm_people"}}))
    assert sorted(sa.inspect(target_engine).get_table_names()) == ["_loadbay_loads", "crm_people"]


def test_added_nullable_fields_become_columns(
    destination: SqlDestination, target_engine: sa.Engine, backend: str
) -> None:
    v1 = make_schema([{"name": "id", "type": "integer"}], primaryKey="id")
    destination.load(v1, [batch(v1, [{"id": 1}])], import_id=uuid.uuid4(), mode="insert")
    v2 = make_schema(
        [
            {"name": "id", "type": "integer"},
            {"name": "nickname", "type": "string"},
            {"name": "code", "type": "integer", "constraints": {"unique": True}},
        ],
        primaryKey="id",
    )

    destination.ensure_table(v2)

    assert columns(target_engine, "people")[-2:] == [
        ("nickname", "text" if backend == "postgres" else "TEXT", False),
        ("code", BIGINT[backend], False),
    ]
    destination.load(
        v2,
        [batch(v2, [{"id": 2, "nickname": "Bo", "code": 7}], first_row=1)],
        import_id=uuid.uuid4(),
        mode="insert",
    )
    rows = query(target_engine, "SELECT id, nickname, code FROM people ORDER BY id")
    assert rows == [(1, None, None), (2, "Bo", 7)]
    # The added unique column is unique.
    with pytest.raises(LoadConflict) as caught:
        destination.load(
            v2,
            [batch(v2, [{"id": 3, "code": 8}, {"id": 4, "code": 8}])],
            import_id=uuid.uuid4(),
            mode="insert",
        )
    assert [(e.row, e.message) for e in caught.value.errors] == [
        (1, 'key ("code") = (8) repeats within this import'),
        (2, 'key ("code") = (8) repeats within this import'),
    ]


def test_added_required_field_is_a_mismatch(
    destination: SqlDestination, target_engine: sa.Engine
) -> None:
    destination.ensure_table(make_schema([{"name": "id", "type": "integer"}]))
    v2 = make_schema(
        [
            {"name": "id", "type": "integer"},
            {"name": "email", "type": "string", "constraints": {"required": True}},
        ]
    )

    with pytest.raises(TableMismatch) as caught:
        destination.ensure_table(v2)

    assert caught.value.detail == (
        'table "people" does not match the schema: '
        'column "email": expected TEXT NOT NULL, found no such column'
    )
    assert caught.value.mismatches == [ColumnMismatch("email", "TEXT NOT NULL", "no such column")]
    assert [c[0] for c in columns(target_engine, "people")] == [
        "id",
        "_loadbay_import_id",
        "_loadbay_row",
    ]


def test_type_change_is_a_mismatch_naming_table_column_and_types(
    destination: SqlDestination, backend: str
) -> None:
    destination.ensure_table(make_schema([{"name": "age", "type": "integer"}]))

    with pytest.raises(TableMismatch) as caught:
        destination.ensure_table(make_schema([{"name": "age", "type": "string"}]))

    error = caught.value
    assert isinstance(error, Conflict)
    assert error.detail == (
        f'table "people" does not match the schema: '
        f'column "age": expected TEXT, found {BIGINT[backend]}'
    )
    assert error.extra == {"table": "people"}
    [detail] = error.errors
    assert (detail.column, detail.rule) == ("age", "table-mismatch")


def test_optional_field_over_not_null_column_is_a_mismatch(
    destination: SqlDestination, backend: str
) -> None:
    required = {"name": "a", "type": "integer", "constraints": {"required": True}}
    destination.ensure_table(make_schema([required]))

    with pytest.raises(TableMismatch) as caught:
        destination.ensure_table(make_schema([{"name": "a", "type": "integer"}]))

    assert caught.value.mismatches == [
        ColumnMismatch("a", "BIGINT (nullable)", f"{BIGINT[backend]} NOT NULL")
    ]


def test_changed_primary_key_is_a_mismatch(destination: SqlDestination) -> None:
    fields: list[dict[str, Any]] = [{"name": "a", "type": "integer"}, {"name": "b"}]
    destination.ensure_table(make_schema(fields, primaryKey="a"))

    with pytest.raises(TableMismatch) as caught:
        destination.ensure_table(make_schema(fields, primaryKey=["a", "b"]))

    assert caught.value.mismatches == [
        ColumnMismatch(
            "a, b",
            "PRIMARY KEY (a, b)",
            "no primary key or unique index on exactly these columns",
        )
    ]


def test_existing_compatible_table_is_used(
    destination: SqlDestination, target_engine: sa.Engine, backend: str
) -> None:
    """A table made by hand: wider types, an extra nullable column, a defaulted NOT NULL one."""
    uuid_type = "UUID" if backend == "postgres" else "TEXT"
    # On SQLite, INTEGER PRIMARY KEY is the rowid: a primary key without an index.
    id_type = "BIGINT" if backend == "postgres" else "INTEGER"
    query(
        target_engine,
        f"CREATE TABLE people (id {id_type} PRIMARY KEY, name VARCHAR, note TEXT, "
        "created TEXT NOT NULL DEFAULT 'now', "
        f"_loadbay_import_id {uuid_type} NOT NULL, _loadbay_row BIGINT NOT NULL, "
        "UNIQUE (_loadbay_row, _loadbay_import_id))",
    )
    schema = make_schema([{"name": "id", "type": "integer"}, {"name": "name"}], primaryKey="id")

    loaded = destination.load(
        schema, [batch(schema, [{"id": 1, "name": "Ann"}])], import_id=uuid.uuid4(), mode="upsert"
    )

    assert loaded == 1
    assert query(target_engine, "SELECT id, name, note, created FROM people") == [
        (1, "Ann", None, "now")
    ]


def test_foreign_not_null_column_and_missing_bookkeeping_are_mismatches(
    destination: SqlDestination, target_engine: sa.Engine, backend: str
) -> None:
    query(target_engine, "CREATE TABLE people (id BIGINT, owner TEXT NOT NULL)")
    text = "text" if backend == "postgres" else "TEXT"

    with pytest.raises(TableMismatch) as caught:
        destination.ensure_table(make_schema([{"name": "id", "type": "integer"}]))

    uuid_type = "UUID" if backend == "postgres" else "TEXT"
    assert caught.value.mismatches == [
        ColumnMismatch("_loadbay_import_id", f"{uuid_type} NOT NULL", "no such column"),
        ColumnMismatch("_loadbay_row", "BIGINT NOT NULL", "no such column"),
        ColumnMismatch(
            "owner",
            "a nullable column or one with a default (the schema has no such field)",
            f"{text} NOT NULL without a default",
        ),
    ]


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("x" * 64, "is 64 bytes long in UTF-8"),
        ("é" * 32, "is 64 bytes long in UTF-8"),
        ("a\x00b", "must not contain control characters"),
        ("_loadbay_row", "reserved for loadbay"),
    ],
)
def test_unusable_names_are_refused_before_any_sql(
    destination: SqlDestination, target_engine: sa.Engine, name: str, problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        destination.ensure_table(make_schema([{"name": name}]))
    with pytest.raises(ValueError, match=problem):
        destination.ensure_table(make_schema([{"name": "a"}], **{"x-loadbay": {"table": name}}))
    assert sa.inspect(target_engine).get_table_names() == []


def test_names_equal_ignoring_case_are_refused(destination: SqlDestination) -> None:
    with pytest.raises(ValueError, match="repeat"):
        destination.ensure_table(make_schema([{"name": "Email"}, {"name": "email"}]))


def test_mismatch_reports_every_problem(
    destination: SqlDestination, target_engine: sa.Engine
) -> None:
    destination.ensure_table(
        make_schema([{"name": "a", "type": "integer"}, {"name": "b", "type": "date"}])
    )
    schema = make_schema([{"name": "a", "type": "number"}, {"name": "b", "type": "datetime"}])

    with pytest.raises(TableMismatch) as caught:
        destination.ensure_table(schema)

    assert [m.column for m in caught.value.mismatches] == ["a", "b"]
    assert [e.column for e in caught.value.errors] == ["a", "b"]
    assert read(target_engine, "people", ["a", "b"]) == []
