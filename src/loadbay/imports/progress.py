"""Progress of a running step: fraction done, rows per second and time left.

The fraction comes from bytes of the file read when the reader can tell (text formats),
else from rows against an estimate (the Parquet row count); until the step ends it never
reaches 1. Rates are averaged over the step so far, which is steady enough for an ETA.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


class ProgressMeter:
    def __init__(
        self,
        *,
        bytes_total: int,
        rows_estimate: int | None,
        interval: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.bytes_total = bytes_total
        self.rows_estimate = rows_estimate
        self.interval = interval
        self._clock = clock
        self._started = clock()
        self._last_write = float("-inf")

    def due(self) -> bool:
        """Whether enough time passed since the last write (writes are throttled)."""
        return self._clock() - self._last_write >= self.interval

    def values(self, *, rows: int, offset: int | None) -> dict[str, Any]:
        """The import's progress columns after ``rows`` rows (``offset`` bytes) of the step."""
        self._last_write = now = self._clock()
        elapsed = max(now - self._started, 1e-6)
        fraction = self._fraction(rows, offset)
        rate = rows / elapsed
        eta = elapsed * (1 - fraction) / fraction if fraction > 0 else None
        out: dict[str, Any] = {
            "progress": round(min(fraction, 0.99), 4),
            "rows_per_second": round(rate, 1),
            "eta_seconds": None if eta is None else round(eta, 1),
        }
        if offset is not None:
            out["bytes_processed"] = min(offset, self.bytes_total)
            if offset > 0 and rows:
                out["rows_estimate"] = max(rows, round(rows * self.bytes_total / offset))
        return out

    def _fraction(self, rows: int, offset: int | None) -> float:
        if offset is not None and self.bytes_total > 0:
            return min(offset / self.bytes_total, 1.0)
        if self.rows_estimate:
            return min(rows / self.rows_estimate, 1.0)
        return 0.0
