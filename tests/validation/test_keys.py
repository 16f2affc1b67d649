"""Key trackers that move keys to disk find the same duplicates as ones that keep them all in
memory, and as a plain dictionary of first rows does."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loadbay.validation.keys import IN_TARGET, KeyTracker
from loadbay.validation.spill import NOT_FOUND, KeyRuns, SlotRuns, _masks, _Run
from tests.validation.helpers import table_schema, validate_text

Batch = Sequence[Any]  # one key per row: a value, or a tuple for a composite key


def duplicates(
    tracker: KeyTracker, batches: Sequence[Batch], dtypes: Sequence[pl.DataType]
) -> list[tuple[int, int | None]]:
    """Every duplicate as (source row, first row; None: in the target), rows numbered 1.. in
    the order the batches give them; the tracker's key columns are k0, k1, …"""
    names = [f"k{i}" for i in range(len(dtypes))]
    found: list[tuple[int, int | None]] = []
    row = 0
    for batch in batches:
        keys = [key if len(dtypes) > 1 else (key,) for key in batch]
        columns = {
            name: pl.Series(name, [key[i] for key in keys], dtype=dtype)
            for i, (name, dtype) in enumerate(zip(names, dtypes, strict=True))
        }
        frame = pl.DataFrame(columns).with_columns(
            pl.int_range(row + 1, row + 1 + len(batch), dtype=pl.Int64).alias("row"),
            pl.int_range(len(batch), dtype=pl.UInt32).alias("pos"),
        )
        judged = tracker.judge(tracker.lookup(frame.lazy(), row="row", position="pos").collect())
        for position, first in zip(judged.positions, judged.first_rows, strict=True):
            found.append((row + 1 + position, first))
        row += len(batch)
    return found


def reference(
    batches: Sequence[Batch], in_target: frozenset[Any] = frozenset()
) -> list[tuple[int, int | None]]:
    """What a dictionary says: a key seen before is a duplicate of its first row; a key with
    a missing part or NaN takes no part; -0.0 is 0.0."""
    first: dict[Any, int] = {}
    out: list[tuple[int, int | None]] = []
    row = 0
    for batch in batches:
        for key in batch:
            row += 1
            parts = key if isinstance(key, tuple) else (key,)
            if any(p is None or (isinstance(p, float) and math.isnan(p)) for p in parts):
                continue
            normal = tuple(p + 0.0 if isinstance(p, float) else p for p in parts)
            if normal in in_target:
                out.append((row, None))
                first.setdefault(normal, IN_TARGET)
            elif normal in first:
                out.append((row, first[normal] if first[normal] != IN_TARGET else None))
            else:
                first[normal] = row
    return out


def batched(keys: list[Any], sizes: list[int]) -> list[list[Any]]:
    batches, start = [], 0
    for size in sizes:
        batches.append(keys[start : start + size])
        start += size
    batches.append(keys[start:])
    return batches


KINDS: dict[str, tuple[st.SearchStrategy[Any], list[pl.DataType]]] = {
    "dense integers": (st.integers(0, 60), [pl.Int64()]),
    "sparse integers": (st.sampled_from([-(2**62), -7, 0, 3, 10**12, 2**62]), [pl.Int64()]),
    "strings": (st.text("ab\u00e9", max_size=3) | st.none(), [pl.String()]),
    "numbers": (st.sampled_from([0.0, -0.0, 1.5, math.nan, None, 2.0]), [pl.Float64()]),
    "composite": (
        st.tuples(st.integers(0, 4), st.sampled_from(["x", "y", None])),
        [pl.Int64(), pl.String()],
    ),
}


@pytest.mark.parametrize("kind", KINDS)
@given(data=st.data())
@settings(max_examples=60, deadline=None)
def test_a_tracker_that_spills_finds_what_a_dictionary_finds(
    kind: str, data: st.DataObject
) -> None:
    values, dtypes = KINDS[kind]
    keys = data.draw(st.lists(values, max_size=120))
    sizes = data.draw(st.lists(st.integers(0, 30), max_size=8))
    memory_keys = data.draw(st.integers(1, 9))
    batches = batched(keys, sizes)
    names = [f"k{i}" for i in range(len(dtypes))]
    spilling = KeyTracker(names, names, dtypes, memory_keys=memory_keys)
    assert duplicates(spilling, batches, dtypes) == reference(batches)


