"""The per-second ring behind GET /api/stats: windows, shares, percentiles."""

from __future__ import annotations

import math

from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from loadbay.observability.stats import RequestStats


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
