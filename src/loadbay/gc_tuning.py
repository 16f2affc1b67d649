"""Garbage-collector settings for a long-running server process.

After start-up a loadbay process holds ~200,000 objects that live as long as it does
(modules, SQLAlchemy and Pydantic metadata, FastAPI routes, OpenAPI models). CPython's full
(generation 2) collection walks every one of them; under load such a collection took
150-500 ms on the 2-CPU development VM and stalled every request in flight (docs/
benchmarks.md, "HTTP load"). ``freeze_startup_objects``, called once the application has
started, collects the start-up garbage and then moves every surviving object to the
permanent generation (``gc.freeze``), which the collector never scans again: later
collections only walk what was allocated since. Objects frozen are still freed by
reference counting; only a reference cycle made of them would now outlive its use, and the
start-up objects are meant to live for the whole process anyway.

Once per process: a test process starts many applications, and freezing each would keep the
cycles of the previous ones alive.
"""

from __future__ import annotations

import gc
import logging

logger = logging.getLogger("loadbay")

_frozen = False


def freeze_startup_objects() -> bool:
    """Collect, then freeze what survives; True when this call did it, False when the process
    had already done it."""
    global _frozen
    if _frozen:
        return False
    gc.collect()
    gc.freeze()
    _frozen = True
    logger.debug("garbage collector: %d start-up objects frozen", gc.get_freeze_count())
    return True
