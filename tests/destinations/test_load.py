"""load(): the three modes, all-or-nothing, retries, conflicts, hostile names, volume."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import sqlalchemy as sa

from loadbay.db import create_engine
from loadbay.destinations.errors import LoadConflict, UpsertRequiresPrimaryKey
from loadbay.destinations.sql import SqlDestination
from loadbay.destinations.sqlite import LOAD_CACHE_KIB, WRITE_WAIT_MS, SqliteConnection
from loadbay.errors import ErrorDetail, InvalidInput
from loadbay.schemas.model import TableSchema
from tests.destinations.helpers import (
    HOSTILE_FIELDS,
    HOSTILE_TABLE,
    batch,
    make_schema,
    never_read,
    query,
    quote,
    read,
    temp_tables,
)

PEOPLE_FIELDS: list[dict[str, Any]] = [
    {"name": "id", "type": "integer"},
    {"name": "name", "type": "string", "constraints": {"required": True}},
    {"name": "email", "type": "string", "constraints": {"unique": True}},
]
PEOPLE = make_schema(PEOPLE_FIELDS, primaryKey="id")


def person(i: int, name: str | None = None) -> dict[str, Any]:
    return {"id": i, "name": name or f"P{i}", "email": f"p{i}@example.com"}


def people(engine: sa.Engine) -> list[tuple[Any, ...]]:
    return query(engine, "SELECT id, name, email FROM people ORDER BY id")


def load(
    destination: SqlDestination,
    rows: list[dict[str, Any]],
    mode: Any = "insert",
    *,
    import_id: uuid.UUID | None = None,
    schema: TableSchema = PEOPLE,
) -> int:
    return destination.load(
        schema, [batch(schema, rows)], import_id=import_id or uuid.uuid4(), mode=mode
    )


@pytest.fixture
def seeded(destination: SqlDestination) -> uuid.UUID:
    """People 1 and 2, loaded by one import whose id is returned."""
    import_id = uuid.uuid4()
    assert load(destination, [person(1), person(2)], import_id=import_id) == 2
    return import_id


def test_insert_loads_every_batch(destination: SqlDestination, target_engine: sa.Engine) -> None:
    import_id = uuid.uuid4()
    batches = [
        batch(PEOPLE, [person(1), person(2)], first_row=1),
        batch(PEOPLE, [], first_row=3),
        batch(PEOPLE, [person(3)], first_row=3),
    ]

    loaded = destination.load(PEOPLE, iter(batches), import_id=import_id, mode="insert")

    assert loaded == 3
    assert people(target_engine) == [
        (1, "P1", "p1@example.com"),
        (2, "P2", "p2@example.com"),
        (3, "P3", "p3@example.com"),
    ]
    stored_ids = query(target_engine, "SELECT DISTINCT _loadbay_import_id FROM people")
    assert [str(i) for (i,) in stored_ids] == [str(import_id)]
    assert read(target_engine, "people", ["_loadbay_row"]) == [(1,), (2,), (3,)]
    assert destination.count_rows(PEOPLE) == 3
    assert destination.count_rows(PEOPLE, import_id=import_id) == 3
    assert destination.count_rows(PEOPLE, import_id=uuid.uuid4()) == 0


def test_insert_key_conflict_changes_nothing(
    destination: SqlDestination,
    destination_engine: sa.Engine,
    target_engine: sa.Engine,
    seeded: uuid.UUID,
) -> None:
    with pytest.raises(LoadConflict) as caught:
        load(destination, [person(3), person(2, "Bob"), person(4)])

    error = caught.value
    assert error.detail == (
        'nothing was loaded into table "people": 1 row(s) have a key that exists in the '
        "table already or repeats within the import"
    )
    assert error.errors == [
        ErrorDetail(
            'key ("id") = (2) exists in the table already',
            row=2,
            column="id",
            value=2,
            rule="primaryKey",
        ),
        ErrorDetail(
            'key ("email") = ("p2@example.com") exists in the table already',
            row=2,
            column="email",
            value="p2@example.com",
            rule="unique",
        ),
    ]
    assert people(target_engine) == [(1, "P1", "p1@example.com"), (2, "P2", "p2@example.com")]
    assert temp_tables(destination_engine) == []


def test_unique_column_conflict_is_a_load_conflict(
    destination: SqlDestination, target_engine: sa.Engine, seeded: uuid.UUID
) -> None:
    clash = {"id": 9, "name": "Nine", "email": "p1@example.com"}
    with pytest.raises(LoadConflict) as caught:
        load(destination, [clash])

    assert [(e.row, e.column, e.rule) for e in caught.value.errors] == [(1, "email", "unique")]
    assert destination.count_rows(PEOPLE) == 2


def test_key_repeated_within_the_import_is_a_load_conflict(
    destination: SqlDestination, target_engine: sa.Engine
) -> None:
    rows = [person(1), person(2), {"id": 1, "name": "again", "email": "other@example.com"}]
    with pytest.raises(LoadConflict) as caught:
        load(destination, rows)

    assert [(e.row, e.message) for e in caught.value.errors] == [
        (1, 'key ("id") = (1) repeats within this import'),
        (3, 'key ("id") = (1) repeats within this import'),
    ]
    assert people(target_engine) == []


def id_again(repeated: int) -> Iterator[pl.DataFrame]:
    """Rows 1-2 (ids 1, 2) in a batch, then rows 3-4 (id 3, and ``repeated`` once more)."""
    yield batch(PEOPLE, [person(1), person(2)])
    again = {"id": repeated, "name": "again", "email": "x@example.com"}
    yield batch(PEOPLE, [person(3), again], first_row=3)


def test_key_repeated_across_batches_into_an_empty_table_names_both_rows(
    destination: SqlDestination, target_engine: sa.Engine
) -> None:
    """Into an empty table the rows go straight in (SQLite keeps its inline primary key
    meanwhile, PostgreSQL builds its keys after them): either way both rows are named."""
    with pytest.raises(LoadConflict) as caught:
        destination.load(PEOPLE, id_again(2), import_id=uuid.uuid4(), mode="insert")

    assert [(e.row, e.message) for e in caught.value.errors] == [
        (2, 'key ("id") = (2) repeats within this import'),
        (4, 'key ("id") = (2) repeats within this import'),
    ]
    assert people(target_engine) == []


def test_keys_another_table_leans_on_refuse_repeats_during_a_bulk_load(
    destination: SqlDestination, target_engine: sa.Engine
) -> None:
    """A table another table's foreign key references keeps its keys during a load into it
    while empty; the batch they refuse goes in not at all, and every repeat is named."""
    destination.ensure_table(PEOPLE)
    query(target_engine, "CREATE TABLE pets (owner BIGINT REFERENCES people (id))")
    with pytest.raises(LoadConflict) as caught:
        destination.load(PEOPLE, id_again(1), import_id=uuid.uuid4(), mode="insert")

    assert caught.value.detail == (
        'nothing was loaded into table "people": 2 row(s) have a key that exists in the table '
        "already or repeats within the import"
    )
    assert [(e.row, e.column, e.message) for e in caught.value.errors] == [
        (1, "id", 'key ("id") = (1) repeats within this import'),
        (4, "id", 'key ("id") = (1) repeats within this import'),
    ]
    assert people(target_engine) == []
    assert query(target_engine, "SELECT count(*) FROM _loadbay_loads") == [(0,)]


def test_a_key_the_schema_does_not_know_refusing_rows_is_reported_as_the_database_said(
    destination: SqlDestination, target_engine: sa.Engine, backend: str
) -> None:
    """A unique index someone added on a column the schema does not call unique refuses
    the load: no row of the schema's keys repeats, so the database's own words say why."""
    destination.ensure_table(PEOPLE)
    query(target_engine, "CREATE UNIQUE INDEX people_name ON people (name)")
    with pytest.raises(LoadConflict) as caught:
        load(destination, [person(1, "Ann"), person(2, "Ann")])

    reported = {
        "postgres": 'duplicate key value violates unique constraint "people_name"',
        "sqlite": "UNIQUE constraint failed: people.name",
    }[backend]
    assert caught.value.detail == (
        'nothing was loaded into table "people": some row(s) have a key that exists in the '
        f"table already or repeats within the import (the database reported: {reported})"
    )
    assert caught.value.errors == []
    assert people(target_engine) == []


def test_composite_key_conflict_reports_every_part(destination: SqlDestination) -> None:
    schema = make_schema(
        [{"name": "a", "type": "integer"}, {"name": "b", "type": "string"}], primaryKey=["a", "b"]
    )
    load(destination, [{"a": 1, "b": "x"}], schema=schema)

    with pytest.raises(LoadConflict) as caught:
        load(destination, [{"a": 1, "b": "y"}, {"a": 1, "b": "x"}], schema=schema)

    assert caught.value.errors == [
        ErrorDetail(
            'key ("a", "b") = (1, "x") exists in the table already',
            row=2,
            value={"a": 1, "b": "x"},
            rule="primaryKey",
        )
    ]


def test_upsert_updates_matching_rows_and_inserts_the_rest(
    destination: SqlDestination, target_engine: sa.Engine, seeded: uuid.UUID
) -> None:
    import_id = uuid.uuid4()

    loaded = load(destination, [person(2, "Bob"), person(3)], "upsert", import_id=import_id)

    assert loaded == 2
    assert people(target_engine) == [
        (1, "P1", "p1@example.com"),
        (2, "Bob", "p2@example.com"),
        (3, "P3", "p3@example.com"),
    ]
    # The updated row now belongs to the upserting import, with its row number there.
    assert destination.count_rows(PEOPLE, import_id=import_id) == 2
    assert destination.count_rows(PEOPLE, import_id=seeded) == 1
    assert read(target_engine, "people", ["id", "_loadbay_row"]) == [(1, 1), (2, 1), (3, 2)]


def test_upsert_needs_a_primary_key(destination: SqlDestination, target_engine: sa.Engine) -> None:
    schema = make_schema([{"name": "a"}])
    with pytest.raises(UpsertRequiresPrimaryKey) as caught:
        destination.load(schema, never_read(), import_id=uuid.uuid4(), mode="upsert")

    assert isinstance(caught.value, InvalidInput)
    assert caught.value.detail == (
        'schema "people" has no primaryKey, so rows cannot be matched for an upsert; add a '
        "primaryKey to the schema or load with mode 'insert' or 'replace'"
    )
    assert sa.inspect(target_engine).get_table_names() == []


def test_upsert_with_a_repeated_key_changes_nothing(
    destination: SqlDestination, target_engine: sa.Engine, seeded: uuid.UUID
) -> None:
    with pytest.raises(LoadConflict) as caught:
        load(destination, [person(2), person(5), {"id": 2, "name": "B", "email": "b@x"}], "upsert")

    assert [(e.row, e.column, e.rule) for e in caught.value.errors] == [
        (1, "id", "primaryKey"),
        (3, "id", "primaryKey"),
    ]
    assert people(target_engine) == [(1, "P1", "p1@example.com"), (2, "P2", "p2@example.com")]


def test_upsert_clash_on_a_unique_column_of_another_row(
    destination: SqlDestination, target_engine: sa.Engine, seeded: uuid.UUID
) -> None:
    # Row 1 keeps person 2's own e-mail (an update, no clash); row 2 takes person 1's.
    rows = [person(2, "Bob"), {"id": 3, "name": "C", "email": "p1@example.com"}]
    with pytest.raises(LoadConflict) as caught:
        load(destination, rows, "upsert")

    assert [(e.row, e.column) for e in caught.value.errors] == [(2, "email")]
    assert people(target_engine) == [(1, "P1", "p1@example.com"), (2, "P2", "p2@example.com")]


def test_replace_swaps_the_whole_table(
    destination: SqlDestination, target_engine: sa.Engine, seeded: uuid.UUID
) -> None:
    # Person 2 comes back: no conflict, since the old rows go first.
    assert load(destination, [person(2, "Bob"), person(7)], "replace") == 2
    assert people(target_engine) == [(2, "Bob", "p2@example.com"), (7, "P7", "p7@example.com")]


def test_replace_with_nothing_empties_the_table(
    destination: SqlDestination, seeded: uuid.UUID
) -> None:
    assert destination.load(PEOPLE, [], import_id=uuid.uuid4(), mode="replace") == 0
    assert destination.count_rows(PEOPLE) == 0


def test_failed_replace_keeps_the_old_rows(
    destination: SqlDestination, target_engine: sa.Engine, seeded: uuid.UUID
) -> None:
    with pytest.raises(LoadConflict):
        load(destination, [person(5), person(5)], "replace")
    assert people(target_engine) == [(1, "P1", "p1@example.com"), (2, "P2", "p2@example.com")]


class Cancelled(Exception):
    pass


@pytest.mark.parametrize("mode", ["insert", "upsert", "replace"])
def test_error_from_the_batches_rolls_everything_back(
    destination: SqlDestination,
    destination_engine: sa.Engine,
    target_engine: sa.Engine,
    seeded: uuid.UUID,
    mode: Any,
) -> None:
    def batches() -> Iterator[pl.DataFrame]:
        yield batch(PEOPLE, [person(2, "Bob"), person(3)])
        yield batch(PEOPLE, [person(4)], first_row=3)
        raise Cancelled

    import_id = uuid.uuid4()
    with pytest.raises(Cancelled):
        destination.load(PEOPLE, batches(), import_id=import_id, mode=mode)

    assert people(target_engine) == [(1, "P1", "p1@example.com"), (2, "P2", "p2@example.com")]
    assert temp_tables(destination_engine) == []
    # The connection went back to the pool clean: the same import can load now.
    assert load(destination, [person(3)], import_id=import_id) == 1


def test_retry_of_a_loaded_import_loads_nothing_twice(
    destination: SqlDestination, target_engine: sa.Engine, seeded: uuid.UUID
) -> None:
    again = destination.load(PEOPLE, never_read(), import_id=seeded, mode="insert")

    assert again == 2
    assert destination.count_rows(PEOPLE) == 2


def test_import_committed_by_another_attempt_while_staging(
    destination: SqlDestination, target_engine: sa.Engine, seeded: uuid.UUID
) -> None:
    """Two attempts of one import race: the one that commits second loads nothing.
    (The table has rows, so both stage; into an empty PostgreSQL table the first attempt
    holds the import's lock while it loads: see the test below.)"""
    import_id = uuid.uuid4()
    other = SqlDestination(target_engine)

    def batches() -> Iterator[pl.DataFrame]:
        yield batch(PEOPLE, [person(3), person(4)])
        assert load(other, [person(3), person(4)], import_id=import_id) == 2

    assert destination.load(PEOPLE, batches(), import_id=import_id, mode="insert") == 2
    assert destination.count_rows(PEOPLE) == 4


def test_a_bulk_load_into_an_empty_table_keeps_every_key(
    destination: SqlDestination, target_engine: sa.Engine
) -> None:
    """Keys dropped for the load are back after it, and still refuse what they should."""
    assert load(destination, [person(i) for i in range(1, 6)]) == 5
    inspector = sa.inspect(target_engine)
    assert inspector.get_pk_constraint("people")["constrained_columns"] == ["id"]
    unique = {tuple(u["column_names"]) for u in inspector.get_unique_constraints("people")}
    unique |= {tuple(i["column_names"]) for i in inspector.get_indexes("people") if i["unique"]}
    assert ("email",) in unique
    with pytest.raises(LoadConflict):
        load(destination, [{"id": 1, "name": "again", "email": "new@example.com"}])
    assert destination.count_rows(PEOPLE) == 5


def test_a_unique_value_repeated_into_an_empty_table_keeps_the_keys(
    destination: SqlDestination, target_engine: sa.Engine
) -> None:
    """Into an empty table the unique keys are built after the rows (PostgreSQL's direct
    load, SQLite's move): a repeat found then fails the load, names the rows, and the
    rolled-back table still has every key."""
    rows = [person(1), person(2), {"id": 3, "name": "again", "email": person(1)["email"]}]
    with pytest.raises(LoadConflict) as caught:
        load(destination, rows)
    assert [e.row for e in caught.value.errors] == [1, 3]
    assert people(target_engine) == []
    inspector = sa.inspect(target_engine)
    unique = {tuple(u["column_names"]) for u in inspector.get_unique_constraints("people")}
    unique |= {tuple(i["column_names"]) for i in inspector.get_indexes("people") if i["unique"]}
    assert ("email",) in unique


@pytest.mark.parametrize("seed", [False, True], ids=["direct", "staged"])
def test_before_commit_runs_once_every_row_is_in_and_can_still_undo_the_load(
    destination: SqlDestination, target_engine: sa.Engine, seed: bool
) -> None:
    """Into an empty table (the direct load) and into one with rows (staged): the hook runs
    after the last batch was read, and what it raises rolls the whole load back."""
    if seed:
        load(destination, [person(1)])
    read_all: list[bool] = []

    def batches() -> Iterator[pl.DataFrame]:
        yield batch(PEOPLE, [person(2), person(3)])
        yield batch(PEOPLE, [person(4)], first_row=3)
        read_all.append(True)

    def refuse() -> None:
        assert read_all == [True]
        raise Cancelled

    with pytest.raises(Cancelled):
        destination.load(
            PEOPLE, batches(), import_id=uuid.uuid4(), mode="insert", before_commit=refuse
        )
    assert [row[0] for row in people(target_engine)] == ([1] if seed else [])

    calls: list[int] = []
    loaded = destination.load(
        PEOPLE,
        batches(),
        import_id=uuid.uuid4(),
        mode="insert",
        before_commit=lambda: calls.append(len(read_all)),
    )
    assert (loaded, calls) == (3, [2])
    assert [row[0] for row in people(target_engine)] == ([1, 2, 3, 4] if seed else [2, 3, 4])


def test_wrong_batch_dtype_is_refused(destination: SqlDestination, seeded: uuid.UUID) -> None:
    wrong = batch(PEOPLE, [person(3)]).with_columns(pl.col("id").cast(pl.Int32))
    with pytest.raises(ValueError, match="'id' is Int32, expected Int64"):
        destination.load(PEOPLE, [wrong], import_id=uuid.uuid4(), mode="insert")
    nameless = batch(PEOPLE, [person(3), {"id": 4}])
    with pytest.raises(ValueError, match=r"nulls in required column\(s\) \['id', 'name'\]"):
        destination.load(
            PEOPLE,
            [nameless.with_columns(id=pl.lit(None, pl.Int64))],
            import_id=uuid.uuid4(),
            mode="insert",
        )
    missing = batch(PEOPLE, [person(3)]).drop("_loadbay_row")
    with pytest.raises(ValueError, match=r"batch lacks column\(s\) \['_loadbay_row'\]"):
        destination.load(PEOPLE, [missing], import_id=uuid.uuid4(), mode="insert")
    assert destination.count_rows(PEOPLE) == 2


def test_unknown_mode_is_refused(destination: SqlDestination) -> None:
    with pytest.raises(ValueError, match="unknown load mode 'merge'"):
        destination.load(PEOPLE, never_read(), import_id=uuid.uuid4(), mode="merge")  # type: ignore[arg-type]


def test_count_rows_without_a_table_is_zero(destination: SqlDestination) -> None:
    assert destination.count_rows(PEOPLE) == 0
    assert destination.count_rows(PEOPLE, import_id=uuid.uuid4()) == 0


def test_hostile_identifiers(destination: SqlDestination, target_engine: sa.Engine) -> None:
    query(target_engine, "CREATE TABLE y (a INTEGER)")
    query(target_engine, "CREATE TABLE x (a INTEGER)")
    fields = [{"name": n, "type": "integer" if n == "%s" else "string"} for n in HOSTILE_FIELDS]
    schema = make_schema(
        fields, primaryKey=["%s", ";--"], **{"x-loadbay": {"table": HOSTILE_TABLE}}
    )
    row = {n: f"v {n}" for n in HOSTILE_FIELDS} | {"%s": 1}

    assert load(destination, [row, row | {"%s": 2}], schema=schema) == 2
    assert load(destination, [row | {"it's": "changed"}], "upsert", schema=schema) == 1
    with pytest.raises(LoadConflict) as caught:
        load(destination, [row], schema=schema)

    assert caught.value.errors[0].value == {"%s": 1, ";--": "v ;--"}
    keys = batch(schema, [row, row | {";--": "other"}]).select("%s", ";--")
    assert destination.existing_keys(schema, keys).to_list() == [True, False]
    stored = read(target_engine, HOSTILE_TABLE, HOSTILE_FIELDS)
    changed = row | {"it's": "changed"}
    assert stored[0] == tuple(changed[n] for n in HOSTILE_FIELDS)
    assert len(stored) == 2

    evolved = make_schema(
        [*fields, {"name": "new 'col'\"; --", "type": "date", "constraints": {"unique": True}}],
        primaryKey=["%s", ";--"],
        **{"x-loadbay": {"table": HOSTILE_TABLE}},
    )
    destination.ensure_table(evolved)
    assert destination.count_rows(evolved) == 2
    tables = ["_loadbay_loads", "x", "y", HOSTILE_TABLE]
    assert sorted(sa.inspect(target_engine).get_table_names()) == sorted(tables)
    assert quote(target_engine, HOSTILE_TABLE) == '"x""; DROP TABLE y; --"'


def test_a_hundred_thousand_rows(destination: SqlDestination, target_engine: sa.Engine) -> None:
    schema = make_schema(
        [
            {"name": "id", "type": "integer"},
            {"name": "label", "type": "string"},
            {"name": "score", "type": "number"},
            {"name": "flag", "type": "boolean"},
        ],
        primaryKey="id",
    )
    ids = pl.int_range(100_000, eager=True)
    rows = pl.DataFrame(
        {
            "id": ids,
            "label": "row " + ids.cast(pl.String),
            "score": ids.cast(pl.Float64) / 4,
            "flag": ids % 3 == 0,
            "_loadbay_row": ids + 1,
        }
    )
    batches = (rows.slice(offset, 25_000) for offset in range(0, 100_000, 25_000))

    assert destination.load(schema, batches, import_id=uuid.uuid4(), mode="insert") == 100_000

    assert query(target_engine, "SELECT count(*), sum(id), sum(score) FROM people") == [
        (100_000, 4_999_950_000, 1_249_987_500.0)
    ]
    [(label, flag)] = query(target_engine, "SELECT label, flag FROM people WHERE id = 99999")
    assert (label, bool(flag)) == ("row 99999", True)
    keys = pl.DataFrame({"id": pl.int_range(50_000, 150_000, eager=True)})
    found = destination.existing_keys(schema, keys)
    assert found.len() == 100_000
    assert found.sum() == 50_000
    assert found[49_999]
    assert not found[50_000]


def test_a_sqlite_load_waits_long_for_the_write_lock_and_restores_the_connection(
    tmp_path: Path,
) -> None:
    """A bulk load into an empty SQLite table holds the write lock for the whole load, so
    the destination's other writes wait for it as long as a PostgreSQL writer would, with
    a page cache big enough to build indexes; the pooled connection gets its own back."""
    driver = sqlite3.connect(tmp_path / "t.sqlite")
    driver.execute("PRAGMA busy_timeout = 10000")
    before = driver.execute("PRAGMA cache_size").fetchone()
    conn = SqliteConnection(driver, lambda name: f'"{name}"')
    assert driver.execute("PRAGMA busy_timeout").fetchone() == (WRITE_WAIT_MS,)
    assert driver.execute("PRAGMA cache_size").fetchone() == (-LOAD_CACHE_KIB,)
    conn.release()
    assert driver.execute("PRAGMA busy_timeout").fetchone() == (10000,)
    assert driver.execute("PRAGMA cache_size").fetchone() == before
    driver.close()


def test_each_load_is_in_the_ledger_once(
    destination: SqlDestination, target_engine: sa.Engine, seeded: uuid.UUID
) -> None:
    """The ledger holds one row per committed load, written with its rows: a load run again
    (a job retried after a crash) finds it there and adds nothing; a failed load is not in
    it."""
    second = uuid.uuid4()
    assert load(destination, [person(3)], "upsert", import_id=second) == 1
    with pytest.raises(LoadConflict):
        load(destination, [person(1)], import_id=uuid.uuid4())
    ledger = query(target_engine, "SELECT import_id, table_name, row_count FROM _loadbay_loads")
    assert sorted((str(i), t, n) for i, t, n in ledger) == sorted(
        [(str(seeded), "people", 2), (str(second), "people", 1)]
    )
    assert destination.load(PEOPLE, never_read(), import_id=second, mode="upsert") == 1
    assert destination.count_rows(PEOPLE) == 3


def test_a_table_made_before_the_ledger_still_knows_its_loads(
    destination: SqlDestination, target_engine: sa.Engine
) -> None:
    """Tables created by earlier versions carry UNIQUE (import id, row) and their loads are
    not in the ledger: a retried load of such an import is recognised by the index."""
    import_id = uuid.uuid4()
    assert load(destination, [person(1), person(2)], import_id=import_id) == 2
    query(target_engine, "DELETE FROM _loadbay_loads")
    query(
        target_engine,
        "CREATE UNIQUE INDEX people_legacy ON people (_loadbay_import_id, _loadbay_row)",
    )
    assert destination.load(PEOPLE, never_read(), import_id=import_id, mode="insert") == 2
    assert destination.count_rows(PEOPLE) == 2


def import_id_default(engine: sa.Engine) -> list[tuple[Any, ...]]:
    """The default of the import id column of ``people``, as the database reports it."""
    columns = sa.inspect(engine).get_columns("people")
    return [(c["default"],) for c in columns if c["name"] == "_loadbay_import_id"]


def test_a_direct_load_gives_every_row_its_import_id_and_leaves_no_default(
    destination: SqlDestination, target_engine: sa.Engine
) -> None:
    """Into an empty table the rows go straight in (PostgreSQL sets the import id as the
    column's default for the load's transaction): every row carries the id, the column
    has no default afterwards, and a load that fails half-way leaves neither rows nor a
    default."""

    def failing() -> Iterator[pl.DataFrame]:
        yield batch(PEOPLE, [person(1), person(2)])
        raise Cancelled

    destination.ensure_table(PEOPLE)
    with pytest.raises(Cancelled):
        destination.load(PEOPLE, failing(), import_id=uuid.uuid4(), mode="insert")
    assert destination.count_rows(PEOPLE) == 0
    assert import_id_default(target_engine) == [(None,)]

    import_id = uuid.uuid4()
    batches = [batch(PEOPLE, [person(1), person(2)]), batch(PEOPLE, [person(3)], first_row=3)]
    assert destination.load(PEOPLE, batches, import_id=import_id, mode="insert") == 3
    stored = query(target_engine, "SELECT DISTINCT _loadbay_import_id FROM people")
    assert [str(i) for (i,) in stored] == [str(import_id)]
    assert destination.count_rows(PEOPLE, import_id=import_id) == 3
    assert import_id_default(target_engine) == [(None,)]


@pytest.mark.postgres
def test_an_import_id_column_with_a_default_of_its_own_keeps_it(postgres_schema_url: str) -> None:
    """Someone gave the import id column a default: a direct load writes its own id into
    every row instead, and the default stays as it was."""
    engine = create_engine(postgres_schema_url)
    try:
        destination = SqlDestination(engine)
        destination.ensure_table(PEOPLE)
        theirs = uuid.uuid4()
        query(engine, f"ALTER TABLE people ALTER COLUMN _loadbay_import_id SET DEFAULT '{theirs}'")
        ours = uuid.uuid4()
        assert load(destination, [person(1), person(2)], import_id=ours) == 2
        stored = query(engine, "SELECT DISTINCT _loadbay_import_id FROM people")
        assert [str(i) for (i,) in stored] == [str(ours)]
        assert import_id_default(engine) == [(f"'{theirs}'::uuid",)]
    finally:
        engine.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize(("ids", "kept"), [([1, 2, 5, 9], {"people_pkey"}), ([9, 5, 2, 1], set())])
def test_ascending_integer_keys_stay_through_a_direct_load(
    postgres_schema_url: str, ids: list[int], kept: set[str]
) -> None:
    """A key of integers that arrive in ascending order stays during the load (PostgreSQL
    appends to it); the other keys are dropped and built again. Either way every key is
    there afterwards and holds."""
    engine = create_engine(postgres_schema_url)
    try:
        destination = SqlDestination(engine)
        destination.ensure_table(PEOPLE)
        constraints = "SELECT conname, oid FROM pg_constraint WHERE conrelid = 'people'::regclass"
        before = dict(query(engine, constraints))
        assert len(before) == 2  # the primary key, the unique email
        assert load(destination, [person(i) for i in ids]) == len(ids)
        after = dict(query(engine, constraints))
        assert after.keys() == before.keys()
        assert {name for name, oid in after.items() if before[name] == oid} == kept
        with pytest.raises(LoadConflict):
            load(destination, [{"id": 1, "name": "again", "email": "new@example.com"}])
    finally:
        engine.dispose()
