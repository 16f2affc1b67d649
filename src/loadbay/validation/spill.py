"""Keys moved out of memory: sorted runs in temporary files, each behind a Bloom filter.

A run holds the keys a ``KeyTracker`` kept in memory until there were too many: for each
key two independent 64-bit hashes and the row it was first seen in, sorted by the first
hash, in an unlinked temporary file (nothing is left behind, even by a killed process). In
memory a run keeps only its Bloom filter, 2 bytes a key, so the memory ten million keys need
is close to that of one million.

A lookup asks each run's Bloom filter first: nearly every new key is answered there, with no
I/O. The few keys a filter may hold are looked for in the run's file, mapped for the
duration of the lookup only (the pages it touched do not stay in the process), by a binary
search of its first hashes, and match on both hashes. Two different keys match only if both
of their 64-bit hashes collide at once: about n²/2¹²⁹ for n keys, one chance in 10²⁴ for ten
million.

The filter is *blocked*: each key sets ``K`` bits of a single 64-bit word, so a look-up is
one gather; with 16 bits a key, about one key in 250 absent from a run still reaches its
file.
"""

from __future__ import annotations

import mmap
import os
import tempfile
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

_BITS_PER_KEY: Final = 16
_K: Final = 6  # bits a key sets in its word, 6 bits of h2 each
NOT_FOUND: Final = np.iinfo(np.int64).max

U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]


def _masks(h2: U64) -> U64:
    """The ``K`` bits each key sets in its word of a filter."""
    mask = np.zeros(h2.shape, dtype=np.uint64)
    for i in range(_K):
        mask |= np.uint64(1) << ((h2 >> np.uint64(6 * i)) & np.uint64(63))
    return mask


