"""Dashboard statistics: latency percentiles, error shares and QPS over the last 1/5/15 min,
a 15-minute series of 10-second buckets for the page's charts, and the rows imported.

A ring of per-second buckets, each holding a count per status class and a sparse latency
histogram with log-spaced bounds (5 % apart, so a percentile is off by at most ~2.5 %).
Recording is O(1); a read copies at most 900 buckets under the lock and merges them outside
it. With several workers on a host (``PROMETHEUS_MULTIPROC_DIR`` set, as ``loadbay serve
--workers N`` does), every process also appends its completed seconds, once a second, to a
file of its own in that directory (``SharedSeconds``), and a read merges the other workers'
files with its own ring: the figures are the host's, at most about a second behind for the
other workers' requests.

Rows imported are different: they are read from the imports table, which every API process
and worker shares, so any process reports the same server-wide figure.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import math
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
import structlog
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session, sessionmaker

from loadbay.db import utcnow
from loadbay.imports.models import ImportRecord
from loadbay.imports.states import ImportState
from loadbay.observability.metrics import MULTIPROC_ENV

WINDOWS = {"1m": 60, "5m": 300, "15m": 900}
HORIZON = max(WINDOWS.values())
SERIES_STEP = 10  # seconds per point of the series
# Complete buckets only (the one in progress is left out), all inside the ring's horizon.
SERIES_POINTS = HORIZON // SERIES_STEP - 1
_GROWTH = 1.05
_SMALLEST = 1e-4  # seconds; faster requests share the first bucket
# Imports whose loaded rows count as imported: completed ones, and those reverted later (as
# Prometheus' loadbay_rows_imported_total{outcome="loaded"} counts them, at the commit).
_IMPORTED_STATES = (ImportState.COMPLETED.value, ImportState.REVERTED.value)

log = structlog.get_logger(__name__)


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

    def copy(self) -> _Second:
        return _Second(
            self.second,
            self.requests,
            self.client_errors,
            self.server_errors,
            Counter(self.latency),
        )


class RequestFigures(BaseModel):
    """The request figures of a window, or of one bucket of the series."""

    requests: int = Field(description="Requests finished in the window.")
    qps: float = Field(description="Requests per second over the window (or the uptime).")
    p50: float | None = Field(description="Median latency in milliseconds; null: no requests.")
    p90: float | None = Field(description="90th percentile latency in milliseconds.")
    p99: float | None = Field(description="99th percentile latency in milliseconds.")
    error_rate_4xx: float = Field(description="Share of responses with a 4xx status.")
    error_rate_5xx: float = Field(description="Share of responses with a 5xx status.")


class WindowStats(RequestFigures):
    rows_imported: int | None = Field(
        default=None,
        description="Rows loaded into their targets by imports that completed in the window, "
        "server-wide (read from the imports table); null when the store could not be read.",
    )
    imports_completed: int | None = Field(
        default=None,
        description="Imports that completed in the window, server-wide; null when the store "
        "could not be read.",
    )


class SeriesPoint(RequestFigures):
    """One bucket: its figures are those of the bucket's seconds."""

    time: float = Field(description="Start of the bucket, Unix time in seconds.")


class StatsSeries(BaseModel):
    step_seconds: int = Field(description="Length of one bucket in seconds.")
    points: list[SeriesPoint] = Field(
        description="Complete buckets of the last 15 minutes since the process started, "
        "oldest first; the bucket in progress is left out."
    )


class StatsOut(BaseModel):
    scope: str = Field(
        description="'process': the figures of the worker that answered; 'host': those of "
        "every worker of its host (several workers, PROMETHEUS_MULTIPROC_DIR set)."
    )
    uptime_seconds: float
    time: float = Field(description="When the figures were taken, Unix time in seconds.")
    windows: dict[str, WindowStats] = Field(description="Keyed by window: 1m, 5m, 15m.")
    series: StatsSeries = Field(description="The last 15 minutes in buckets, for charts.")


