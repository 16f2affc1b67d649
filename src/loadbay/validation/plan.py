"""The polars expressions a compiled schema evaluates per batch, built once per kind layout.

A batch is one frame of internal columns (``\\x00``-prefixed, so no field name can clash):
the raw text of every field, its JSON kinds where given, the source row number, the row's
position and whether the row is skipped. The plan adds the typed value and the missing flag
of every field, one boolean mask per rule of every field, and the invalid flag of the row;
from those it derives the error table of the failing cells (messages included) and the
declined cells that need a closer look.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from loadbay.validation import messages
from loadbay.validation.compiler import CompiledField, CompiledSchema
from loadbay.validation.errors import RULE_ORDER, Rule

ROW = "\x00row"  # source row number
POS = "\x00pos"  # position in the batch
SKIPPED = "\x00skipped"  # a row with a "record" error: no cells to check
INVALID = "\x00invalid"  # a row with a cell error
TEXT = "\x00text"
RESCUED = "\x00rescued"

# The error table: one row per error, sortable into the order errors are reported in.
ERROR_SCHEMA = pl.Schema(
    {
        "row": pl.Int64,
        "order": pl.Int32,  # the field's position; row errors before, unknown keys after
        "rank": pl.Int32,  # the rule's place in RULE_ORDER
        "column": pl.String,
        "value": pl.String,
        "rule": pl.String,
        "message": pl.String,
    }
)
ERROR_ORDER = ["row", "order", "rank"]


def raw(f: CompiledField) -> str:
    return f"\x00raw{f.position}"


def kind(f: CompiledField) -> str:
    return f"\x00kind{f.position}"


def typed(f: CompiledField) -> str:
    return f"\x00typed{f.position}"


def missing(f: CompiledField) -> str:
    return f"\x00missing{f.position}"


def out_of_range(f: CompiledField) -> str:
    return f"\x00range{f.position}"


def _mask_name(f: CompiledField, rule: Rule) -> str:
    return f"\x00mask{f.position}.{rule}"


def error_columns(
    row: pl.Expr, order: int, rule: Rule, column: pl.Expr, value: pl.Expr, message: pl.Expr
) -> list[pl.Expr]:
    """The columns of the error table (``ERROR_SCHEMA``)."""
    return [
        row.cast(pl.Int64).alias("row"),
        pl.lit(order, dtype=pl.Int32).alias("order"),
        pl.lit(RULE_ORDER[rule], dtype=pl.Int32).alias("rank"),
        column.cast(pl.String).alias("column"),
        value.cast(pl.String).alias("value"),
        pl.lit(rule, dtype=pl.String).alias("rule"),
        message.cast(pl.String).alias("message"),
    ]


@dataclass(frozen=True, slots=True)
class Mask:
    """One rule of one field: where cells fail it, and their rows of the error table."""

    name: str
    failing: pl.Expr
    error: list[pl.Expr]


@dataclass(frozen=True, slots=True)
class Plan:
    """The expressions of one compiled schema for one layout of JSON kind columns."""

    fields: tuple[CompiledField, ...]
    cast: list[pl.Expr]  # typed values and missing flags
    masks: list[Mask]
    # Fields whose fast cast may decline, with the failing rows where it did.
    declined: list[tuple[CompiledField, pl.Expr]]
    error_inputs: list[str]  # the columns the masks' error rows read

    def checked(self, cast: pl.LazyFrame) -> pl.LazyFrame:
        """The cast cells with every mask and the invalid flag."""
        masks = [mask.name for mask in self.masks]
        return cast.with_columns(mask.failing.alias(mask.name) for mask in self.masks).with_columns(
            pl.any_horizontal(*masks, SKIPPED).alias(INVALID)
        )

    def failing(self, checked: pl.LazyFrame) -> pl.LazyFrame:
        """The invalid rows, with what their errors are made of (few rows, few columns)."""
        masks = (mask.name for mask in self.masks)
        return checked.select(*self.error_inputs, *masks, INVALID).filter(pl.col(INVALID))

    def counts(self, failing: pl.DataFrame) -> dict[str, int]:
        """How many cells fail each mask."""
        sums = failing.select(pl.col(mask.name).sum() for mask in self.masks).row(0)
        return {mask.name: count for mask, count in zip(self.masks, sums, strict=True)}

    def declined_cells(
        self, failing: pl.DataFrame, counts: dict[str, int]
    ) -> list[tuple[CompiledField, pl.DataFrame]]:
        """Per field with declined cells worth a closer look (not ``hopeless``): their
        ``POS``, ``TEXT`` and the rescue's typed value (``RESCUED``, null if none)."""
        fields = [(f, d) for f, d in self.declined if counts[_mask_name(f, "type")]]
        if not fields:
            return []
        # One select over the few failing rows flags, per field, the cells worth a look.
        flags = failing.select(
            (
                declined & ~f.caster.hopeless(pl.col(raw(f)))
                if f.caster.hopeless is not None
                else declined
            ).alias(raw(f))
            for f, declined in fields
        )
        found = []
        for f, _ in fields:
            worth_a_look = flags[raw(f)]
            if not worth_a_look.any():
                continue
            rescue = f.caster.rescue
            text = pl.col(raw(f))
            rescued = rescue(text) if rescue is not None else pl.lit(None)
            cells = failing.filter(worth_a_look).select(
                POS, text.alias(TEXT), rescued.cast(f.dtype).alias(RESCUED)
            )
            found.append((f, cells))
        return found

    def cell_errors(
        self,
        failing: pl.DataFrame,
        counts: dict[str, int],
        out_of_range_positions: dict[int, list[int]],
    ) -> pl.LazyFrame:
        """The error table of the failing cells (``ERROR_SCHEMA``), unsorted."""

        def is_out_of_range(f: CompiledField) -> pl.Expr:
            positions = out_of_range_positions.get(f.position)
            if not positions:
                return pl.lit(False)
            return pl.col(POS).is_in(pl.Series(positions, dtype=pl.UInt32).implode())

        failing = failing.with_columns(
            is_out_of_range(f).alias(out_of_range(f)) for f in self.fields
        )
        return pl.concat(
            [
                failing.lazy().filter(pl.col(mask.name)).select(mask.error)
                for mask in self.masks
                if counts[mask.name]
            ]
            or [pl.LazyFrame(schema=ERROR_SCHEMA)]
        )


