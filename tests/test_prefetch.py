"""``prefetch``: items in order, the producer's errors in the consumer, no thread left."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from loadbay.prefetch import prefetch


class Boom(Exception):
    pass


def producer_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "loadbay-prefetch"]


def test_items_come_in_order_and_the_thread_ends() -> None:
    assert list(prefetch(iter(range(1000)), depth=2)) == list(range(1000))
    assert producer_threads() == []


def test_an_empty_source_ends_at_once() -> None:
    assert list(prefetch(iter([]))) == []


def test_the_producer_runs_in_another_thread_at_most_depth_ahead() -> None:
    produced: list[int] = []
    threads: set[str] = set()

    def source() -> Iterator[int]:
        for i in range(10):
            threads.add(threading.current_thread().name)
            produced.append(i)
            yield i

    items = prefetch(source(), depth=1)
    assert next(items) == 0
    time.sleep(0.2)  # the producer runs on until the queue is full, then waits
    # 0 taken, 1 waiting in the queue, 2 produced and blocked on the full queue.
    assert produced == [0, 1, 2]
    assert threads == {"loadbay-prefetch"}
    assert list(items) == list(range(1, 10))


def test_an_error_of_the_producer_is_raised_where_its_item_would_come() -> None:
    def source() -> Iterator[int]:
        yield 1
        yield 2
        raise Boom("the third batch is unreadable")

    items = prefetch(source())
    assert next(items) == 1
    assert next(items) == 2
    with pytest.raises(Boom, match="the third batch is unreadable"):
        next(items)
    assert producer_threads() == []


def test_a_consumer_that_stops_early_stops_and_closes_the_producer() -> None:
    closed = threading.Event()

    def source() -> Iterator[int]:
        try:
            yield from range(1_000_000)
        finally:
            closed.set()

    items = prefetch(source(), depth=1)
    assert next(items) == 0
    items.close()  # what a for loop left by an exception does
    assert closed.is_set()
    assert producer_threads() == []


def test_an_error_of_the_consumer_stops_the_producer() -> None:
    seen = 0

    def source() -> Iterator[int]:
        nonlocal seen
        for i in range(1_000_000):
            seen = i
            yield i

    def consume() -> None:
        for item in prefetch(source(), depth=1):
            if item == 3:
                raise Boom

    with pytest.raises(Boom):
        consume()
    assert producer_threads() == []
    assert seen < 10  # it stopped a step or two ahead, not at the end
