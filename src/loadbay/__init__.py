"""loadbay: self-hosted data import service."""

import os
from importlib.metadata import version

# polars allocates through its own jemalloc (symbols prefixed _rjem_), configured from this
# variable when polars is first imported, which in a loadbay process comes after this line.
# A load validates in one thread while another writes (loadbay/prefetch.py), and with
# jemalloc's default of 4 arenas per CPU the memory one thread frees is seldom reused by the
# other: peak RSS for a 3M-row file was 713 MB, against 529 MB with the two steps in one
# thread. Two arenas give 533 MB at no cost in speed (docs/benchmarks.md, "File import"). A value
# set by the operator wins.
os.environ.setdefault("_RJEM_MALLOC_CONF", "narenas:2")

__version__ = version("loadbay")
