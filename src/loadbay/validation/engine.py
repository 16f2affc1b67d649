"""The Validator: batches of text cells in, typed valid rows and precise cell errors out.

Per batch (the expressions live in ``plan.py``):

1. one polars query casts every field with its fast path, evaluates ``type``, ``required``
   and every constraint as masks, marks the invalid rows and looks the batch's keys up
   (``keys.py``);
2. among the invalid rows (normally few), the cells the fast path declined that might still
   be valid; only if there are some does Python run: the exact reader (``reference.py``)
   once per distinct text, after which the first query runs again;
3. the duplicates are judged and the new keys remembered;
4. one more query builds the error table of the failing cells (messages included) and the
   valid rows; the error table becomes ``CellError`` objects.

Semantics (they follow frictionless): a missing value (``missingValues``, null, absent) is
null before any check; null fails only ``required``; a cell that does not cast fails only
``type``; a cast cell reports every constraint it breaks. A row with any error is invalid.
A primary key is implicitly required. Primary-key duplicates are reported with rule
``primaryKey`` on the key's field when the key has one field, and as a row error (column
None) for a composite key; a one-field key that is also ``unique`` reports both rules, as
frictionless does. Every row takes part in uniqueness (an invalid row still claims its
keys, as in frictionless) except rows skipped for a ``record`` error.

Errors from reading the input (``batch_from_records``) are passed as ``pre_errors``: they
count as errors and make their rows invalid; a row with a ``record`` error (not an object) is
otherwise skipped, as it has no cells to check.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from loadbay.validation import messages
from loadbay.validation.casting import OutOfRange
from loadbay.validation.compiler import ROW_COLUMN, CompiledField, CompiledSchema
from loadbay.validation.errors import RULE_ORDER, CellError, Rule, many_errors
from loadbay.validation.keys import Duplicates, ExistingKeys, KeyTracker
from loadbay.validation.plan import (
    ERROR_ORDER,
    ERROR_SCHEMA,
    INVALID,
    POS,
    ROW,
    SKIPPED,
    Plan,
    build_plan,
    error_columns,
    kind,
    raw,
    typed,
)
from loadbay.validation.reference import INVALID as UNREADABLE


@dataclass(frozen=True)
class RawBatch:
    """A batch of source rows as text.

    ``values`` has one String column per schema field (null: absent or JSON null).
    ``kinds`` optionally holds a UInt8 column (``kinds.py`` codes) per field for JSON
    sources; a field without a column there, or ``kinds=None``, is all text (CSV).
    """

    values: pl.DataFrame
    row_numbers: pl.Series
    kinds: pl.DataFrame | None = None


@dataclass(frozen=True)
class ErrorBudget:
    """When to give up on an input.

    ``max_errors``: exceeded once more than this many errors were found.
    ``max_error_ratio``: exceeded once invalid rows / rows seen is above this ratio. It is
    checked after each batch once ``min_rows_for_ratio`` rows were seen (so a bad first row
    does not end an import), and by ``Validator.finish()`` over the whole input whatever its
    size.
    """

    max_errors: int | None = None
    max_error_ratio: float | None = None
    min_rows_for_ratio: int = 100

    def exceeded(self, *, errors: int, rows: int, invalid: int, final: bool = False) -> bool:
        if self.max_errors is not None and errors > self.max_errors:
            return True
        if self.max_error_ratio is None or rows == 0:
            return False
        if rows < self.min_rows_for_ratio and not final:
            return False
        return invalid / rows > self.max_error_ratio


@dataclass
class BatchResult:
    valid: pl.DataFrame  # valid rows only: typed fields in schema order, then _loadbay_row
    errors: list[CellError]  # sorted by row, then field order, then rule
    rows: int
    rows_valid: int
    rows_invalid: int
    budget_exceeded: bool


class Validator:
    """Validates the batches of one input against a compiled schema, keeping running totals.

    Keys beyond what memory holds (``keys.MEMORY_KEYS`` per key) go to temporary files in
    ``spill_dir`` (None: the system's temporary directory, often memory itself).

    ``existing_keys(keys)`` (insert mode) returns a Boolean Series aligned with ``keys``: True
    where the key already exists in the target table. It is called per batch with the
    distinct keys new to this run: once per unique field (one column named as the field) and
    once for the primary key (its fields' columns), with typed values.

    ``check_keys=False`` leaves out the checks of unique fields and the primary key, for a
    load into a table that refuses repeated keys itself; if it does refuse one, the caller
    validates again with them on, to say which rows repeat it.
    """

    def __init__(
        self,
        compiled: CompiledSchema,
        *,
        budget: ErrorBudget | None = None,
        existing_keys: ExistingKeys | None = None,
        spill_dir: Path | None = None,
        check_keys: bool = True,
    ) -> None:
        self.compiled = compiled
        self.budget = budget or ErrorBudget()
        self.rows_seen = 0
        self.rows_valid = 0
        self.rows_invalid = 0
        self.errors_total = 0
        self.budget_exceeded = False
        self._positions = {f.name: f.position for f in compiled.fields}
        self._plans: dict[frozenset[str], Plan] = {}
        self._key_fields = [compiled.field(name) for name in compiled.primary_key]
        # Each key tracker with the (column position, rule) its duplicates are reported as.
        self._trackers: list[tuple[tuple[int | None, Rule], KeyTracker]] = [
            (
                (f.position, "unique"),
                KeyTracker([typed(f)], [f.name], [f.dtype], existing_keys, spill_dir=spill_dir),
            )
            for f in compiled.fields
            if f.unique and check_keys
        ]
        if self._key_fields and check_keys:
            column = self._key_fields[0].position if len(self._key_fields) == 1 else None
            primary = KeyTracker(
                [typed(f) for f in self._key_fields],
                [f.name for f in self._key_fields],
                [f.dtype for f in self._key_fields],
                existing_keys,
                spill_dir=spill_dir,
            )
            self._trackers.append(((column, "primaryKey"), primary))

    def validate(self, batch: RawBatch, *, pre_errors: Sequence[CellError] = ()) -> BatchResult:
        """Validate one batch; ``pre_errors`` are the input's own errors for its rows."""
        frame, plan = self._input(batch, pre_errors)
        out_of_range: dict[int, list[int]] = {}
        work, failing, lookups = self._check(frame.lazy().with_columns(plan.cast), plan)
        counts = plan.counts(failing)
        updates = self._read_declined(work, plan, failing, counts, out_of_range)
        if updates:
            work, failing, lookups = self._check(work.lazy().with_columns(updates), plan)
            counts = plan.counts(failing)
        duplicates = {
            key: tracker.judge(annotated)
            for (key, tracker), annotated in zip(self._trackers, lookups, strict=True)
        }
        valid_rows = self._valid_rows(work, duplicates, pre_errors)
        cell_errors, valid = pl.collect_all(
            [plan.cell_errors(failing, counts, out_of_range), valid_rows]
        )
        errors = self._errors(work, cell_errors, duplicates, pre_errors)
        rows = work.height
        rows_invalid = rows - valid.height
        self.rows_seen += rows
        self.rows_invalid += rows_invalid
        self.rows_valid += valid.height
        self.errors_total += len(errors)
        self.budget_exceeded = self.budget_exceeded or self.budget.exceeded(
            errors=self.errors_total, rows=self.rows_seen, invalid=self.rows_invalid
        )
        return BatchResult(
            valid=valid,
            errors=errors,
            rows=rows,
            rows_valid=valid.height,
            rows_invalid=rows_invalid,
            budget_exceeded=self.budget_exceeded,
        )

    def finish(self) -> bool:
        """Check the budget over the whole input (the ratio regardless of the minimum rows)."""
        self.budget_exceeded = self.budget_exceeded or self.budget.exceeded(
            errors=self.errors_total, rows=self.rows_seen, invalid=self.rows_invalid, final=True
        )
        return self.budget_exceeded

    def _valid_rows(
        self,
        work: pl.DataFrame,
        duplicates: dict[tuple[int | None, Rule], Duplicates],
        pre_errors: Sequence[CellError],
    ) -> pl.LazyFrame:
        """The rows without a cell error, a duplicate key or an input error, as output."""
        positions = [pl.Series(dtype=pl.UInt32), *(d.positions for d in duplicates.values())]
        invalid = pl.col(INVALID) | pl.col(POS).is_in(pl.concat(positions).implode())
        if pre_errors:
            rows_with_errors = pl.Series([e.row for e in pre_errors], dtype=pl.Int64)
            invalid = invalid | pl.col(ROW).is_in(rows_with_errors.implode())
        return (
            work.lazy()
            .filter(~invalid)
            .select(
                *(pl.col(typed(f)).alias(f.name) for f in self.compiled.fields),
                pl.col(ROW).alias(ROW_COLUMN),
            )
        )

    # --- input ------------------------------------------------------------------------------

    def _input(self, batch: RawBatch, pre_errors: Sequence[CellError]) -> tuple[pl.DataFrame, Plan]:
        """The batch as one frame of internal columns, and the plan for its JSON kinds."""
        fields = self.compiled.fields
        missing = [f.name for f in fields if f.name not in batch.values.columns]
        if missing:
            raise ValueError(f"batch has no column for fields {missing}")
        if batch.row_numbers.len() != batch.values.height:
            raise ValueError("row_numbers must be aligned with values")
        not_text = [
            f.name for f in fields if batch.values.schema[f.name] not in (pl.String, pl.Null)
        ]
        if not_text:
            raise ValueError(f"batch columns must be pl.String, not so for {not_text}")
        with_kinds = frozenset(
            f.name for f in fields if batch.kinds is not None and f.name in batch.kinds.columns
        )
        skipped = [e.row for e in pre_errors if e.rule == "record"]
        columns = [batch.values[f.name].cast(pl.String).alias(raw(f)) for f in fields]
        if batch.kinds is not None:
            columns += [batch.kinds[f.name].alias(kind(f)) for f in fields if f.name in with_kinds]
        row_numbers = batch.row_numbers.cast(pl.Int64).alias(ROW)
        columns += [
            row_numbers,
            pl.int_range(row_numbers.len(), dtype=pl.UInt32, eager=True).alias(POS),
        ]
        frame = pl.DataFrame(columns)
        if skipped:  # a row that is not a record has no cells, whatever the batch holds
            is_skipped = pl.col(ROW).is_in(pl.Series(skipped, dtype=pl.Int64).implode())
            frame = frame.with_columns(is_skipped.alias(SKIPPED)).with_columns(
                pl.when(pl.col(SKIPPED)).then(None).otherwise(pl.col(raw(f))).alias(raw(f))
                for f in fields
            )
        else:
            frame = frame.with_columns(pl.lit(False).alias(SKIPPED))
        plan = self._plans.get(with_kinds)
        if plan is None:
            plan = self._plans[with_kinds] = build_plan(self.compiled, with_kinds)
        return frame, plan

    # --- the exact reader ---------------------------------------------------------------------

    def _read_declined(
        self,
        work: pl.DataFrame,
        plan: Plan,
        failing: pl.DataFrame,
        counts: dict[str, int],
        out_of_range: dict[int, list[int]],
    ) -> list[pl.Series]:
        """The typed columns corrected with the rescued and exactly read cells."""
        updates: list[pl.Series] = []
        for f, cells in plan.declined_cells(failing, counts):
            positions, values = _read_exactly(f, cells, out_of_range)
            if positions:
                column = work[typed(f)].clone()
                column.scatter(positions, pl.Series(values, dtype=f.dtype))
                updates.append(column)
        return updates

    # --- uniqueness -------------------------------------------------------------------------

    def _check(
        self, cast: pl.LazyFrame, plan: Plan
    ) -> tuple[pl.DataFrame, pl.DataFrame, list[pl.DataFrame]]:
        """One query: the checked batch, its invalid rows, and the key lookups of every
        unique field and the primary key. polars computes the shared part once and runs the
        rest in parallel."""
        checked = plan.checked(cast)
        lookups = [tracker.lookup(checked, row=ROW, position=POS) for _, tracker in self._trackers]
        work, failing, *found = pl.collect_all([checked, plan.failing(checked), *lookups])
        return work, failing, found

    # --- error objects ------------------------------------------------------------------------

    def _errors(
        self,
        work: pl.DataFrame,
        cell_errors: pl.DataFrame,
        duplicates: dict[tuple[int | None, Rule], Duplicates],
        pre_errors: Sequence[CellError],
    ) -> list[CellError]:
        """Every error of the batch, sorted by row, field order and rule."""
        parts = [cell_errors]
        if pre_errors:
            parts.append(self._pre_error_frame(pre_errors))
        parts += [
            self._duplicate_frame(work, column, rule, found)
            for (column, rule), found in duplicates.items()
            if found.positions.len()
        ]
        table = pl.concat(parts).sort(ERROR_ORDER)
        return many_errors(
            table["row"].to_list(),
            table["column"].to_list(),
            table["value"].to_list(),
            table["rule"].to_list(),
            table["message"].to_list(),
        )

    def _duplicate_frame(
        self, work: pl.DataFrame, column: int | None, rule: Rule, found: Duplicates
    ) -> pl.DataFrame:
        fields = (
            [self.compiled.fields[column]]
            if rule == "unique" and column is not None
            else self._key_fields
        )
        label = ", ".join(f'"{f.name}"' for f in fields)
        noun = f"value of unique field {label}" if rule == "unique" else f"primary key {label}"
        first = pl.lit(found.first_rows)
        message = (
            pl.when(first.is_null())
            .then(pl.lit(f"{noun} already exists in the target table"))
            .otherwise(
                messages.text(f"duplicate {noun} (first seen in row ", first.cast(pl.String), ")")
            )
        )
        value = pl.concat_str([pl.col(raw(f)).fill_null("") for f in fields], separator=", ")
        return (
            work.select(pl.col(ROW), *(pl.col(raw(f)) for f in fields))
            .gather(found.positions)
            .select(
                error_columns(
                    pl.col(ROW),
                    len(self.compiled.fields) if column is None else column,
                    rule,
                    pl.lit(None if column is None else self.compiled.fields[column].name),
                    messages.preview(value),
                    message,
                )
            )
        )

    def _pre_error_frame(self, pre_errors: Sequence[CellError]) -> pl.DataFrame:
        return pl.DataFrame(
            {
                "row": [e.row for e in pre_errors],
                "order": [self._pre_error_order(e, index) for index, e in enumerate(pre_errors)],
                "rank": [RULE_ORDER[e.rule] for e in pre_errors],
                "column": [e.column for e in pre_errors],
                "value": [e.value for e in pre_errors],
                "rule": [e.rule for e in pre_errors],
                "message": [e.message for e in pre_errors],
            },
            schema=ERROR_SCHEMA,
        )

    def _pre_error_order(self, error: CellError, index: int) -> int:
        """Record errors come first in their row, errors on unknown keys last (in the order
        they were found), like the cell errors in between."""
        if error.rule == "record":
            return -1
        if error.column is None:
            return len(self.compiled.fields)
        if error.column in self._positions:
            return self._positions[error.column]
        return len(self.compiled.fields) + 1 + index


_OUT_OF_RANGE = object()


def _read_exactly(
    f: CompiledField, cells: pl.DataFrame, out_of_range: dict[int, list[int]]
) -> tuple[list[int], list[object]]:
    """Positions and values of the declined cells the rescue or the exact reader (once per
    distinct text) could read; out-of-range cells are noted for their message."""
    positions: list[int] = []
    values: list[object] = []
    verdicts: dict[str, object] = {}
    for position, text, rescued in cells.iter_rows():
        if rescued is not None:
            verdict = rescued
        elif text in verdicts:
            verdict = verdicts[text]
        else:
            verdict = verdicts[text] = _read(f, text)
        if verdict is _OUT_OF_RANGE:
            out_of_range.setdefault(f.position, []).append(position)
        elif verdict is not UNREADABLE:
            positions.append(position)
            values.append(verdict)
    return positions, values


def _read(f: CompiledField, text: str) -> object:
    value = f.caster.read(text)
    if value is UNREADABLE:
        return UNREADABLE
    try:
        return f.caster.store(value)
    except OutOfRange:
        return _OUT_OF_RANGE
