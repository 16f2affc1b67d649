"""GET /api/stats: the per-second ring (windows, shares, percentiles, the 10-second series)
and the rows imported, read from the imports table."""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.orm import Session, sessionmaker

from loadbay.context import AppContext
from loadbay.imports.models import ImportRecord
from loadbay.observability.stats import Imported, RequestStats, SharedSeconds, imported_rows
from tests.imports.conftest import customer


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_windows_count_only_their_own_seconds() -> None:
    clock = FakeClock()
    stats = RequestStats(clock)
    clock.now += 900  # uptime covers every window
    for _ in range(30):
        stats.record(status=200, seconds=0.01)
    clock.now += 120  # those 30 are now 2 minutes old
    for status in (200, 200, 404, 500):
        stats.record(status=status, seconds=0.01)
    windows = stats.snapshot().windows
    assert windows["1m"].requests == 4
    assert windows["1m"].qps == round(4 / 60, 3)
    assert windows["1m"].error_rate_4xx == 0.25
    assert windows["1m"].error_rate_5xx == 0.25
    assert windows["5m"].requests == 34
    assert windows["5m"].qps == round(34 / 300, 3)
    clock.now += 900
    assert stats.snapshot().windows["15m"].requests == 0
    assert stats.snapshot().windows["15m"].p99 is None


def test_a_reused_slot_forgets_the_old_second() -> None:
    clock = FakeClock()
    stats = RequestStats(clock)
    stats.record(status=200, seconds=0.5)
    clock.now += 900  # same slot of the ring, 15 minutes later
    stats.record(status=200, seconds=0.001)
    window = stats.snapshot().windows["15m"]
    assert window.requests == 1
    assert window.p99 is not None
    assert window.p99 < 2


def test_qps_divides_by_uptime_while_it_is_shorter_than_the_window() -> None:
    clock = FakeClock()
    stats = RequestStats(clock)
    clock.now += 10
    for _ in range(20):
        stats.record(status=200, seconds=0.001)
    assert stats.snapshot().windows["15m"].qps == 2.0


@given(st.lists(st.floats(min_value=1e-3, max_value=30.0), min_size=1, max_size=300))
def test_percentiles_are_within_three_percent(latencies: list[float]) -> None:
    stats = RequestStats(FakeClock())
    for seconds in latencies:
        stats.record(status=200, seconds=seconds)
    window = stats.snapshot().windows["1m"]
    ordered = sorted(latencies)
    for q, got in ((0.5, window.p50), (0.9, window.p90), (0.99, window.p99)):
        exact = ordered[math.ceil(q * len(ordered)) - 1] * 1000
        assert got is not None
        assert abs(got - exact) <= 0.03 * exact + 0.001


def test_stats_endpoint_reports_the_requests_served(client: TestClient) -> None:
    for _ in range(3):
        client.get("/healthz")
    client.get("/no/such/route")
    body = client.get("/api/stats").json()
    assert body["scope"] == "process"
    assert set(body["windows"]) == {"1m", "5m", "15m"}
    one_minute = body["windows"]["1m"]
    assert one_minute["requests"] == 4  # the stats request itself is not finished yet
    assert one_minute["error_rate_4xx"] == 0.25
    assert {"p50", "p90", "p99", "qps", "error_rate_5xx"} <= set(one_minute)


