"""File import end to end: a completed upload of a 1M-row CSV to committed rows, against
``psql \\copy``, pandas and a bare ``sqlite3`` loop on the same file in the same run.

    .venv/bin/python bench/import_file.py [--rows 1000000] [--rounds 3] [--rows-10m] [--cache DIR]

The CSV (cached in ``--cache``, default ``$TMPDIR/loadbay-bench``) has 8 columns: id, email,
name (with commas and quotes, so quoted), age, ISO date, decimal balance, country code,
boolean; every row is valid, so every contender loads every row. loadbay runs its real
service and job functions in a child process: the file goes in through
``uploads.service.receive_file`` (before the clock), then ``files.create_file_import`` and the
jobs (``pipeline.analyse``, then ``validate``, which with ``auto_commit`` loads the rows as
it validates them, in one pass) run in turn with all rules of the schema on (id integer
primary key; email format email, required, unique; name required, maxLength; age min/max;
date; number; enum; boolean; the keys of this insert into an empty table are checked by
the table's unique indexes, as in every such import). The child reports its wall time, per
job, and its peak RSS (``VmHWM``), so nothing of this parent is counted.

Anchors, timed in the same run:
- ``psql \\copy`` of the file into a fresh typed table with a primary key (PostgreSQL);
- ``pandas.read_csv`` then ``DataFrame.to_sql(chunksize=10000)`` through SQLAlchemy (psycopg);
- Python's ``csv`` module feeding ``sqlite3`` ``executemany`` in one transaction into a fresh
  typed SQLite table with a primary key (text cells; SQLite's affinity makes them typed).

Each round runs every contender once (pandas, slow and far behind, runs once after them);
the figures are the medians of the rounds, since one run on a shared machine can be 30%
off. Every PostgreSQL contender starts into a fresh table after a CHECKPOINT, so that none
pays for the WAL written by the one before it.

Goals: loadbay-PG / psql-copy <= 1.5; loadbay-SQLite / sqlite3-executemany <= 1.5; peak RSS
< 400 MB, and for a 10M-row file (``--rows-10m``, minutes) within 20% of the 1M figure.

PostgreSQL: ``LOADBAY_BENCH_POSTGRES`` (default ``postgresql://postgres@127.0.0.1:5432``);
the benchmark works in its own database ``loadbay_bench``, created when missing.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import datetime as dt
import json
import os
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

# Before polars: loadbay sets the options of polars' allocator, read once when it loads, and
# the child's peak RSS must be the server's.
import loadbay  # noqa: F401

# isort: split
import polars as pl

GOAL_PG = 1.5
GOAL_SQLITE = 1.5
GOAL_RSS_MB = 400.0
GOAL_RSS_GROWTH = 0.20
DATABASE = "loadbay_bench"
SCHEMA_NAME = "bench_customers"
COUNTRIES = [
    "AT", "BE", "CH", "CZ", "DE", "DK", "ES", "FI", "FR", "GB",
    "GR", "HU", "IE", "IT", "NL", "NO", "PL", "PT", "SE", "US",
]  # fmt: skip
SCHEMA: dict[str, Any] = {
    "name": SCHEMA_NAME,
    "primaryKey": ["id"],
    "fields": [
        {"name": "id", "type": "integer"},
        {
            "name": "email",
            "type": "string",
            "format": "email",
            "constraints": {"required": True, "unique": True},
        },
        {"name": "name", "type": "string", "constraints": {"required": True, "maxLength": 100}},
        {"name": "age", "type": "integer", "constraints": {"minimum": 0, "maximum": 120}},
        {"name": "signup", "type": "date"},
        {"name": "balance", "type": "number"},
        {"name": "country", "type": "string", "constraints": {"enum": COUNTRIES}},
        {"name": "active", "type": "boolean"},
    ],
}
TYPED_COLUMNS = (
    "id BIGINT PRIMARY KEY, email TEXT, name TEXT, age BIGINT, signup DATE, "
    "balance DOUBLE PRECISION, country TEXT, active BOOLEAN"
)
SQLITE_COLUMNS = (
    "id INTEGER PRIMARY KEY, email TEXT, name TEXT, age INTEGER, signup DATE, "
    "balance REAL, country TEXT, active BOOLEAN"
)


# --- data ----------------------------------------------------------------------------------


def csv_file(cache: Path, rows: int) -> Path:
    """The benchmark file, generated once per row count (polars writes it in seconds)."""
    path = cache / f"customers-{rows}.csv"
    if path.exists():
        return path
    cache.mkdir(parents=True, exist_ok=True)
    i = pl.int_range(0, rows, dtype=pl.Int64)

    def draw(seed: int, modulo: int) -> pl.Expr:
        return (i.hash(seed) % modulo).cast(pl.Int64)

    country = pl.lit(pl.Series(COUNTRIES)).gather(draw(7, len(COUNTRIES)))
    signup = (pl.lit(dt.date(2000, 1, 1)) + pl.duration(days=draw(5, 9000))).dt.strftime("%Y-%m-%d")
    frame = pl.select(
        (i + 1).alias("id"),
        pl.format("user{}@example{}.com", i, draw(2, 50)).alias("email"),
        # A comma and quotes in every name: each one is a quoted field with "" escapes.
        pl.format('Customer {}, "the {}th"', i, draw(3, 100)).alias("name"),
        draw(4, 121).alias("age"),
        signup.alias("signup"),
        pl.format("{}.{}", draw(6, 100000), draw(16, 100)).alias("balance"),
        country.alias("country"),
        pl.when(draw(8, 2) == 0).then(pl.lit("true")).otherwise(pl.lit("false")).alias("active"),
    )
    partial = path.with_suffix(f".{os.getpid()}.part")
    frame.write_csv(partial)
    partial.replace(path)
    return path


# --- loadbay (child process) ---------------------------------------------------------------


def run_loadbay(csv_path: Path, target: str, work: Path, pg_base: str) -> dict[str, Any]:
    """The import in a child process; its JSON report (times, peak RSS, rows)."""
    command = [
        sys.executable, __file__, "--child", target, "--csv", str(csv_path),
        "--work", str(work), "--pg", pg_base,
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"loadbay {target} run failed:\n{done.stderr[-4000:]}")
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return report


def child(target: str, csv_path: Path, work: Path, pg_base: str) -> None:
    import threading

    from loadbay.context import AppContext
    from loadbay.imports import files, pipeline
    from loadbay.imports.files import FileImport, create_file_import
    from loadbay.imports.options import ImportOptions
    from loadbay.jobs.runner import JobControl
    from loadbay.schemas.service import create_schema
    from loadbay.settings import Settings
    from loadbay.uploads import service as uploads
    from loadbay.uploads.store import UploadStore

    work.mkdir(parents=True, exist_ok=True)
    target_url = (
        f"postgresql+psycopg://{pg_base.split('://', 1)[1]}/{DATABASE}"
        if target == "pg"
        else f"sqlite:///{work / 'data.sqlite'}"
    )
    settings = Settings(
        data_dir=work / "var",
        database_url=f"sqlite:///{work / 'loadbay.sqlite'}",
        target_database_url=target_url,
    )
    context = AppContext.build(settings)
    context.start()
    with context.sessions() as session, session.begin():
        create_schema(session, document=SCHEMA)
    store = UploadStore.at(settings.data_dir)

    async def chunks() -> AsyncIterator[bytes]:
        with csv_path.open("rb") as source:
            while block := source.read(8 * 1024 * 1024):
                yield block

    upload = asyncio.run(
        uploads.receive_file(
            context,
            store,
            metadata=None,
            chunks=chunks(),
            max_bytes=settings.max_upload_bytes,
        )
    )
    control = JobControl(threading.Event())
    stages: dict[str, float] = {}
    started = time.perf_counter()
    record = create_file_import(
        context,
        store=store,
        command=FileImport(
            upload_id=upload.id, schema=SCHEMA_NAME, options=ImportOptions(auto_commit=True)
        ),
    )
    # An auto-commit's validate job loads the rows as it validates them (one pass); the
    # commit job then finds nothing to do, and is run only to show that it does not.
    for name, job in (
        ("analyse", pipeline.analyse),
        ("validate and load", pipeline.validate),
        ("commit", pipeline.commit),
    ):
        began = time.perf_counter()
        job(context, record.id, control)
        stages[name] = time.perf_counter() - began
    elapsed = time.perf_counter() - started
    final = files.get(context, import_id=record.id)
    context.close()
    print(
        json.dumps(
            {
                "seconds": elapsed,
                "stages": stages,
                "state": final.state,
                "rows_loaded": final.rows_loaded,
                "failure": final.failure,
                "peak_rss_mb": peak_rss_mb(),
                "ru_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        )
    )


def peak_rss_mb() -> float:
    """This process's peak resident set since it exec'd: ``VmHWM``. Not ``ru_maxrss``, which
    Linux carries over an exec from the process image before it, and a child spawned by
    ``subprocess`` (vfork) shares the parent's memory until its exec: ``ru_maxrss`` then
    reports the parent's peak (2 GB after the parent generated the 10M-row file)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024  # kB
    raise SystemExit("no VmHWM in /proc/self/status: peak RSS needs Linux")


