"""PostgreSQL's binary COPY forms: one for every column type the destination admits."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import uuid
from pathlib import Path

import polars as pl
import pytest

from loadbay.db import create_engine
from loadbay.destinations.pgbinary import TextHoldsNul, encode, encoder_for
from loadbay.destinations.postgres import POSTGRES_TYPES
from loadbay.destinations.sql import SqlDestination
from tests.destinations.helpers import batch, make_schema, query, read


def test_every_column_type_the_destination_admits_has_a_binary_form() -> None:
    column_types = [*POSTGRES_TYPES.fields.values(), POSTGRES_TYPES.import_id, POSTGRES_TYPES.row]
    admitted = {name for column_type in column_types for name in column_type.accepts}
    assert "character varying" in admitted
    for name in admitted:
        assert callable(encoder_for(name)), name


def rows(frame: pl.DataFrame, *types: str) -> bytes:
    return bytes(encode(frame, [encoder_for(t) for t in types]))


def test_rows_are_a_field_count_then_a_length_and_a_value_per_field() -> None:
    """Exact bytes, big-endian: NULL is the length -1 alone; a sliced frame starts at its
    first row; no rows make no bytes."""
    frame = pl.DataFrame({"n": [1, 2, None], "s": ["x", "yy", None]}).slice(1, 2)
    assert rows(frame, "bigint", "text") == (
        b"\x00\x02" + b"\x00\x00\x00\x08" + (2).to_bytes(8, "big") + b"\x00\x00\x00\x02yy"
        b"\x00\x02" + b"\xff\xff\xff\xff" + b"\xff\xff\xff\xff"
    )
    assert rows(frame.clear(), "bigint", "text") == b""


def test_dates_times_and_booleans_count_from_postgresql_epochs() -> None:
    frame = pl.DataFrame(
        {
            "d": [dt.date(2000, 1, 2)],
            "t": [dt.time(0, 0, 1, 5)],
            "ts": [dt.datetime(1999, 12, 31, 23, 59, 59, tzinfo=dt.UTC)],
            "b": [True],
        },
        schema_overrides={"ts": pl.Datetime("us", "UTC")},
    )
    types = ("date", "time without time zone", "timestamp with time zone", "boolean")
    assert rows(frame, *types) == (
        b"\x00\x04"
        + b"\x00\x00\x00\x04" + (1).to_bytes(4, "big")
        + b"\x00\x00\x00\x08" + (1_000_005).to_bytes(8, "big")
        + b"\x00\x00\x00\x08" + (-1_000_000).to_bytes(8, "big", signed=True)
        + b"\x00\x00\x00\x01\x01"
    )  # fmt: skip


def test_text_holding_nul_is_refused() -> None:
    with pytest.raises(TextHoldsNul):
        rows(pl.DataFrame({"s": ["ok", "a\x00b"]}), "text")


def test_a_column_type_without_a_binary_form_is_a_bug() -> None:
    with pytest.raises(ValueError, match="'jsonb'"):
        encoder_for("jsonb")


@pytest.mark.postgres
def test_values_go_in_the_form_of_the_existing_column(postgres_schema_url: str) -> None:
    """A year into a bigint column (the table's type decides, not the frame's Int32), text
    into a varchar one."""
    engine = create_engine(postgres_schema_url)
    try:
        query(
            engine,
            "CREATE TABLE seasons (year BIGINT, label VARCHAR, "
            "_loadbay_import_id UUID NOT NULL, _loadbay_row BIGINT NOT NULL)",
        )
        schema = make_schema([{"name": "year", "type": "year"}, {"name": "label"}], name="seasons")
        rows = [{"year": 2024, "label": "spring"}, {"year": None, "label": None}]
        loaded = SqlDestination(engine).load(
            schema, [batch(schema, rows)], import_id=uuid.uuid4(), mode="insert"
        )
        assert loaded == 2
        assert read(engine, "seasons", ["year", "label"]) == [(2024, "spring"), (None, None)]
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_pyarrow_is_loaded_at_start_only_for_a_postgresql_target(
    tmp_path: Path, request: pytest.FixtureRequest, backend: str
) -> None:
    """A fresh process, as a server starts: building the context loads the binary encoder
    (and pyarrow's 60 MB) when the target is PostgreSQL, and never when it is SQLite."""
    target = (
        request.getfixturevalue("postgres_url")
        if backend == "postgres"
        else f"sqlite:///{tmp_path}/data.sqlite"
    )
    script = (
        "import sys\n"
        "from loadbay.context import AppContext\n"
        "from loadbay.settings import Settings\n"
        f"settings = Settings(data_dir={str(tmp_path)!r}, target_database_url={target!r})\n"
        "AppContext.build(settings).close()\n"
        "print('pyarrow' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(backend == "postgres")