@dataclass(frozen=True, slots=True)
class Imported:
    """Rows loaded and imports completed in one window."""

    rows: int
    imports: int


@dataclass(frozen=True, slots=True)
class _Summary:
    requests: int
    qps: float
    p50: float | None
    p90: float | None
    p99: float | None
    error_rate_4xx: float
    error_rate_5xx: float


class SharedSeconds:
    """The completed seconds of every process of this host, in ``directory``: one JSON-lines
    file per process (``stats-<identity>.jsonl``), appended by its process only.

    Seconds are ``time.monotonic()`` seconds, which Linux counts for the whole host, so the
    files of several processes line up. A process's file is rewritten with only its last 15
    minutes once it holds twice that; a reader skips the lines older than that, and removes
    the file of a process that wrote nothing for 15 minutes (one that ended).
    """

    def __init__(self, directory: Path, identity: str | None = None) -> None:
        self._directory = directory
        self._path = directory / f"stats-{identity or os.getpid()}.jsonl"
        self._lines = 0

    @classmethod
    def from_environment(cls) -> SharedSeconds | None:
        directory = os.environ.get(MULTIPROC_ENV)
        return cls(Path(directory)) if directory else None

    def append(self, seconds: list[_Second]) -> None:
        """Add ``seconds``; a file that holds 30 minutes keeps only its newest 15."""
        text = "".join(_line(s) for s in seconds)
        if self._lines + len(seconds) > 2 * HORIZON:
            kept = (self._path.read_text() + text).splitlines(keepends=True)[-HORIZON:]
            temporary = self._path.with_suffix(".tmp")
            temporary.write_text("".join(kept))
            os.replace(temporary, self._path)  # a reader sees the old file or the new one
            self._lines = len(kept)
            return
        with self._path.open("a") as out:
            out.write(text)
        self._lines += len(seconds)

    def others(self, since: float) -> list[_Second]:
        """The seconds from ``since`` on, of every process but this one."""
        found = []
        for path in self._directory.glob("stats-*.jsonl"):
            if path == self._path:
                continue
            try:
                text = path.read_text()
                if time.time() - path.stat().st_mtime > HORIZON:
                    path.unlink()  # its process ended long ago: nothing in the windows
                    continue
            except FileNotFoundError:
                continue  # removed meanwhile
            for line in text.splitlines():
                second = _parse(line)
                if second is not None and second.second >= since:
                    found.append(second)
        return found


def _line(second: _Second) -> str:
    fields = [second.second, second.requests, second.client_errors, second.server_errors]
    return json.dumps([*fields, sorted(second.latency.items())], separators=(",", ":")) + "\n"


def _parse(line: str) -> _Second | None:
    try:
        at, requests, client, server, latency = json.loads(line)
        return _Second(at, requests, client, server, Counter(dict(map(tuple, latency))))
    except ValueError:
        return None  # a line being written: it is read whole next time


async def flush_every_second(stats: RequestStats) -> None:
    """The app's task while it runs, when ``stats.shared`` is set."""
    while True:
        await asyncio.sleep(1.0)
        stats.flush()


