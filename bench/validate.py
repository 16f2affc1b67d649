"""Validation throughput: loadbay's Validator against Pydantic v2 and frictionless.

Generates N rows (default 1,000,000) of an 8-field schema as text cells, like a CSV, with
about 1% of the cells invalid, then validates them with

- loadbay: ``Validator.validate`` over batches of 100,000 rows (the batches are built before
  the clock starts, as a reader hands them over);
- Pydantic v2: ``TypeAdapter(list[Row]).validate_python`` on the list of row dicts, with the
  same rules expressed as field constraints (it has no cross-row uniqueness, so the primary
  key is not checked there);
- frictionless: ``Resource.validate`` on a 20,000-row sample (it is too slow for the full
  set); its rows/s is extrapolated from the sample.

loadbay and Pydantic are each warmed up, then timed three times; the best run counts.

Run: ``.venv/bin/python bench/validate.py [--rows N] [--batch-rows N] [--sample-rows N]``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import time
from typing import Annotated, Any, Literal

import frictionless
import polars as pl
from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from loadbay.schemas.model import TableSchema
from loadbay.validation import RawBatch, Validator, compile_schema
from loadbay.validation.formats import FAST_EMAIL

COUNTRIES = [
    "AT", "BE", "CH", "CZ", "DE", "DK", "ES", "FI", "FR", "GB",
    "GR", "HU", "IE", "IT", "NL", "NO", "PL", "PT", "SE", "US",
]  # fmt: skip

RUNS = 3  # loadbay and Pydantic: the best of three runs (after a warm-up)

SCHEMA: dict[str, Any] = {
    "name": "customers",
    "primaryKey": ["id"],
    "fields": [
        {"name": "id", "type": "integer"},
        {"name": "email", "type": "string", "format": "email"},
        {
            "name": "name",
            "type": "string",
            "constraints": {"required": True, "maxLength": 100},
        },
        {"name": "age", "type": "integer", "constraints": {"minimum": 0, "maximum": 120}},
        {"name": "signup", "type": "date"},
        {"name": "balance", "type": "number"},
        {"name": "country", "type": "string", "constraints": {"enum": COUNTRIES}},
        {"name": "active", "type": "boolean"},
    ],
}


class Row(BaseModel):
    """The same rules as SCHEMA, as Pydantic expresses them."""

    id: int
    email: Annotated[str, Field(pattern=FAST_EMAIL)]
    name: Annotated[str, Field(max_length=100)]
    age: Annotated[int, Field(ge=0, le=120)]
    signup: dt.date
    balance: float
    country: Literal[
        "AT", "BE", "CH", "CZ", "DE", "DK", "ES", "FI", "FR", "GB",
        "GR", "HU", "IE", "IT", "NL", "NO", "PL", "PT", "SE", "US",
    ]  # fmt: skip
    active: bool


def generate(rows: int) -> pl.DataFrame:
    """Text cells; each cell is invalid with a probability of about 1%."""
    i = pl.int_range(0, rows, dtype=pl.Int64)

    def draw(seed: int, modulo: int) -> pl.Expr:
        return (i.hash(seed) % modulo).cast(pl.Int64)

    def spoil(seed: int, good: pl.Expr, bad: pl.Expr) -> pl.Expr:
        return pl.when(draw(seed + 1000, 100) == 0).then(bad).otherwise(good)

    country = pl.lit(pl.Series(COUNTRIES)).gather(draw(7, len(COUNTRIES)))
    signup = (pl.lit(dt.date(2000, 1, 1)) + pl.duration(days=draw(5, 9000))).dt.strftime("%Y-%m-%d")
    return pl.select(
        # A spoiled id repeats an earlier one: a primary-key duplicate.
        spoil(1, (i + 1).cast(pl.String), (i // 2 + 1).cast(pl.String)).alias("id"),
        spoil(
            2,
            pl.format("user{}@example{}.com", i, draw(2, 50)),
            pl.format("user{}example.com", i),
        ).alias("email"),
        spoil(3, pl.format("Customer {}", i), pl.lit(None, dtype=pl.String)).alias("name"),
        spoil(4, draw(4, 121).cast(pl.String), pl.lit("130")).alias("age"),
        spoil(5, signup, pl.lit("2023-02-30")).alias("signup"),
        spoil(
            6, pl.format("{}.{}", draw(6, 100000), draw(16, 100)), pl.lit("12,50")
        ).alias("balance"),
        spoil(7, country, pl.lit("XX")).alias("country"),
        spoil(8, pl.when(draw(8, 2) == 0).then(pl.lit("true")).otherwise(pl.lit("false")),
              pl.lit("maybe")).alias("active"),
    )  # fmt: skip


def time_loadbay(data: pl.DataFrame, batch_rows: int) -> tuple[float, int]:
    compiled = compile_schema(TableSchema.model_validate(SCHEMA))
    batches = [
        RawBatch(
            values=data.slice(start, batch_rows),
            row_numbers=pl.int_range(
                start + 1, start + 1 + min(batch_rows, data.height - start), eager=True
            ),
        )
        for start in range(0, data.height, batch_rows)
    ]
    Validator(compiled).validate(batches[0])  # warm-up: polars compiles the regexes once

    def run() -> tuple[float, int]:
        validator = Validator(compiled)
        started = time.perf_counter()
        for batch in batches:
            validator.validate(batch)
        return time.perf_counter() - started, validator.rows_invalid

    return min(run() for _ in range(RUNS))


def time_pydantic(data: pl.DataFrame) -> tuple[float, int]:
    rows = data.to_dicts()
    adapter = TypeAdapter(list[Row])
    with contextlib.suppress(ValidationError):
        adapter.validate_python(rows[:1000])  # warm-up

    def run() -> tuple[float, int]:
        started = time.perf_counter()
        try:
            adapter.validate_python(rows)
            invalid = 0
        except ValidationError as exc:
            invalid = len({error["loc"][0] for error in exc.errors()})
        return time.perf_counter() - started, invalid

    return min(run() for _ in range(RUNS))


def time_frictionless(data: pl.DataFrame) -> tuple[float, int]:
    rows = [data.columns, *data.rows()]
    resource = frictionless.Resource(data=rows, schema=frictionless.Schema.from_descriptor(SCHEMA))
    started = time.perf_counter()
    report = resource.validate(limit_errors=10 * data.height * data.width)
    elapsed = time.perf_counter() - started
    invalid = {error.row_number for error in report.tasks[0].errors if hasattr(error, "row_number")}
    return elapsed, len(invalid)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch-rows", type=int, default=100_000)
    parser.add_argument("--sample-rows", type=int, default=20_000)
    args = parser.parse_args()

    data = generate(args.rows)
    sample = data.head(min(args.sample_rows, args.rows))
    print(
        f"{args.rows:,} rows x {data.width} text fields, ~1% invalid cells; "
        f"loadbay batches of {args.batch_rows:,}; {os.cpu_count()} CPUs; "
        f"polars {pl.__version__}"
    )
    lb_time, lb_invalid = time_loadbay(data, args.batch_rows)
    lb_rate = args.rows / lb_time
    print(f"loadbay       {lb_rate:>12,.0f} rows/s  ({lb_time:.2f} s, {lb_invalid:,} invalid rows)")
    pd_time, pd_invalid = time_pydantic(data)
    pd_rate = args.rows / pd_time
    print(
        f"pydantic      {pd_rate:>12,.0f} rows/s  ({pd_time:.2f} s, {pd_invalid:,} invalid rows;"
        " no primary-key check)"
    )
    fr_time, fr_invalid = time_frictionless(sample)
    fr_rate = sample.height / fr_time
    print(
        f"frictionless  {fr_rate:>12,.0f} rows/s  ({fr_time:.2f} s for a {sample.height:,}-row "
        f"sample, {fr_invalid:,} invalid rows; rate extrapolated)"
    )
    print(f"loadbay / pydantic:     {lb_rate / pd_rate:6.1f}x")
    print(f"loadbay / frictionless: {lb_rate / fr_rate:6.1f}x")


if __name__ == "__main__":
    main()