def test_keys_in_the_target_stay_duplicates_once_on_disk(tmp_path: Path) -> None:
    in_target = frozenset({(5,), (40,)})

    def existing_keys(keys: pl.DataFrame) -> pl.Series:
        return pl.Series([(k,) in in_target for k in keys["id"]], dtype=pl.Boolean)

    tracker = KeyTracker(
        ["k0"], ["id"], [pl.Int64()], existing_keys, memory_keys=3, spill_dir=tmp_path
    )
    batches = [[1, 5, 2], [3, 4, 6, 7], [5, 1, 40, 8], [40, 9, 2]]
    assert duplicates(tracker, batches, [pl.Int64()]) == reference(batches, in_target)


def test_dense_integer_keys_move_to_disk_when_their_range_is_too_wide(tmp_path: Path) -> None:
    # Four slots a memory key: ids 1..8 fit, then an id far away cannot be held densely.
    tracker = KeyTracker(["k0"], ["id"], [pl.Int64()], memory_keys=2, spill_dir=tmp_path)
    batches = [[1, 2, 3], [4, 1], [10**9, 3, 10**9 + 1], [2, 10**9]]
    assert duplicates(tracker, batches, [pl.Int64()]) == [(5, 1), (7, 3), (9, 2), (10, 6)]


def test_runs_leave_no_file_behind(tmp_path: Path) -> None:
    tracker = KeyTracker(["k0"], ["k"], [pl.String()], memory_keys=2, spill_dir=tmp_path)
    duplicates(tracker, [["a", "b", "c"], ["d", "a"]], [pl.String()])
    assert os.listdir(tmp_path) == []  # unlinked when created: nothing to clean up


def test_runs_tell_apart_keys_whose_first_hashes_collide(tmp_path: Path) -> None:
    # 2,000 keys with one first hash among others: they match on the second hash.
    h1 = np.concatenate([np.arange(100), np.full(2000, 500)]).astype(np.uint64)
    h2 = np.arange(h1.size, dtype=np.uint64)[::-1] * np.uint64(7919)
    first = np.arange(h1.size, dtype=np.int64) + 1
    runs = KeyRuns(tmp_path)
    runs.add(h1, h2, first)
    runs.add(np.array([500], dtype=np.uint64), np.array([1], dtype=np.uint64), np.array([-4]))
    assert runs.find(h1, h2).tolist() == first.tolist()
    probes = np.array([500, 500, 50, 10**6], dtype=np.uint64)
    found = runs.find(probes, np.array([1, 2, 3, 4], dtype=np.uint64))
    assert found.tolist() == [-4, NOT_FOUND, NOT_FOUND, NOT_FOUND]


def test_the_bloom_filters_keep_most_absent_keys_off_the_disk() -> None:
    rng = np.random.default_rng(7)
    held = rng.integers(0, 2**63, size=50_000, dtype=np.uint64)
    run = _Run(held, held * np.uint64(31), np.arange(held.size, dtype=np.int64), None)
    assert run.may_hold(held, _masks(held * np.uint64(31))).all()
    absent = rng.integers(0, 2**63, size=200_000, dtype=np.uint64) | np.uint64(1 << 63)
    rate = run.may_hold(absent, _masks(absent * np.uint64(31))).mean()
    assert rate < 0.006  # about one in 250 reaches the file