# --- anchors -------------------------------------------------------------------------------


def psql(pg_base: str, database: str, *args: str) -> str:
    done = subprocess.run(
        ["psql", f"{pg_base}/{database}", "-v", "ON_ERROR_STOP=1", "-qAt", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"psql failed: {done.stderr}")
    return done.stdout


def prepare_database(pg_base: str) -> None:
    exists = psql(
        pg_base, "postgres", "-c", f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'"
    )
    if not exists.strip():
        psql(pg_base, "postgres", "-c", f"CREATE DATABASE {DATABASE}")
    tables = f"{SCHEMA_NAME}, bench_copy, bench_pandas"
    psql(pg_base, DATABASE, "-c", f"DROP TABLE IF EXISTS {tables}")


def time_psql_copy(csv_path: Path, pg_base: str) -> float:
    psql(
        pg_base,
        DATABASE,
        "-c",
        f"DROP TABLE IF EXISTS bench_copy; CREATE TABLE bench_copy ({TYPED_COLUMNS})",
    )
    started = time.perf_counter()
    psql(
        pg_base,
        DATABASE,
        "-c",
        f"\\copy bench_copy FROM '{csv_path}' WITH (FORMAT csv, HEADER true)",
    )
    elapsed = time.perf_counter() - started
    rows = int(psql(pg_base, DATABASE, "-c", "SELECT count(*) FROM bench_copy"))
    psql(pg_base, DATABASE, "-c", "DROP TABLE bench_copy")
    print(f"  psql \\copy: {elapsed:.2f} s, {rows:,} rows", flush=True)
    return elapsed


def time_psql_copy_indexed(csv_path: Path, pg_base: str) -> float:
    """The same ``\\copy`` into a table indexed and shaped as loadbay's target is: the
    primary key, the unique email, and the import id and row number of every row."""
    psql(
        pg_base,
        DATABASE,
        "-c",
        "DROP TABLE IF EXISTS bench_copy; "
        f"CREATE TABLE bench_copy ({TYPED_COLUMNS}, UNIQUE (email), "
        "import_id UUID NOT NULL DEFAULT '00000000-0000-4000-8000-000000000000', "
        "row_number BIGINT GENERATED ALWAYS AS IDENTITY)",
    )
    columns = "id, email, name, age, signup, balance, country, active"
    started = time.perf_counter()
    psql(
        pg_base,
        DATABASE,
        "-c",
        f"\\copy bench_copy ({columns}) FROM '{csv_path}' WITH (FORMAT csv, HEADER true)",
    )
    elapsed = time.perf_counter() - started
    psql(pg_base, DATABASE, "-c", "DROP TABLE bench_copy")
    print(f"  psql \\copy, loadbay's indexes: {elapsed:.2f} s", flush=True)
    return elapsed


def time_pandas(csv_path: Path, pg_base: str) -> float:
    import pandas as pd  # type: ignore[import-untyped]  # no stubs in the dev lock
    import sqlalchemy as sa

    engine = sa.create_engine(f"postgresql+psycopg://{pg_base.split('://', 1)[1]}/{DATABASE}")
    try:
        started = time.perf_counter()
        frame = pd.read_csv(csv_path)
        frame.to_sql("bench_pandas", engine, if_exists="replace", index=False, chunksize=10_000)
        elapsed = time.perf_counter() - started
    finally:
        engine.dispose()
    psql(pg_base, DATABASE, "-c", "DROP TABLE bench_pandas")
    print(f"  pandas read_csv + to_sql: {elapsed:.2f} s", flush=True)
    return elapsed


def time_sqlite(csv_path: Path, work: Path) -> float:
    database = work / "executemany.sqlite"
    database.unlink(missing_ok=True)
    conn = sqlite3.connect(database, isolation_level=None)
    try:
        conn.execute(f"CREATE TABLE customers ({SQLITE_COLUMNS})")
        started = time.perf_counter()
        with csv_path.open(newline="", encoding="utf-8") as text:
            rows = csv.reader(text)
            next(rows)
            conn.execute("BEGIN")
            conn.executemany("INSERT INTO customers VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
            conn.execute("COMMIT")
        elapsed = time.perf_counter() - started
        count = conn.execute("SELECT count(*) FROM customers").fetchone()[0]
    finally:
        conn.close()
        database.unlink(missing_ok=True)
    print(f"  sqlite3 executemany: {elapsed:.2f} s, {count:,} rows", flush=True)
    return elapsed


# --- report --------------------------------------------------------------------------------


def one_round(path: Path, work: Path, pg_base: str, rows: int) -> dict[str, Any]:
    """Every contender once. Each PostgreSQL contender starts after a CHECKPOINT and into a
    fresh table, so none pays for the WAL another one wrote."""
    reset_target(pg_base)
    copy_s = time_psql_copy(path, pg_base)
    reset_target(pg_base)
    indexed_s = time_psql_copy_indexed(path, pg_base)
    reset_target(pg_base)
    lb_pg = run_loadbay(path, "pg", work / f"pg-{uuid.uuid4().hex[:8]}", pg_base)
    print(loadbay_line("PG", lb_pg, rows), flush=True)
    sqlite_s = time_sqlite(path, work)
    lb_sqlite = run_loadbay(path, "sqlite", work / f"sqlite-{uuid.uuid4().hex[:8]}", pg_base)
    print(loadbay_line("SQLite", lb_sqlite, rows), flush=True)
    return {
        "copy": copy_s,
        "indexed": indexed_s,
        "pg": lb_pg,
        "sqlite": sqlite_s,
        "lite": lb_sqlite,
    }


def reset_target(pg_base: str) -> None:
    """loadbay's target table and ledger dropped (each run loads into an empty table, as
    the first import of a file does), then a CHECKPOINT (superuser or pg_checkpoint)."""
    psql(pg_base, DATABASE, "-c", f"DROP TABLE IF EXISTS {SCHEMA_NAME}, _loadbay_loads")
    psql(pg_base, DATABASE, "-c", "CHECKPOINT")


def loadbay_line(name: str, report: dict[str, Any], rows: int) -> str:
    if report["state"] != "completed" or report["rows_loaded"] != rows:
        raise SystemExit(f"loadbay {name} did not load every row: {report}")
    stages = ", ".join(f"{k} {v:.2f}" for k, v in report["stages"].items())
    return (
        f"  loadbay {name}: {report['seconds']:.2f} s ({stages}), "
        f"peak RSS {report['peak_rss_mb']:.0f} MB"
    )


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rows-10m", action="store_true", help="also import a 10M-row file")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "loadbay-bench")
    parser.add_argument("--skip-pandas", action="store_true", help="leave out the slow anchor")
    parser.add_argument(
        "--rounds", type=int, default=3, help="runs of each contender, medians reported"
    )
    parser.add_argument(
        "--pg",
        default=os.environ.get("LOADBAY_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432"),
    )
    parser.add_argument("--child", choices=["pg", "sqlite"], help=argparse.SUPPRESS)
    parser.add_argument("--csv", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.csv, args.work, args.pg)
        return

    path = csv_file(args.cache, args.rows)
    size_mb = path.stat().st_size / 1e6
    print(
        f"{args.rows:,} rows x 8 columns ({size_mb:.0f} MB CSV); {os.cpu_count()} CPUs; "
        f"load average {os.getloadavg()[0]:.2f} at start; polars {pl.__version__}",
        flush=True,
    )
    prepare_database(args.pg)
    rounds: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(dir=args.cache) as scratch:
        work = Path(scratch)
        for number in range(1, args.rounds + 1):
            print(f"round {number} of {args.rounds}", flush=True)
            rounds.append(one_round(path, work, args.pg, args.rows))
        pandas_s = None if args.skip_pandas else time_pandas(path, args.pg)
        big: dict[str, Any] | None = None
        if args.rows_10m:
            big_rows = 10 * args.rows
            big_path = csv_file(args.cache, big_rows)
            reset_target(args.pg)
            big = run_loadbay(big_path, "pg", work / "pg-10m", args.pg)
            print(loadbay_line(f"PG {big_rows:,} rows", big, big_rows), flush=True)
    reset_target(args.pg)

    copy_s = statistics.median(r["copy"] for r in rounds)
    indexed_s = statistics.median(r["indexed"] for r in rounds)
    sqlite_s = statistics.median(r["sqlite"] for r in rounds)
    lb_pg = {
        "seconds": statistics.median(r["pg"]["seconds"] for r in rounds),
        "peak_rss_mb": max(r["pg"]["peak_rss_mb"] for r in rounds),
    }
    lb_sqlite = {
        "seconds": statistics.median(r["lite"]["seconds"] for r in rounds),
        "peak_rss_mb": max(r["lite"]["peak_rss_mb"] for r in rounds),
    }
    pg_ratio = lb_pg["seconds"] / copy_s
    sqlite_ratio = lb_sqlite["seconds"] / sqlite_s
    peak = max(lb_pg["peak_rss_mb"], lb_sqlite["peak_rss_mb"])
    print(f"load average {os.getloadavg()[0]:.2f} at the end")
    print(f"medians of {args.rounds} round(s); peak RSS the highest of them")
    print(f"{'contender':<32} {'seconds':>8} {'rows/s':>10}")
    lines = [
        ("psql \\copy (PK)", copy_s),
        ("psql \\copy (loadbay's 2 indexes)", indexed_s),
        ("loadbay -> PostgreSQL", lb_pg["seconds"]),
        ("sqlite3 executemany (PK)", sqlite_s),
        ("loadbay -> SQLite", lb_sqlite["seconds"]),
    ]
    if pandas_s is not None:
        lines.append(("pandas read_csv + to_sql", pandas_s))
    for name, seconds in lines:
        print(f"{name:<32} {seconds:>8.2f} {args.rows / seconds:>10,.0f}")
    print(
        f"loadbay-PG / psql-copy:               {pg_ratio:5.2f}  "
        f"(goal <= {GOAL_PG}: {verdict(pg_ratio <= GOAL_PG)})"
    )
    print(f"loadbay-PG / psql-copy, same indexes: {lb_pg['seconds'] / indexed_s:5.2f}  (no goal)")
    if pandas_s is not None:
        print(f"pandas / loadbay-PG:                  {pandas_s / lb_pg['seconds']:5.2f}")
    print(
        f"loadbay-SQLite / sqlite3-executemany: {sqlite_ratio:5.2f}  "
        f"(goal <= {GOAL_SQLITE}: {verdict(sqlite_ratio <= GOAL_SQLITE)})"
    )
    print(
        f"peak RSS: PG {lb_pg['peak_rss_mb']:.0f} MB, SQLite {lb_sqlite['peak_rss_mb']:.0f} MB  "
        f"(goal < {GOAL_RSS_MB:.0f}: {verdict(peak < GOAL_RSS_MB)})"
    )
    if big is not None:
        growth = big["peak_rss_mb"] / lb_pg["peak_rss_mb"] - 1
        print(
            f"peak RSS, {10 * args.rows:,} rows into PG: {big['peak_rss_mb']:.0f} MB, "
            f"{growth:+.0%} against {args.rows:,}  "
            f"(goal within {GOAL_RSS_GROWTH:.0%}: {verdict(abs(growth) <= GOAL_RSS_GROWTH)})"
        )


if __name__ == "__main__":
    main()
