"""Dashboard statistics: latency percentiles, error shares and QPS over the last 1/5/15 min.

A ring of per-second buckets, each holding a count per status class and a sparse latency
histogram with log-spaced bounds (5 % apart, so a percentile is off by at most ~2.5 %).
Recording is O(1); a read merges at most 900 buckets. The ring is per process: with several
workers each answers for the requests it served (Prometheus' ``/metrics`` is the exact,
aggregated view).
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from pydantic import BaseModel, Field

WINDOWS = {"1m": 60, "5m": 300, "15m": 900}
HORIZON = max(WINDOWS.values())
_GROWTH = 1.05
_SMALLEST = 1e-4  # seconds; faster requests share the first bucket


def _bucket_of(seconds: float) -> int:
    if seconds <= _SMALLEST:
        return 0
    return 1 + int(math.log(seconds / _SMALLEST, _GROWTH))


def _representative(index: int) -> float:
    """The geometric middle of a latency bucket."""
    if index == 0:
        return _SMALLEST
    return float(_SMALLEST * _GROWTH ** (index - 0.5))


@dataclass(slots=True)
class _Second:
    second: int
    requests: int = 0
    client_errors: int = 0
    server_errors: int = 0
    latency: Counter[int] = field(default_factory=Counter)


class WindowStats(BaseModel):
    requests: int = Field(description="Requests finished in the window.")
    qps: float = Field(description="Requests per second over the window (or the uptime).")
    p50: float | None = Field(description="Median latency in milliseconds.")
    p90: float | None = Field(description="90th percentile latency in milliseconds.")
    p99: float | None = Field(description="99th percentile latency in milliseconds.")
    error_rate_4xx: float = Field(description="Share of responses with a 4xx status.")
    error_rate_5xx: float = Field(description="Share of responses with a 5xx status.")


class StatsOut(BaseModel):
    scope: str = Field(description="'process': the figures of the worker that answered.")
    uptime_seconds: float
    windows: dict[str, WindowStats] = Field(description="Keyed by window: 1m, 5m, 15m.")


class RequestStats:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._started = clock()
        self._ring: list[_Second | None] = [None] * HORIZON
        self._lock = threading.Lock()

    def record(self, *, status: int, seconds: float) -> None:
        now = int(self._clock())
        with self._lock:
            slot = self._ring[now % HORIZON]
            if slot is None or slot.second != now:
                slot = self._ring[now % HORIZON] = _Second(now)
            slot.requests += 1
            slot.client_errors += 400 <= status < 500
            slot.server_errors += status >= 500
            slot.latency[_bucket_of(seconds)] += 1

    def snapshot(self) -> StatsOut:
        now = self._clock()
        uptime = now - self._started
        with self._lock:
            seconds = [s for s in self._ring if s is not None and now - s.second < HORIZON]
        windows = {
            name: _summarise(
                (s for s in seconds if now - s.second < length), max(1.0, min(length, uptime))
            )
            for name, length in WINDOWS.items()
        }
        return StatsOut(scope="process", uptime_seconds=round(uptime, 3), windows=windows)


def _summarise(seconds: Iterable[_Second], span: float) -> WindowStats:
    requests = client = server = 0
    latency: Counter[int] = Counter()
    for s in seconds:
        requests += s.requests
        client += s.client_errors
        server += s.server_errors
        latency.update(s.latency)
    ordered = sorted(latency.items())
    return WindowStats(
        requests=requests,
        qps=round(requests / span, 3),
        p50=_percentile(ordered, requests, 0.50),
        p90=_percentile(ordered, requests, 0.90),
        p99=_percentile(ordered, requests, 0.99),
        error_rate_4xx=round(client / requests, 4) if requests else 0.0,
        error_rate_5xx=round(server / requests, 4) if requests else 0.0,
    )


def _percentile(ordered: list[tuple[int, int]], total: int, q: float) -> float | None:
    if not total:
        return None
    rank = math.ceil(q * total)
    seen = 0
    for index, count in ordered:
        seen += count
        if seen >= rank:
            return round(_representative(index) * 1000, 3)
    raise AssertionError("rank beyond the histogram")  # the counts add up to total
