"""Run a batch producer one step ahead of its consumer, in a thread of its own.

A load reads, validates and encodes the next batch (polars, which releases the GIL) while the
SQL destination writes the current one (a COPY on the socket or SQLite's ``executemany``,
which release it too), so the two halves of the data path overlap on two cores instead of
taking turns. At most ``depth`` batches wait between them, so memory stays bounded.

Whatever the producer raises is raised in the consumer, at the point where the batch would
have come; a consumer that stops early (an exception of its own, ``close``) stops the
producer at its next step and waits for it, so no thread outlives the iteration.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Iterable
from typing import Generic, TypeVar

T = TypeVar("T")

_POLL = 0.05  # how often a blocked producer looks whether the consumer went away


class _Ended:
    """The producer's last word: it finished, or it raised ``error``."""

    def __init__(self, error: BaseException | None) -> None:
        self.error = error


class _Producer(Generic[T]):
    def __init__(self, source: Iterable[T], depth: int) -> None:
        self._source = source
        self._queue: queue.Queue[T | _Ended] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="loadbay-prefetch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def next(self) -> T | _Ended:
        return self._queue.get()

    def _run(self) -> None:
        ended = _Ended(None)
        try:
            for item in self._source:
                if not self._put(item):
                    return
        except BaseException as error:  # handed to the consumer, which re-raises it
            ended = _Ended(error)
        finally:
            close = getattr(self._source, "close", None)
            if close is not None and self._stop.is_set():
                close()
        self._put(ended)

    def _put(self, item: T | _Ended) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=_POLL)
                return True
            except queue.Full:
                continue
        return False


def prefetch(source: Iterable[T], *, depth: int = 1) -> Generator[T]:
    """``source``'s items, produced in a background thread up to ``depth`` items ahead.
    ``close()`` it (``contextlib.closing``) to be sure the thread has stopped."""
    producer = _Producer(source, depth)
    producer.start()
    try:
        while True:
            item = producer.next()
            if isinstance(item, _Ended):
                if item.error is not None:
                    raise item.error
                return
            yield item
    finally:
        producer.stop()
