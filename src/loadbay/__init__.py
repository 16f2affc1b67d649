"""loadbay: self-hosted data import service."""

import os
from importlib.metadata import version

# polars allocates through its own jemalloc (symbols prefixed _rjem_), configured from this
# variable when polars is first imported, which in a loadbay process comes after this line.
# A load validates in one thread while another writes (loadbay/prefetch.py), polars works in
# a pool of its own, and memory one thread frees in its arena is seldom reused by a thread of
# another: with jemalloc's default of 4 arenas per CPU the peak RSS for a 3M-row file was
# 713 MB, against 529 MB with the two steps in one thread; two arenas gave 533 MB, and one
# arena takes another 10-20 MB off a 1M-row load (355-373 MB against 375-390 MB) at no cost
# in speed: each thread's cache still serves most allocations without the arena's lock
# (docs/benchmarks.md, "File import"). A value set by the operator wins.
os.environ.setdefault("_RJEM_MALLOC_CONF", "narenas:1")

__version__ = version("loadbay")
