"""PostgreSQL's binary COPY forms: one for every column type the destination admits."""

from __future__ import annotations

import uuid

import pytest

from loadbay.db import create_engine
from loadbay.destinations.pgbinary import encoder_for
from loadbay.destinations.postgres import POSTGRES_TYPES
from loadbay.destinations.sql import SqlDestination
from tests.destinations.helpers import batch, make_schema, query, read


def test_every_column_type_the_destination_admits_has_a_binary_form() -> None:
    column_types = [*POSTGRES_TYPES.fields.values(), POSTGRES_TYPES.import_id, POSTGRES_TYPES.row]
    admitted = {name for column_type in column_types for name in column_type.accepts}
    assert "character varying" in admitted
    for name in admitted:
        assert callable(encoder_for(name)), name


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