class _Run:
    """One file: the keys' first hashes, then their second hashes, then their first rows,
    all in the order of the first hashes."""

    def __init__(self, h1: U64, h2: U64, first: I64, directory: Path | None) -> None:
        # Keys sharing a first hash (a 64-bit collision) need no order among themselves: the
        # search walks them all. A plain argsort takes a tenth of a lexsort of both hashes.
        order = np.argsort(h1)
        self.size = int(h1.shape[0])
        self._fd = _unlinked_file(self, directory, "loadbay-keys-")
        for at, column in enumerate((h1, h2, first)):
            _write_at(self._fd, column[order], 8 * self.size * at)
        self._words = np.uint64(max(1, self.size * _BITS_PER_KEY // 64))
        self._filter = np.zeros(int(self._words), dtype=np.uint64)
        np.bitwise_or.at(self._filter, (h1 % self._words).astype(np.intp), _masks(h2))

    def may_hold(self, h1: U64, masks: U64) -> npt.NDArray[np.bool_]:
        """The filter's answer: False where the run certainly does not hold the key."""
        words = self._filter[(h1 % self._words).astype(np.intp)]
        return np.asarray((words & masks) == masks)

    def find(self, h1: U64, h2: U64, masks: U64) -> I64 | None:
        """The first rows of the keys this run holds, ``NOT_FOUND`` for the others (``masks``:
        their filter bits); None when it holds none of them, mostly known from the filter."""
        maybe = np.flatnonzero(self.may_hold(h1, masks))
        if not maybe.size:
            return None
        with mmap.mmap(self._fd, 24 * self.size, prot=mmap.PROT_READ) as mapped:
            searched = self._search(mapped, h1[maybe], h2[maybe])
        hit = searched != NOT_FOUND
        if not hit.any():
            return None
        found = np.full(h1.shape, NOT_FOUND, dtype=np.int64)
        found[maybe[hit]] = searched[hit]
        return found

    def _search(self, mapped: mmap.mmap, h1: U64, h2: U64) -> I64:
        """The first rows of the keys (``NOT_FOUND``: not here), from the mapped file. Views
        of the mapping end with this call, before the mapping is closed."""
        n = self.size
        hashes = np.frombuffer(mapped, dtype=np.uint64, count=2 * n)
        firsts = np.frombuffer(mapped, dtype=np.int64, count=n, offset=16 * n)
        # A binary search a key: the pages near the top of the search are shared by all of
        # them, and its last steps stay within one page.
        at = np.searchsorted(hashes[:n], h1, side="left")
        found = np.full(h1.shape, NOT_FOUND, dtype=np.int64)
        here = np.minimum(at, n - 1)
        same = (at < n) & (hashes[here] == h1)
        hit = same & (hashes[n + here] == h2)
        found[hit] = firsts[here[hit]]
        for probe in np.flatnonzero(same & ~hit).tolist():
            # Keys sharing a first hash lie side by side: the rare key that is not the first
            # of them is looked for among the next.
            index = int(at[probe]) + 1
            while index < n and hashes[index] == h1[probe]:
                if hashes[n + index] == h2[probe]:
                    found[probe] = firsts[index]
                    break
                index += 1
        return found


class KeyRuns:
    """The runs of one key, oldest first; every key is in at most one of them."""

    def __init__(self, directory: Path | None = None) -> None:
        self._directory = directory
        self._runs: list[_Run] = []

    def __bool__(self) -> bool:
        return bool(self._runs)

    def add(self, h1: U64, h2: U64, first: I64) -> None:
        """Write keys (their two hashes and first rows) to disk as a new run."""
        if h1.size:
            self._runs.append(_Run(h1, h2, first, self._directory))

    def find(self, h1: U64, h2: U64) -> I64:
        """The first row of each key, ``NOT_FOUND`` for a key no run holds."""
        first = np.full(h1.shape, NOT_FOUND, dtype=np.int64)
        masks = _masks(h2)
        positions = np.arange(h1.size)
        for run in self._runs:
            found = run.find(h1, h2, masks)
            if found is None:  # the usual answer: the keys still unknown stay as they are
                continue
            hit = found != NOT_FOUND
            first[positions[hit]] = found[hit]
            # Every key is in one run at most: those found are asked no further.
            rest = ~hit
            positions, h1, h2, masks = positions[rest], h1[rest], h2[rest], masks[rest]
            if not positions.size:
                break
        return first


class _SlotRun:
    """One file of int64 slots for the integer keys ``lo``, ``lo + 1``, …: 0 where a key was
    not seen, else its first row + 1 (so that a file's holes read as unseen)."""

    def __init__(self, lo: int, directory: Path | None) -> None:
        self._fd = _unlinked_file(self, directory, "loadbay-slots-")
        self.lo = lo
        self.size = 0

    @property
    def end(self) -> int:
        return self.lo + self.size

    def append(self, first: I64) -> None:
        """Slots for the next ``first.size`` keys from ``end`` (``NOT_FOUND``: unseen)."""
        _write_at(self._fd, np.where(first == NOT_FOUND, 0, first + 1), 8 * self.size)
        self.size += int(first.size)

    def find(self, keys: I64) -> I64:
        """The first rows of ``keys`` (all within this run), ``NOT_FOUND`` for unseen ones."""
        with mmap.mmap(self._fd, 8 * self.size, prot=mmap.PROT_READ) as mapped:
            slots = np.frombuffer(mapped, dtype=np.int64, count=self.size)
            stored = slots[keys - self.lo]  # a copy: no view outlives the mapping
            del slots
        return np.where(stored == 0, NOT_FOUND, stored - 1)

    def set(self, keys: I64, first: I64) -> None:
        """Record unseen ``keys`` (all within this run) as first seen in rows ``first``."""
        with mmap.mmap(self._fd, 8 * self.size) as mapped:
            slots = np.frombuffer(mapped, dtype=np.int64, count=self.size)
            slots[keys - self.lo] = first + 1
            del slots

    def held(self) -> tuple[I64, I64]:
        """Every key seen and its first row."""
        with mmap.mmap(self._fd, 8 * self.size, prot=mmap.PROT_READ) as mapped:
            stored = np.frombuffer(mapped, dtype=np.int64, count=self.size).copy()
        seen = np.flatnonzero(stored)
        return seen.astype(np.int64) + self.lo, stored[seen] - 1


class SlotRuns:
    """First rows of integer keys that came in rising ranges (ids), by key, on disk: runs of
    slots over disjoint ranges in ascending order, contiguous ranges in one file. Exact,
    unlike the hashed runs, and nothing of them stays in memory: a lookup maps the run it
    reads for the duration of the read."""

    MAX_RUNS: Final = 64  # ranges apart beyond this are no longer "dense"

    def __init__(self, directory: Path | None = None) -> None:
        self._directory = directory
        self._runs: list[_SlotRun] = []

    def __bool__(self) -> bool:
        return bool(self._runs)

    @property
    def end(self) -> int | None:
        """The key after the highest range held (None: nothing held)."""
        return self._runs[-1].end if self._runs else None

    @property
    def full(self) -> bool:
        return len(self._runs) >= self.MAX_RUNS

    def add(self, lo: int, first: I64) -> None:
        """Slots for the keys ``lo`` … ``lo + first.size - 1`` (``NOT_FOUND``: unseen), above
        every range held."""
        if not first.size:
            return
        end = self.end
        if end is not None and lo < end:
            raise ValueError(f"range from {lo} overlaps the runs, which end at {end}")
        if end is None or lo > end:
            self._runs.append(_SlotRun(lo, self._directory))
        self._runs[-1].append(first)

    def covers(self, keys: I64) -> npt.NDArray[np.bool_]:
        """Which keys fall within a range held (seen or not)."""
        run = self._run_of(keys)
        return run >= 0

    def find(self, keys: I64) -> I64:
        """The first row of each key, ``NOT_FOUND`` for a key not seen (or not covered)."""
        first = np.full(keys.shape, NOT_FOUND, dtype=np.int64)
        for run, here in self._by_run(keys):
            first[here] = run.find(keys[here])
        return first

    def set(self, keys: I64, first: I64) -> None:
        """Record covered, unseen ``keys`` as first seen in rows ``first``."""
        if not self.covers(keys).all():
            raise ValueError("keys outside the ranges held")
        for run, here in self._by_run(keys):
            run.set(keys[here], first[here])

    def take(self) -> Iterator[tuple[I64, I64]]:
        """Every key seen and its first row, run by run; nothing is held afterwards."""
        runs, self._runs = self._runs, []
        for run in runs:
            yield run.held()

    def _by_run(self, keys: I64) -> Iterator[tuple[_SlotRun, npt.NDArray[np.intp]]]:
        """Each run holding some of ``keys``, with the positions of those keys."""
        run_of = self._run_of(keys)
        for index in np.unique(run_of[run_of >= 0]).tolist():
            yield self._runs[index], np.flatnonzero(run_of == index)

    def _run_of(self, keys: I64) -> npt.NDArray[np.intp]:
        """The index of the run whose range holds each key, -1 for none."""
        if not self._runs:
            return np.full(keys.shape, -1, dtype=np.intp)
        starts = np.array([run.lo for run in self._runs], dtype=np.int64)
        ends = np.array([run.end for run in self._runs], dtype=np.int64)
        index = np.searchsorted(starts, keys, side="right") - 1
        inside = (index >= 0) & (keys < ends[np.maximum(index, 0)])
        return np.where(inside, index, -1)


def _unlinked_file(owner: object, directory: Path | None, prefix: str) -> int:
    """A new temporary file's descriptor, its name unlinked at once (even a killed process
    leaves nothing behind), closed when ``owner`` is collected."""
    fd, path = tempfile.mkstemp(dir=directory, prefix=prefix)
    os.unlink(path)
    weakref.finalize(owner, os.close, fd)
    return fd


def _write_at(fd: int, values: npt.NDArray[np.integer[Any]], offset: int) -> None:
    """``values``' bytes into the file at ``offset``, however many writes that takes."""
    data = np.ascontiguousarray(values).data.cast("B")
    while data:
        written = os.pwrite(fd, data, offset)
        data, offset = data[written:], offset + written
