"""The benchmarks still run: each one on a tiny input, checking that it finishes and prints
its ratios. They measure nothing here (speed is for ``make bench``); a benchmark broken by a
change of the code it drives shows up in CI instead of at the next measurement."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run_bench(script: str, *args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, **(env or {})},
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


@pytest.mark.postgres
def test_import_file_bench_runs(tmp_path: Path, postgres_url: str) -> None:
    base = postgres_url.split("?", 1)[0].rsplit("/", 1)[0]
    out = run_bench(
        "import_file.py",
        "--rows",
        "3000",
        "--rounds",
        "1",
        "--skip-pandas",
        "--cache",
        str(tmp_path),
        env={"LOADBAY_BENCH_POSTGRES": base},
    )
    assert "loadbay -> PostgreSQL" in out
    assert "loadbay -> SQLite" in out
    assert "loadbay-PG / psql-copy:" in out
    assert "loadbay-SQLite / sqlite3-executemany:" in out


def test_validate_bench_runs() -> None:
    out = run_bench("validate.py", "--rows", "5000", "--batch-rows", "1000", "--sample-rows", "500")
    assert "loadbay / pydantic:" in out
    assert "loadbay / frictionless:" in out


def test_load_bench_runs() -> None:
    out = run_bench(
        "load.py", "--seconds", "1", "--rounds", "1", "--concurrency", "4", "--workers", "2"
    )
    assert "4 concurrent clients in 2 process(es)" in out
    assert "GET QPS / bare ceiling:" in out
    assert "GET p99:" in out
    # Every request answered: QPS lines with 0.00% errors for the three scenarios.
    assert out.count(" 0.00%") == 3, out