def test_a_validator_whose_keys_spill_reports_the_same_errors(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    schema = table_schema(
        {"name": "id", "type": "integer"},
        {"name": "email", "constraints": {"unique": True}},
        primaryKey=["id"],
    )
    # ids dense then far apart, emails repeating across batches
    rows = [[str(i if i < 40 else i * 10**9), f"u{i % 23}@x"] for i in range(60)]
    rows += [["3", "new@x"], [str(45 * 10**9), "u1@x"]]
    expected, _, expected_valid = validate_text(schema, rows, batches=7)
    defaults = KeyTracker.__init__.__kwdefaults__
    assert defaults is not None
    monkeypatch.setitem(defaults, "memory_keys", 4)
    errors, _, valid = validate_text(schema, rows, batches=7)
    assert errors == expected
    assert valid.equals(expected_valid)
    assert len(errors) == (60 - 23) + 1 + 2  # repeated emails; id 3; id 45e9 and u1@x


def test_runs_find_a_whole_batch_of_keys_seen_before(tmp_path: Path) -> None:
    """A file imported twice: every key of a batch is in a run, and found there."""
    rng = np.random.default_rng(11)
    held = rng.integers(0, 2**63, size=30_000, dtype=np.uint64)
    runs = KeyRuns(tmp_path)
    runs.add(held, held ^ np.uint64(0x5555), np.arange(held.size, dtype=np.int64))
    order = rng.permutation(held.size)
    found = runs.find(held[order], held[order] ^ np.uint64(0x5555))
    assert found.tolist() == order.tolist()


@given(data=st.data())
@settings(max_examples=80, deadline=None)
def test_rising_integer_keys_on_disk_find_what_a_dictionary_finds(data: st.DataObject) -> None:
    """Ids mostly in order (with repeats, a few out of order, jumps): the dense index moves
    its ranges to slot runs on disk and finds the same duplicates as a dictionary."""
    steps = data.draw(st.lists(st.integers(-3, 40), max_size=150))
    keys, value = [], 0
    for step in steps:
        value += step if step > 0 else 1
        keys.append(value + step if step < 0 else value)  # a negative step looks back
    sizes = data.draw(st.lists(st.integers(0, 30), max_size=8))
    memory_keys = data.draw(st.integers(1, 9))
    batches = batched(keys, sizes)
    tracker = KeyTracker(["k0"], ["id"], [pl.Int64()], memory_keys=memory_keys)
    assert duplicates(tracker, batches, [pl.Int64()]) == reference(batches)


def test_ids_in_order_stay_exact_on_disk(tmp_path: Path) -> None:
    """A million-and-more ids in order outgrow the dense index in memory: its ranges go to
    slot runs (exact, nothing in memory), not to the hashed runs and their Bloom filters."""
    tracker = KeyTracker(["k0"], ["id"], [pl.Int64()], memory_keys=4, spill_dir=tmp_path)
    batches = [[1, 2, 3], [4, 5, 6, 7, 8], [9, 10, 2, 11], [30, 31, 32], [10, 33, 31]]
    assert duplicates(tracker, batches, [pl.Int64()]) == [(11, 2), (16, 10), (18, 14)]
    # White box: which store holds the keys.
    assert tracker._slot_runs
    assert not tracker._runs


def test_slot_runs_hold_rising_ranges(tmp_path: Path) -> None:
    runs = SlotRuns(tmp_path)
    runs.add(10, np.array([1, NOT_FOUND, 3], dtype=np.int64))  # keys 10, 11, 12
    runs.add(13, np.array([4], dtype=np.int64))  # contiguous: the same file
    runs.add(100, np.array([IN_TARGET, 7], dtype=np.int64))  # apart: a second one
    with pytest.raises(ValueError, match="overlaps"):
        runs.add(101, np.array([8], dtype=np.int64))
    keys = np.array([9, 10, 11, 13, 14, 100, 101, 102], dtype=np.int64)
    assert runs.covers(keys).tolist() == [False, True, True, True, False, True, True, False]
    found = runs.find(keys).tolist()
    assert found == [NOT_FOUND, 1, NOT_FOUND, 4, NOT_FOUND, IN_TARGET, 7, NOT_FOUND]
    with pytest.raises(ValueError, match="outside the ranges held"):
        runs.set(np.array([11, 14], dtype=np.int64), np.array([0, 0], dtype=np.int64))
    runs.set(np.array([11], dtype=np.int64), np.array([0], dtype=np.int64))
    assert runs.find(np.array([11], dtype=np.int64)).tolist() == [0]
    taken = [(k.tolist(), f.tolist()) for k, f in runs.take()]
    assert taken == [([10, 11, 12, 13], [1, 0, 3, 4]), ([100, 101], [IN_TARGET, 7])]
    assert not runs
    assert os.listdir(tmp_path) == []