class FakeWall:
    """Unix time that moves with a FakeClock: 1000.0 on the clock is 1_700_000_000.0."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock

    def __call__(self) -> float:
        return self.clock.now + 1_699_999_000.0


def _at(clock: FakeClock, stats: RequestStats, second: float, status: int, seconds: float) -> None:
    clock.now = second
    stats.record(status=status, seconds=seconds)


def test_series_has_one_point_per_complete_ten_seconds_since_the_start() -> None:
    clock = FakeClock()
    stats = RequestStats(clock, FakeWall(clock))
    # [1000, 1010): eight 200s at 10 ms, a 404 at 10 ms, a 500 at 100 ms
    for i in range(8):
        _at(clock, stats, 1000 + i, 200, 0.01)
    _at(clock, stats, 1008.5, 404, 0.01)
    _at(clock, stats, 1009.9, 500, 0.1)
    # [1010, 1020): nothing; [1020, 1030): five 200s at 2 ms
    for i in range(5):
        _at(clock, stats, 1021 + i, 200, 0.002)
    # [1030, 1040) is still in progress at 1035.5: left out of the series
    for _ in range(3):
        _at(clock, stats, 1033, 200, 0.05)
    clock.now = 1035.5
    out = stats.snapshot()
    assert out.time == 1_700_000_035.5
    assert out.series.step_seconds == 10
    assert [p.model_dump() for p in out.series.points] == [
        {
            "time": 1_700_000_000.0,
            "requests": 10,
            "qps": 1.0,
            "p50": 10.055,
            "p90": 10.055,
            "p99": 99.606,
            "error_rate_4xx": 0.1,
            "error_rate_5xx": 0.1,
        },
        {
            "time": 1_700_000_010.0,
            "requests": 0,
            "qps": 0.0,
            "p50": None,
            "p90": None,
            "p99": None,
            "error_rate_4xx": 0.0,
            "error_rate_5xx": 0.0,
        },
        {
            "time": 1_700_000_020.0,
            "requests": 5,
            "qps": 0.5,
            "p50": 2.01,
            "p90": 2.01,
            "p99": 2.01,
            "error_rate_4xx": 0.0,
            "error_rate_5xx": 0.0,
        },
    ]
    # the windows still count the second in progress
    one_minute = out.windows["1m"]
    assert one_minute.requests == 18
    assert one_minute.p99 == 99.606
    assert one_minute.error_rate_4xx == round(1 / 18, 4)
    assert one_minute.rows_imported is None  # not asked for


def test_series_first_bucket_divides_by_the_seconds_the_process_ran() -> None:
    clock = FakeClock()
    clock.now = 1004.0  # started 4 s into the bucket [1000, 1010)
    stats = RequestStats(clock, FakeWall(clock))
    for i in range(12):
        _at(clock, stats, 1004 + i / 2, 200, 0.01)  # 1004.0 .. 1009.5
    clock.now = 1010.2
    [point] = stats.snapshot().series.points
    assert point.time == 1_700_000_000.0
    assert point.requests == 12
    assert point.qps == 2.0  # 12 requests over the 6 s it ran


def test_series_spans_fifteen_minutes_and_forgets_older_buckets() -> None:
    clock = FakeClock()
    stats = RequestStats(clock, FakeWall(clock))
    _at(clock, stats, 1000, 200, 0.01)  # will be older than the series
    _at(clock, stats, 1100, 500, 0.01)
    clock.now = 1995.0  # bucket [1990, 2000) in progress
    points = stats.snapshot().series.points
    assert len(points) == 89
    assert points[0].time == 1_700_000_100.0  # [1100, 1110): the oldest bucket kept
    assert points[0].requests == 1
    assert points[0].error_rate_5xx == 1.0
    assert points[-1].time == 1_700_000_980.0  # [1980, 1990)
    assert sum(p.requests for p in points) == 1


def test_a_snapshot_while_requests_are_recorded_does_not_fail() -> None:
    import threading

    stats = RequestStats()
    done = threading.Event()

    def record() -> None:
        i = 0
        while not done.is_set():
            stats.record(status=200, seconds=1e-4 * (1 + i % 5000))
            i += 1

    worker = threading.Thread(target=record)
    worker.start()
    try:
        for _ in range(200):
            stats.snapshot()
    finally:
        done.set()
        worker.join()


def _finished_import(
    sessions: sessionmaker[Session], *, state: str, rows: int, finished: dt.datetime
) -> None:
    with sessions.begin() as session:
        session.add(
            ImportRecord(
                schema_name="customers",
                schema_version=1,
                table_name="customers",
                source="records",
                state=state,
                mode="insert",
                on_error="abort",
                rows_total=rows,
                rows_valid=rows,
                rows_loaded=rows,
                created_at=finished - dt.timedelta(hours=2),
                updated_at=finished,
                finished_at=finished,
            )
        )


def test_imported_rows_counts_completed_imports_per_window(context: AppContext) -> None:
    now = dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.UTC)
    ago = lambda seconds: now - dt.timedelta(seconds=seconds)  # noqa: E731
    sessions = context.sessions
    _finished_import(sessions, state="completed", rows=100, finished=ago(10))
    _finished_import(sessions, state="completed", rows=20, finished=ago(59))
    _finished_import(sessions, state="reverted", rows=7, finished=ago(120))  # loaded, then undone
    _finished_import(sessions, state="completed", rows=3000, finished=ago(600))
    _finished_import(sessions, state="failed", rows=50, finished=ago(30))  # not loaded
    _finished_import(sessions, state="cancelled", rows=50, finished=ago(30))
    _finished_import(sessions, state="completed", rows=9, finished=ago(901))  # too old
    _finished_import(sessions, state="completed", rows=5, finished=now + dt.timedelta(seconds=1))
    with sessions.begin() as session:  # an import still running has no finished_at
        session.add(
            ImportRecord(
                schema_name="customers",
                schema_version=1,
                table_name="customers",
                source="records",
                state="committing",
                mode="insert",
                on_error="abort",
                rows_loaded=40,
            )
        )
    assert imported_rows(sessions, now=now) == {
        "1m": Imported(rows=120, imports=2),
        "5m": Imported(rows=127, imports=3),
        "15m": Imported(rows=3127, imports=4),
    }
    assert imported_rows(sessions, now=ago(3600)) == {
        name: Imported(rows=0, imports=0) for name in ("1m", "5m", "15m")
    }


def test_imported_rows_is_none_when_the_store_fails(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'empty.sqlite'}")  # no imports table
    assert imported_rows(sessionmaker(engine)) is None
    engine.dispose()


def test_stats_endpoint_has_series_and_rows_imported(client: TestClient, customers: Any) -> None:
    ok = client.post(
        "/api/imports", json={"schema": "customers", "records": [customer(i) for i in (1, 2, 3)]}
    )
    assert ok.status_code == 201, ok.text
    aborted = client.post(
        "/api/imports", json={"schema": "customers", "records": [customer(4, age=-1)]}
    )
    assert aborted.status_code == 422, aborted.text  # failed: nothing loaded
    assert client.get(f"/api/imports/{uuid.uuid4()}").status_code == 404
    body = client.get("/api/stats").json()
    assert body["series"]["step_seconds"] == 10
    assert isinstance(body["series"]["points"], list)
    assert body["time"] == pytest.approx(time.time(), abs=5)
    for name in ("1m", "5m", "15m"):
        assert body["windows"][name]["rows_imported"] == 3
        assert body["windows"][name]["imports_completed"] == 1
    one_minute = body["windows"]["1m"]
    # the schema, two imports (201, 422) and the 404; the stats request is not finished yet
    assert one_minute["requests"] == 4
    assert one_minute["error_rate_4xx"] == 0.5


# Several workers on a host: each appends its completed seconds to a file of its own.


def _workers(tmp_path: Path, clock: FakeClock, *names: str) -> list[RequestStats]:
    return [
        RequestStats(clock, FakeWall(clock), shared=SharedSeconds(tmp_path, identity=name))
        for name in names
    ]


def test_every_worker_answers_with_the_figures_of_the_host(tmp_path: Path) -> None:
    clock = FakeClock()
    first, second = _workers(tmp_path, clock, "a", "b")
    _at(clock, first, 1001, 200, 0.01)
    _at(clock, first, 1001.5, 404, 0.01)
    _at(clock, second, 1001.7, 200, 0.2)
    _at(clock, second, 1002.1, 500, 0.2)
    clock.now = 1003.2
    first.flush()
    second.flush()
    _at(clock, first, 1003.4, 200, 0.01)  # its own current second counts at once
    _at(clock, second, 1003.5, 200, 0.01)  # another worker's, after its next flush
    for stats in (first, second):
        view = stats.snapshot()
        assert view.scope == "host"
        one_minute = view.windows["1m"]
        assert one_minute.requests == 5
        assert one_minute.error_rate_4xx == 0.2
        assert one_minute.error_rate_5xx == 0.2
    assert first.snapshot().windows["1m"].p99 == pytest.approx(200, rel=0.03)
    clock.now = 1004.0
    second.flush()
    assert first.snapshot().windows["1m"].requests == 6
    clock.now = 1010.5  # [1000, 1010) complete: the series' point holds both workers' six
    assert [point.requests for point in first.snapshot().series.points] == [6]


def test_a_worker_alone_answers_for_itself(tmp_path: Path) -> None:
    clock = FakeClock()
    stats = RequestStats(clock, FakeWall(clock))
    _at(clock, stats, 1001, 200, 0.01)
    stats.flush()  # no shared directory: nothing to write
    assert stats.snapshot().scope == "process"
    assert list(tmp_path.iterdir()) == []


def test_a_worker_file_keeps_the_last_fifteen_minutes(tmp_path: Path) -> None:
    clock = FakeClock()
    (stats,) = _workers(tmp_path, clock, "a")
    for second in range(1000, 1000 + 2 * 900 + 10):  # one request, then one flush, a second
        _at(clock, stats, second, 200, 0.01)
        clock.now = second + 1
        stats.flush()
    lines = (tmp_path / "stats-a.jsonl").read_text().splitlines()
    assert 900 <= len(lines) <= 2 * 900
    assert json.loads(lines[-1])[0] == 1000 + 2 * 900 + 9  # the newest second is there


def test_a_finished_worker_counts_for_fifteen_minutes_then_its_file_goes(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    alive, ended = _workers(tmp_path, clock, "alive", "ended")
    _at(clock, ended, 1001, 200, 0.01)
    clock.now = 1002
    ended.flush()
    assert alive.snapshot().windows["15m"].requests == 1  # requests it served still count
    stale = tmp_path / "stats-ended.jsonl"
    old = time.time() - 901
    os.utime(stale, (old, old))  # it has written nothing for 15 minutes
    assert alive.snapshot().windows["15m"].requests == 0
    assert not stale.exists()


def test_a_line_being_written_is_skipped(tmp_path: Path) -> None:
    clock = FakeClock()
    (reader,) = _workers(tmp_path, clock, "reader")
    (tmp_path / "stats-writer.jsonl").write_text("[1001,3,0,0,[[40,3]]]\n[1002,1,0")
    clock.now = 1003
    assert reader.snapshot().windows["1m"].requests == 3
