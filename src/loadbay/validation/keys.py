"""Uniqueness across batches: unique fields and the primary key, kept as polars data.

A ``KeyTracker`` remembers every key seen in a run with the row it was first seen in, in one
of two indexes:

- integer keys within a dense enough range (auto-increment ids, the usual primary key) live
  in a flat Int64 array indexed by ``key - offset``: a batch is looked up with one ``gather``
  and stored with one ``scatter``, whatever the number of keys seen;
- any other key lives in a DataFrame with a 64-bit hash of the key, growing by one chunk per
  batch; a batch is looked up with one inner hash join on the stored hashes (the seen keys
  are never rehashed, which matters for strings) and hash matches are confirmed on the key
  values, so a hash collision can never make a false duplicate.

Memory stays bounded whatever the number of keys: once the hash index holds ``memory_keys``
keys, its keys move to a sorted run on disk behind a Bloom filter (``validation.spill``) and
the index starts empty; keys a batch does not find in memory are then looked for in the
runs. A dense index that would need more than two slots a key of that moves its range to a
slot run on disk (``SlotRuns``: exact, nothing kept in memory) when the new keys rise past
every key it holds (ids in order), and otherwise gives way to a hash index, its keys and
those of its slot runs moving to the hashed runs. On disk a key is two
independent 64-bit hashes: a false duplicate there needs both to collide at once (about one
chance in 10²⁴ with ten million keys), where in memory it cannot happen at all.

Within a batch, ``is_first_distinct`` finds repeated keys. The first occurrence of a key is
valid and every later one a duplicate. Keys with a null part take no part, nor do NaN
numbers (no NaN equals another in frictionless). With an ``existing_keys`` callback, keys
new to the run are also looked up in the target table, and a key found there is a
duplicate wherever it occurs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
import polars as pl

from loadbay.validation.spill import NOT_FOUND, KeyRuns, SlotRuns

ExistingKeys = Callable[[pl.DataFrame], pl.Series]

_HASH = "\x00hash"
_FIRST = "\x00first"  # the row a key was first seen in, or IN_TARGET
_POS = "\x00pos"
_ROW = "\x00row"
_NEW = "\x00new"  # the first row of a key in the batch
_SEEN_SUFFIX = "\x00seen"
IN_TARGET: Final = -(2**63)  # "first seen" marker of a key the target table holds
# Keys held in memory before they move to disk: half a million keys of 20-character strings
# take about 30 MB. Fewer make more runs to ask (slower beyond ten million rows), more make
# the peak of a big file higher (bench/import_file.py --rows-10m, docs/benchmarks.md).
MEMORY_KEYS: Final = 1 << 19
_DENSE_SLOTS_PER_KEY: Final = 2  # a dense index holds 2 x MEMORY_KEYS slots at most…
_DENSE_MIN_SLOTS: Final = 1 << 20  # …and at most 16 slots a key beyond 8 MB
# The second hash of a key on disk: any seed other than polars' default.
_SEED: Final = 0x51ED270B9E3779B9
_INTEGERS = (pl.Int64, pl.Int32)


@dataclass(frozen=True, slots=True)
class Duplicates:
    """The duplicate rows of a batch: their positions and where the key was seen first."""

    positions: pl.Series  # UInt32 positions within the batch
    first_rows: pl.Series  # Int64 source row of the first occurrence; null: in the target


class _HashIndex:
    """Seen keys with their hashes and first rows, looked up by hash join."""

    def __init__(self, columns: list[str], dtypes: Sequence[pl.DataType]) -> None:
        self._columns = columns
        self._seen = pl.DataFrame(
            schema=[(_HASH, pl.UInt64()), *zip(columns, dtypes, strict=True), (_FIRST, pl.Int64())]
        )

    def annotate(self, batch: pl.LazyFrame, key: pl.Expr) -> pl.LazyFrame:
        """``batch`` with ``_HASH`` and ``_FIRST`` (null: a key not seen before)."""
        batch = batch.with_columns(key.hash().alias(_HASH))
        same_key = pl.all_horizontal([pl.col(c) == pl.col(c + _SEEN_SUFFIX) for c in self._columns])
        # An inner join (the seen keys are the probe side) beats a left join by far.
        hits = (
            batch.join(self._seen.lazy(), on=_HASH, how="inner", suffix=_SEEN_SUFFIX)
            .filter(same_key)
            .select(_POS, _FIRST)
        )
        return batch.join(hits, on=_POS, how="left", maintain_order="left")

    def add(self, new: pl.DataFrame) -> None:
        """Remember ``new`` keys (with ``_HASH`` and ``_FIRST``)."""
        self._seen = pl.concat([self._seen, new.select(self._seen.columns)], rechunk=False)

    @property
    def height(self) -> int:
        return self._seen.height

    def take(self) -> pl.DataFrame:
        """Every key held (its columns and ``_FIRST``), forgotten here."""
        taken = self._seen.drop(_HASH)
        self._seen = self._seen.clear()
        return taken


class _DenseIndex:
    """First rows of integer keys in a flat array: ``slots[key - offset]`` (null: unseen)."""

    def __init__(self, column: str, max_slots: int) -> None:
        self._column = column
        self._max_slots = max_slots
        self._offset = 0
        self._slots = pl.Series(dtype=pl.Int64)
        self._count = 0
        self.high: int | None = None  # the highest key held

    def make_room(self, low: int, high: int, incoming: int) -> bool:
        """Cover keys ``low..high``; False when the range is too wide or too sparse."""
        size = self._slots.len()
        if size and self._offset <= low and high < self._offset + size:
            return True
        start = min(low, self._offset) if size else low
        stop = max(high + 1, self._offset + size) if size else high + 1
        limit = min(self._max_slots, max(_DENSE_MIN_SLOTS, 16 * (self._count + incoming)))
        if stop - start > limit:
            return False
        # Room for rising keys (ids): 4 times the range at first, then doubling.
        stop = min(max(stop, start + 2 * size, start + 4 * (stop - start)), start + limit)
        slots = self._slots
        if size and start < self._offset:
            before = pl.repeat(None, self._offset - start, dtype=pl.Int64, eager=True)
            slots = pl.concat([before, slots], rechunk=True)
        self._slots = slots.extend_constant(None, stop - start - slots.len())
        self._offset = start
        return True

    def annotate(self, batch: pl.LazyFrame, key: pl.Expr) -> pl.LazyFrame:
        """``batch`` with ``_FIRST`` (null: a key not seen before, as is any key outside the
        range the index covers yet)."""
        size = self._slots.len()
        if not size:
            return batch.with_columns(pl.lit(None, dtype=pl.Int64).alias(_FIRST))
        slot = key.cast(pl.Int64) - self._offset
        first = pl.lit(self._slots).gather(slot.clip(0, size - 1).cast(pl.UInt32))
        in_range = (slot >= 0) & (slot < size)
        return batch.with_columns(pl.when(in_range).then(first).alias(_FIRST))

    def add(self, new: pl.DataFrame) -> None:
        """Remember ``new`` keys (with ``_FIRST``), all within the range made room for."""
        if not new.height:
            return
        slots = new.select(self._slot(pl.col(self._column))).to_series()
        self._slots.scatter(slots, new[_FIRST])
        self._count += new.height
        high = new[self._column].max()
        assert isinstance(high, int)
        self.high = high if self.high is None else max(self.high, high)

    @property
    def low(self) -> int:
        """The lowest key the index covers."""
        return self._offset

    def flush(self) -> tuple[int, npt.NDArray[np.int64]]:
        """The slots from the lowest key covered to the highest key held (``NOT_FOUND``:
        unseen), for ``SlotRuns``; the index is empty afterwards."""
        assert self.high is not None
        used = self._slots.slice(0, self.high - self._offset + 1)
        flushed = (self._offset, used.fill_null(NOT_FOUND).to_numpy())
        self._slots = pl.Series(dtype=pl.Int64)
        self._count = 0
        self.high = None
        return flushed

    def take(self, dtype: pl.DataType, chunk: int) -> Iterator[pl.DataFrame]:
        """Every key held (column and ``_FIRST``), ``chunk`` keys at a time, for a range this
        index cannot hold; the index is empty afterwards."""
        present = self._slots.is_not_null().arg_true()
        for start in range(0, present.len(), chunk):
            part = present.slice(start, chunk)
            keys = (part.cast(pl.Int64) + self._offset).cast(dtype).alias(self._column)
            yield pl.DataFrame([keys, self._slots.gather(part).alias(_FIRST)])
        self._slots = pl.Series(dtype=pl.Int64)
        self._count = 0
        self.high = None

    def _slot(self, key: pl.Expr) -> pl.Expr:
        return (key.cast(pl.Int64) - self._offset).cast(pl.UInt32)


class KeyTracker:
    def __init__(
        self,
        columns: Sequence[str],
        names: Sequence[str],
        dtypes: Sequence[pl.DataType],
        existing_keys: ExistingKeys | None = None,
        *,
        memory_keys: int = MEMORY_KEYS,
        spill_dir: Path | None = None,
    ) -> None:
        """``columns`` name the key in the frames given to ``check``; ``names`` are the schema
        field names ``existing_keys`` receives them under. Beyond ``memory_keys`` keys, they
        move to temporary files in ``spill_dir`` (None: the system's temporary directory)."""
        self._columns = list(columns)
        self._names = list(names)
        self._dtypes = list(dtypes)
        self._existing_keys = existing_keys
        self._memory_keys = memory_keys
        self._floats = [c for c, t in zip(columns, dtypes, strict=True) if t == pl.Float64]
        # -0.0 + 0.0 is 0.0: equal numbers must hash alike.
        self._values = [pl.col(c) + 0.0 if c in self._floats else pl.col(c) for c in columns]
        self._key = self._values[0] if len(self._values) == 1 else pl.struct(self._values)
        dense = len(self._columns) == 1 and any(self._dtypes[0] == t for t in _INTEGERS)
        self._index: _DenseIndex | _HashIndex = (
            _DenseIndex(self._columns[0], _DENSE_SLOTS_PER_KEY * memory_keys)
            if dense
            else _HashIndex(self._columns, self._dtypes)
        )
        self._runs = KeyRuns(spill_dir)
        self._slot_runs = SlotRuns(spill_dir)  # a dense index's ranges moved to disk

    def lookup(self, batch: pl.LazyFrame, *, row: str, position: str) -> pl.LazyFrame:
        """The query that looks a batch's keys up: ``batch`` holds the typed key columns, the
        source row numbers (column ``row``) and the positions in the batch (``position``).
        Collect it, with other queries, and hand the result to ``judge``."""
        keys = (
            batch.select(*self._values, pl.col(position).alias(_POS), pl.col(row).alias(_ROW))
            .filter(
                *[pl.col(c).is_not_null() for c in self._columns],
                *[~pl.col(c).is_nan() for c in self._floats],
            )
            .with_columns(self._key.is_first_distinct().alias(_NEW))
        )
        return self._index.annotate(keys, self._key)

    def judge(self, annotated: pl.DataFrame) -> Duplicates:
        """The duplicates of the batch ``lookup`` looked up; its new keys are remembered."""
        if self._slot_runs:
            annotated = self._look_in_slot_runs(annotated)
        if self._runs:
            annotated = self._look_in_runs(annotated)
        unseen = pl.col(_FIRST).is_null()
        new_keys = (
            annotated.filter(unseen & pl.col(_NEW))
            .drop(_FIRST, _NEW)
            .with_columns(pl.col(_ROW).alias(_FIRST))
        )
        parts = [annotated.filter(~unseen).select(_POS, _FIRST)]
        on_disk = pl.repeat(False, new_keys.height, dtype=pl.Boolean, eager=True)
        if isinstance(self._index, _DenseIndex) and new_keys.height:
            placed = self._place_dense(new_keys[self._columns[0]])
            if placed is None:  # no longer dense: every key moves to the hashed runs
                new_keys = new_keys.with_columns(pl.col(self._columns[0]).hash().alias(_HASH))
            else:
                on_disk = placed
        in_target = self._in_target(new_keys)
        if in_target.any():
            # A key the target table holds is a duplicate wherever it occurs.
            new_keys = new_keys.with_columns(
                pl.when(in_target).then(pl.lit(IN_TARGET)).otherwise(pl.col(_FIRST)).alias(_FIRST)
            )
            parts.append(new_keys.filter(in_target).select(_POS, _FIRST))
        if on_disk.any():
            written = new_keys.filter(on_disk)
            self._slot_runs.set(
                written[self._columns[0]].cast(pl.Int64).to_numpy(), written[_FIRST].to_numpy()
            )
        self._index.add(new_keys.filter(~on_disk))
        if isinstance(self._index, _HashIndex) and self._index.height >= self._memory_keys:
            self._spill(self._index.take())
        repeated = annotated.filter(unseen & ~pl.col(_NEW))
        if repeated.height:
            # Keys repeated within the batch: the first row is that of the new key.
            first_rows = new_keys.select(*self._columns, _FIRST)
            parts.append(repeated.select(*self._columns, _POS).join(first_rows, on=self._columns))
        duplicates = pl.concat([part.select(_POS, _FIRST) for part in parts]).sort(_POS)
        first = duplicates[_FIRST]
        return Duplicates(duplicates[_POS], first.set(first == IN_TARGET, None))

    def _place_dense(self, keys: pl.Series) -> pl.Series | None:
        """Where the dense index's new ``keys`` go: True for those within ranges moved to disk,
        False for those the index in memory now has room for. Keys rising past every key held
        (ids in order) move the index's range to disk when it cannot widen further. None when
        the keys are no longer dense: the index and the ranges on disk have then moved to the
        hashed runs, and a hash index takes over."""
        index = self._index
        assert isinstance(index, _DenseIndex)
        values = keys.cast(pl.Int64).to_numpy()
        on_disk = pl.Series(self._slot_runs.covers(values), dtype=pl.Boolean)
        rest = keys.filter(~on_disk)
        if not rest.len():
            return on_disk
        low, high = rest.min(), rest.max()
        assert isinstance(low, int)
        assert isinstance(high, int)
        if index.make_room(low, high, rest.len()):
            return on_disk
        # Only a range above every range on disk can join them (SlotRuns.add).
        end = self._slot_runs.end
        rising = index.high is not None and low > index.high and (end is None or index.low >= end)
        if rising and not self._slot_runs.full:
            self._slot_runs.add(*index.flush())
            if index.make_room(low, high, rest.len()):
                return on_disk
        for held in index.take(self._dtypes[0], self._memory_keys):
            self._spill(held)
        for held_keys, first in self._slot_runs.take():
            for start in range(0, held_keys.size, self._memory_keys):
                part = slice(start, start + self._memory_keys)
                column = pl.Series(self._columns[0], held_keys[part]).cast(self._dtypes[0])
                self._spill(pl.DataFrame([column, pl.Series(_FIRST, first[part])]))
        self._index = _HashIndex(self._columns, self._dtypes)
        return None

    def _look_in_slot_runs(self, annotated: pl.DataFrame) -> pl.DataFrame:
        """``annotated`` with ``_FIRST`` filled in for the keys the slot runs hold."""
        unseen = annotated[_FIRST].is_null().arg_true()
        if not unseen.len():
            return annotated
        keys = annotated[self._columns[0]].gather(unseen).cast(pl.Int64).to_numpy()
        found = pl.Series(self._slot_runs.find(keys))
        found = found.set(found == NOT_FOUND, None)
        return annotated.with_columns(annotated[_FIRST].clone().scatter(unseen, found))

    def _fingerprints(self, keys: pl.DataFrame) -> pl.DataFrame:
        """Two independent 64-bit hashes of each key, as the runs on disk store them."""
        return keys.select(self._key.hash().alias("h1"), self._key.hash(_SEED).alias("h2"))

    def _spill(self, held: pl.DataFrame) -> None:
        """Move keys (their columns and ``_FIRST``) to a new run on disk."""
        hashes = self._fingerprints(held)
        self._runs.add(hashes["h1"].to_numpy(), hashes["h2"].to_numpy(), held[_FIRST].to_numpy())

    def _look_in_runs(self, annotated: pl.DataFrame) -> pl.DataFrame:
        """``annotated`` with ``_FIRST`` filled in for the keys a run on disk holds."""
        unseen = annotated[_FIRST].is_null().arg_true()
        if not unseen.len():
            return annotated
        hashes = self._fingerprints(annotated[unseen])
        first = self._runs.find(hashes["h1"].to_numpy(), hashes["h2"].to_numpy())
        found = pl.Series(first)
        found = found.set(found == NOT_FOUND, None)
        return annotated.with_columns(annotated[_FIRST].clone().scatter(unseen, found))

    def _in_target(self, new: pl.DataFrame) -> pl.Series:
        """For each new key: does the target table already hold it?"""
        if self._existing_keys is None or not new.height:
            return pl.repeat(False, new.height, dtype=pl.Boolean, eager=True)
        candidates = new.select(
            pl.col(c).alias(n) for c, n in zip(self._columns, self._names, strict=True)
        )
        found = self._existing_keys(candidates)
        if found.dtype != pl.Boolean or found.len() != candidates.height:
            raise TypeError(
                "existing_keys must return a Boolean Series aligned with the keys it was given, "
                f"got {found.dtype} of length {found.len()} for {candidates.height} keys"
            )
        return found.fill_null(False)
