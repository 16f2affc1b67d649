"""Every value type survives the trip into the target exactly (in each backend's storage form)."""

from __future__ import annotations

import datetime as dt
import math
import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loadbay.destinations.errors import UnstorableValue
from loadbay.destinations.sql import SqlDestination
from loadbay.schemas.model import FieldType
from tests.destinations.helpers import batch, make_schema, read

STRINGS = [
    "",
    None,
    "plain",
    'say "hi"',
    "it's",
    "a,b",
    "line\nbreak",
    "crlf\r\nend",
    "cr\ronly",
    "tab\there",
    "back\\slash",
    "\\N",
    "\\.",
    "NULL",
    " padded ",
    "café ñ 中文 🎉",
    '"',
    "''",
]
FLOATS = [
    0.1,
    -1.5,
    None,
    1e300,
    5e-324,
    1.7976931348623157e308,
    2.220446049250313e-16,
    123456789.12345679,
    math.inf,
    -math.inf,
    math.nan,
    0.0,
]
UTC = dt.UTC


def round_trip(
    destination: SqlDestination, engine: sa.Engine, type_: FieldType, values: list[Any]
) -> list[Any]:
    table = f"values_{type_}"
    schema = make_schema([{"name": "v", "type": type_}], **{"x-loadbay": {"table": table}})
    rows = [{"v": v} for v in values]
    destination.load(schema, [batch(schema, rows)], import_id=uuid.uuid4(), mode="replace")
    return [v for (v,) in read(engine, table, ["v"])]