def build_plan(compiled: CompiledSchema, with_kinds: frozenset[str]) -> Plan:
    """The plan for batches that carry JSON kinds for the fields named in ``with_kinds``."""
    cast: list[pl.Expr] = []
    masks: list[Mask] = []
    declined: list[tuple[CompiledField, pl.Expr]] = []
    missing_values = list(compiled.missing_values)
    for f in compiled.fields:
        text = pl.col(raw(f))
        kinds = pl.col(kind(f)) if f.name in with_kinds else None
        is_missing = text.is_null()
        if len(missing_values) == 1:
            is_missing = is_missing | (text == missing_values[0])
        elif missing_values:
            is_missing = is_missing | text.is_in(missing_values)
        cast += [f.cast(text, kinds, is_missing).alias(typed(f)), is_missing.alias(missing(f))]
        value, absent = pl.col(typed(f)), pl.col(missing(f))
        may_decline = f.declined(pl.col(_mask_name(f, "type")), kinds)
        if may_decline is not None:
            declined.append((f, may_decline))
        type_message = (
            pl.when(pl.col(out_of_range(f)))
            .then(f.caster.range_message(text))
            .otherwise(f.caster.type_message(text, kinds))
        )
        rules: list[tuple[Rule, pl.Expr, pl.Expr]] = [
            ("type", ~absent & value.is_null(), type_message)
        ]
        if f.required:
            rules.append(("required", absent & ~pl.col(SKIPPED), pl.lit("a value is required")))
        rules += [
            (check.rule, check.failing(value).fill_null(False), check.message(text))
            for check in f.checks
        ]
        shown = messages.preview(text)
        masks += [
            Mask(
                _mask_name(f, rule),
                failing,
                error_columns(pl.col(ROW), f.position, rule, pl.lit(f.name), shown, message),
            )
            for rule, failing, message in rules
        ]
    inputs = [ROW, POS, *(raw(f) for f in compiled.fields)]
    inputs += [kind(f) for f in compiled.fields if f.name in with_kinds]
    return Plan(compiled.fields, cast, masks, declined, inputs)