class RequestStats:
    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        shared: SharedSeconds | None = None,
    ) -> None:
        self._clock = clock
        self._wall = wall
        self._started = clock()
        self._ring: list[_Second | None] = [None] * HORIZON
        self._lock = threading.Lock()
        self.shared = shared
        self._flushed_until = int(self._started)  # seconds before it are in the shared file

    def flush(self) -> None:
        """Append the seconds completed since the last flush to the shared file (called once
        a second by the app when ``shared`` is set)."""
        if self.shared is None:
            return
        now = int(self._clock())
        with self._lock:
            done = [
                s.copy()
                for s in self._ring
                if s is not None and self._flushed_until <= s.second < now
            ]
            self._flushed_until = now
        self.shared.append(sorted(done, key=lambda s: s.second))

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

    def snapshot(self, imported: Mapping[str, Imported] | None = None) -> StatsOut:
        """The windows and the series; ``imported`` (from :func:`imported_rows`) fills the
        windows' rows_imported and imports_completed."""
        now = self._clock()
        offset = self._wall() - now  # monotonic to Unix time
        with self._lock:  # copies: record() keeps changing the current second
            seconds = [s.copy() for s in self._ring if s is not None and now - s.second < HORIZON]
        started = self._started
        if self.shared is not None:
            others = [s for s in self.shared.others(since=now - HORIZON) if s.second <= now]
            seconds += others
            # The host's figures start with its oldest worker still in the files.
            started = min([started, *(s.second for s in others)])
        uptime = now - started
        windows = {}
        for name, length in WINDOWS.items():
            summary = _summarise(
                (s for s in seconds if now - s.second < length), max(1.0, min(length, uptime))
            )
            counts = imported.get(name) if imported is not None else None
            windows[name] = WindowStats(
                **_fields(summary),
                rows_imported=counts.rows if counts else None,
                imports_completed=counts.imports if counts else None,
            )
        return StatsOut(
            scope="process" if self.shared is None else "host",
            uptime_seconds=round(uptime, 3),
            time=round(now + offset, 3),
            windows=windows,
            series=StatsSeries(
                step_seconds=SERIES_STEP, points=_series(seconds, now, offset, started)
            ),
        )


def _series(seconds: list[_Second], now: float, offset: float, started: float) -> list[SeriesPoint]:
    by_bucket: dict[int, list[_Second]] = {}
    for s in seconds:
        by_bucket.setdefault(s.second // SERIES_STEP, []).append(s)
    current = int(now) // SERIES_STEP
    points = []
    for bucket in range(current - SERIES_POINTS, current):
        start = bucket * SERIES_STEP
        covered = start + SERIES_STEP - max(start, started)
        if covered <= 0:  # before the process started: no figures, not zeros
            continue
        summary = _summarise(by_bucket.get(bucket, ()), max(1.0, covered))
        points.append(SeriesPoint(time=round(start + offset, 3), **_fields(summary)))
    return points


def _fields(summary: _Summary) -> dict[str, float | int | None]:
    return {
        "requests": summary.requests,
        "qps": summary.qps,
        "p50": summary.p50,
        "p90": summary.p90,
        "p99": summary.p99,
        "error_rate_4xx": summary.error_rate_4xx,
        "error_rate_5xx": summary.error_rate_5xx,
    }


def _summarise(seconds: Iterable[_Second], span: float) -> _Summary:
    requests = client = server = 0
    latency: Counter[int] = Counter()
    for s in seconds:
        requests += s.requests
        client += s.client_errors
        server += s.server_errors
        latency.update(s.latency)
    ordered = sorted(latency.items())
    return _Summary(
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


def imported_rows(
    sessions: sessionmaker[Session], *, now: dt.datetime | None = None
) -> dict[str, Imported] | None:
    """Rows loaded and imports completed per window, from the imports table (shared by every
    process, so the figure is server-wide). One query over the imports that finished in the
    last 15 minutes; ``None`` when the store cannot be read (the request figures still
    answer)."""
    now = now or utcnow()
    recent = {
        name: ImportRecord.finished_at > now - dt.timedelta(seconds=length)
        for name, length in WINDOWS.items()
    }
    columns = []
    for condition in recent.values():
        columns.append(sa.func.sum(sa.case((condition, ImportRecord.rows_loaded), else_=0)))
        columns.append(sa.func.sum(sa.case((condition, 1), else_=0)))
    query = sa.select(*columns).where(
        ImportRecord.state.in_(_IMPORTED_STATES),
        recent["15m"],
        ImportRecord.finished_at <= now,
    )
    try:
        with sessions() as session:
            row = session.execute(query).one()
    except sa.exc.SQLAlchemyError as exc:
        log.warning("imported rows unavailable", error=f"{type(exc).__name__}: {exc}")
        return None
    values = [int(value or 0) for value in row]
    return {
        name: Imported(rows=values[2 * i], imports=values[2 * i + 1])
        for i, name in enumerate(recent)
    }