def same_float(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or (
            a == b and math.copysign(1, a) == math.copysign(1, b)
        )
    return bool(a == b)


def test_strings(destination: SqlDestination, target_engine: sa.Engine) -> None:
    assert round_trip(destination, target_engine, "string", STRINGS) == STRINGS


def test_numbers(destination: SqlDestination, target_engine: sa.Engine, backend: str) -> None:
    stored = round_trip(destination, target_engine, "number", FLOATS)
    # SQLite cannot hold NaN as a REAL, so it keeps the text "NaN".
    expected = [
        ("NaN" if backend == "sqlite" else v) if v is not None and math.isnan(v) else v
        for v in FLOATS
    ]
    assert len(stored) == len(expected)
    assert all(same_float(s, e) for s, e in zip(stored, expected, strict=True)), stored


def test_negative_zero(destination: SqlDestination, target_engine: sa.Engine, backend: str) -> None:
    [stored] = round_trip(destination, target_engine, "number", [-0.0])
    # SQLite stores -0.0 as 0 (equal, but the sign is gone); PostgreSQL keeps it.
    assert stored == 0.0
    assert math.copysign(1, stored) == (1 if backend == "sqlite" else -1)


def test_integers_and_years(destination: SqlDestination, target_engine: sa.Engine) -> None:
    integers = [0, -1, None, 2**63 - 1, -(2**63)]
    assert round_trip(destination, target_engine, "integer", integers) == integers
    years = [2024, None, 1, -44, 2**31 - 1, -(2**31)]
    assert round_trip(destination, target_engine, "year", years) == years


def test_booleans(destination: SqlDestination, target_engine: sa.Engine, backend: str) -> None:
    stored = round_trip(destination, target_engine, "boolean", [True, False, None])
    assert stored == ([1, 0, None] if backend == "sqlite" else [True, False, None])


def test_dates(destination: SqlDestination, target_engine: sa.Engine, backend: str) -> None:
    dates = [
        dt.date(2024, 2, 29),
        dt.date(1, 1, 1),
        None,
        dt.date(9999, 12, 31),
        dt.date(1970, 1, 1),
    ]
    stored = round_trip(destination, target_engine, "date", dates)
    if backend == "sqlite":
        assert stored == ["2024-02-29", "0001-01-01", None, "9999-12-31", "1970-01-01"]
    else:
        assert stored == dates


def test_datetimes(destination: SqlDestination, target_engine: sa.Engine, backend: str) -> None:
    datetimes = [
        dt.datetime(2024, 2, 29, 13, 45, 30, 123456, tzinfo=UTC),
        dt.datetime(1970, 1, 1, tzinfo=UTC),
        None,
        dt.datetime(1, 1, 1, 0, 0, 0, 1, tzinfo=UTC),
        dt.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    ]
    stored = round_trip(destination, target_engine, "datetime", datetimes)
    if backend == "sqlite":
        assert stored == [
            "2024-02-29T13:45:30.123456+00:00",
            "1970-01-01T00:00:00.000000+00:00",
            None,
            "0001-01-01T00:00:00.000001+00:00",
            "9999-12-31T23:59:59.999999+00:00",
        ]
        assert [dt.datetime.fromisoformat(s) if s else None for s in stored] == datetimes
    else:
        assert stored == datetimes
        assert all(s is None or s.utcoffset() == dt.timedelta(0) for s in stored)


def test_times(destination: SqlDestination, target_engine: sa.Engine, backend: str) -> None:
    times = [dt.time(0, 0), dt.time(13, 45, 30, 123456), None, dt.time(23, 59, 59, 999999)]
    stored = round_trip(destination, target_engine, "time", times)
    if backend == "sqlite":
        assert stored == ["00:00:00.000000", "13:45:30.123456", None, "23:59:59.999999"]
    else:
        assert stored == times


def test_nul_character(destination: SqlDestination, target_engine: sa.Engine, backend: str) -> None:
    values = ["ok", "a\x00b"]
    if backend == "sqlite":
        assert round_trip(destination, target_engine, "string", values) == values
        return
    with pytest.raises(UnstorableValue) as caught:
        round_trip(destination, target_engine, "string", values)
    assert caught.value.detail == (
        "1 row(s) hold text with a NUL character (U+0000), which PostgreSQL cannot store; "
        'the first is row 2, column "v"'
    )
    assert [(e.row, e.column, e.rule) for e in caught.value.errors] == [(2, "v", "storable")]


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    strings=st.lists(
        st.none() | st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00")),
        max_size=20,
    ),
    floats=st.lists(st.none() | st.floats(allow_nan=False), max_size=20),
)
def test_any_text_and_float_round_trips(
    destination: SqlDestination,
    target_engine: sa.Engine,
    strings: list[str | None],
    floats: list[float | None],
) -> None:
    assert round_trip(destination, target_engine, "string", strings) == strings
    stored = round_trip(destination, target_engine, "number", floats)
    # SQLite drops the sign of -0.0 (see test_negative_zero); everything else is exact.
    assert stored == floats


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    integers=st.lists(st.none() | st.integers(-(2**63), 2**63 - 1), max_size=20),
    dates=st.lists(st.none() | st.dates(), max_size=20),
    datetimes=st.lists(st.none() | st.datetimes(timezones=st.just(UTC)), max_size=20),
    times=st.lists(st.none() | st.times(), max_size=20),
)
def test_any_integer_date_and_time_round_trips(
    destination: SqlDestination,
    target_engine: sa.Engine,
    backend: str,
    integers: list[int | None],
    dates: list[dt.date | None],
    datetimes: list[dt.datetime | None],
    times: list[dt.time | None],
) -> None:
    """PostgreSQL takes these in binary forms (``destinations/pgbinary.py``): big-endian,
    counted from 2000-01-01, in microseconds; SQLite as ISO text."""
    assert round_trip(destination, target_engine, "integer", integers) == integers
    stored: list[Any] = round_trip(destination, target_engine, "date", dates)
    if backend == "sqlite":
        stored = [dt.date.fromisoformat(s) if s else None for s in stored]
    assert stored == dates
    stored = round_trip(destination, target_engine, "datetime", datetimes)
    if backend == "sqlite":
        stored = [dt.datetime.fromisoformat(s) if s else None for s in stored]
    assert stored == datetimes
    stored = round_trip(destination, target_engine, "time", times)
    if backend == "sqlite":
        stored = [dt.time.fromisoformat(s) if s else None for s in stored]
    assert stored == times
