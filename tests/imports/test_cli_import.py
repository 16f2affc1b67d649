"""``loadbay import FILE``: the whole pipeline in the CLI process, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from rich.console import Console
from typer.testing import CliRunner, Result

from loadbay.cli import app
from loadbay.context import AppContext
from loadbay.db import transaction
from loadbay.imports import cli as import_cli
from loadbay.imports import files
from loadbay.imports.models import ImportRecord
from loadbay.jobs import service as jobs
from loadbay.schemas.service import create_schema
from loadbay.settings import Settings
from loadbay.uploads.local import UnreadableLocalFile, upload_local_file
from loadbay.uploads.models import Upload, UploadState
from loadbay.uploads.store import READ_BLOCK, UploadStore
from tests.imports.conftest import CUSTOMERS
from tests.imports.files_helpers import customers_csv

RENAMED = (b"email,name", b"courriel,nom complet")
FULL_MAPPING = {
    "id": "id",
    "email": "courriel",
    "name": "nom complet",
    "age": "age",
    "signup": "signup",
    "balance": "balance",
    "country": "country",
    "active": "active",
}


@pytest.fixture
def env(settings: Settings) -> dict[str, str]:
    """The settings as the CLI reads them: LOADBAY_* variables (and a wide terminal, so
    tables do not fold the messages the tests look for)."""
    assert settings.database_url is not None
    assert settings.target_database_url is not None
    return {
        "LOADBAY_DATA_DIR": str(settings.data_dir),
        "LOADBAY_DATABASE_URL": settings.database_url,
        "LOADBAY_TARGET_DATABASE_URL": settings.target_database_url,
        "COLUMNS": "200",
    }


@pytest.fixture
def store_context(settings: Settings) -> Iterator[AppContext]:
    """The store the CLI uses, migrated, with the customers schema registered."""
    context = AppContext.build(settings)
    context.start()
    with transaction(context.sessions) as session:
        create_schema(session, document=CUSTOMERS)
    yield context
    context.close()


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The current directory of the command (where the errors CSV goes by default)."""
    directory = tmp_path / "work"
    directory.mkdir()
    monkeypatch.chdir(directory)
    return directory


def run(env: dict[str, str], *args: str) -> Result:
    return CliRunner().invoke(app, ["import", *args], env=env)


def loaded_ids(engine: sa.Engine) -> list[int]:
    if not sa.inspect(engine).has_table("customers"):
        return []
    with engine.connect() as conn:
        return list(conn.scalars(sa.text("SELECT id FROM customers ORDER BY id")))


def only_import(context: AppContext) -> ImportRecord:
    with context.sessions() as session:
        (record,) = session.scalars(sa.select(ImportRecord)).all()
        return record


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as stream:
        return list(csv.DictReader(stream))


# --- the command ---------------------------------------------------------------------------


def test_valid_csv_with_commit_loads_every_row(
    env: dict[str, str], store_context: AppContext, workdir: Path, target_engine: sa.Engine
) -> None:
    content = customers_csv(120)
    (workdir / "customers.csv").write_bytes(content)
    result = run(env, "customers.csv", "--schema", "customers", "--commit")
    assert result.exit_code == 0, result.output
    assert "Loaded 120 rows into table customers (insert)" in result.stdout
    assert loaded_ids(target_engine) == list(range(1, 121))
    record = only_import(store_context)
    assert record.created_by == "cli"
    assert (record.state, record.rows_loaded, record.file_name) == (
        "completed",
        120,
        "customers.csv",
    )
    # The import read a complete upload holding exactly the file's bytes.
    with store_context.sessions() as session:
        upload = session.get_one(Upload, record.upload_id)
    assert upload.state == UploadState.COMPLETE
    assert upload.length == upload.offset == len(content)
    assert upload.sha256 == hashlib.sha256(content).hexdigest()
    assert upload.md5 == hashlib.md5(content).hexdigest()
    assert not (workdir / "customers.csv.errors.csv").exists()


def test_invalid_rows_abort_and_are_written_as_csv(
    env: dict[str, str], store_context: AppContext, workdir: Path, target_engine: sa.Engine
) -> None:
    bad: dict[int, dict[str, Any]] = {3: {"age": 130}, 5: {"email": "nope"}}
    (workdir / "customers.csv").write_bytes(customers_csv(30, bad=bad))
    result = run(env, "customers.csv", "--schema", "customers", "--commit")
    assert result.exit_code == 1, result.output
    assert "30 rows: 28 valid, 2 invalid" in result.stdout
    assert "maximum" in result.stdout  # the errors table
    assert "nope" in result.stdout
    assert "Nothing was loaded" in result.stdout
    written = workdir / "customers.csv.errors.csv"
    assert f"written to {written}" in result.stdout
    rows = read_csv(written)
    assert [(r["id"], r["_row"]) for r in rows] == [("3", "3"), ("5", "5")]
    assert "age" in rows[0]["_error"]
    assert "email" in rows[1]["_error"]
    assert loaded_ids(target_engine) == []
    assert only_import(store_context).state == "validated"


def test_without_commit_validates_only(
    env: dict[str, str], store_context: AppContext, workdir: Path, target_engine: sa.Engine
) -> None:
    (workdir / "good.csv").write_bytes(customers_csv(10))
    (workdir / "bad.csv").write_bytes(customers_csv(10, bad={2: {"country": "XX"}}))
    good = run(env, "good.csv", "--schema", "customers")
    assert good.exit_code == 0, good.output
    assert "every row is valid" in good.stdout
    out = workdir / "reports" / "bad-rows.csv"
    out.parent.mkdir()
    bad = run(env, "bad.csv", "--schema", "customers", "--errors-out", str(out))
    assert bad.exit_code == 1, bad.output
    assert [r["id"] for r in read_csv(out)] == ["2"]
    assert loaded_ids(target_engine) == []


def test_unmappable_headers_exit_3_with_the_proposal(
    env: dict[str, str], store_context: AppContext, workdir: Path
) -> None:
    (workdir / "fr.csv").write_bytes(customers_csv(10).replace(*RENAMED, 1))
    result = run(env, "fr.csv", "--schema", "customers", "--commit")
    assert result.exit_code == 3, result.output
    assert "Proposed mapping" in result.stdout
    assert "Missing required fields: email, name" in result.stdout
    assert "Unmapped columns: courriel, nom complet" in result.stdout
    assert "--mapping '" in result.stdout
    assert only_import(store_context).state == "awaiting_mapping"


@pytest.mark.parametrize("as_file", [False, True])
def test_a_mapping_fixes_unclear_headers(
    env: dict[str, str],
    store_context: AppContext,
    workdir: Path,
    target_engine: sa.Engine,
    as_file: bool,
) -> None:
    (workdir / "fr.csv").write_bytes(customers_csv(15).replace(*RENAMED, 1))
    mapping = json.dumps(FULL_MAPPING)
    if as_file:
        (workdir / "mapping.json").write_text(mapping)
        mapping = "@mapping.json"
    result = run(env, "fr.csv", "--schema", "customers", "--commit", "--mapping", mapping)
    assert result.exit_code == 0, result.output
    assert loaded_ids(target_engine) == list(range(1, 16))


def test_a_mapping_that_does_not_fit_is_explained(
    env: dict[str, str], store_context: AppContext, workdir: Path
) -> None:
    (workdir / "fr.csv").write_bytes(customers_csv(5).replace(*RENAMED, 1))
    wrong = json.dumps(FULL_MAPPING | {"email": "mail"})
    result = run(env, "fr.csv", "--schema", "customers", "--mapping", wrong)
    assert result.exit_code == 3, result.output
    assert "The --mapping given does not fit this file" in result.stderr
    assert "mail" in result.stderr
    unknown = run(env, "fr.csv", "--schema", "customers", "--mapping", '{"nickname": "id"}')
    assert unknown.exit_code == 2, unknown.output
    assert "nickname" in unknown.stderr
    broken = run(env, "fr.csv", "--schema", "customers", "--mapping", "{email")
    assert broken.exit_code == 2
    assert "not valid JSON" in broken.output


def test_on_error_skip_loads_the_valid_rows(
    env: dict[str, str], store_context: AppContext, workdir: Path, target_engine: sa.Engine
) -> None:
    bad: dict[int, dict[str, Any]] = {4: {"age": -1}, 9: {"signup": "2024-02-30"}}
    (workdir / "customers.csv").write_bytes(customers_csv(20, bad=bad))
    result = run(env, "customers.csv", "--schema", "customers", "--commit", "--on-error", "skip")
    assert result.exit_code == 0, result.output
    assert "Loaded 18 rows" in result.stdout
    assert "Skipped 2 invalid rows" in result.stdout
    assert loaded_ids(target_engine) == [i for i in range(1, 21) if i not in bad]
    assert [r["id"] for r in read_csv(workdir / "customers.csv.errors.csv")] == ["4", "9"]


def test_upsert_replaces_rows_with_the_same_key(
    env: dict[str, str], store_context: AppContext, workdir: Path, target_engine: sa.Engine
) -> None:
    (workdir / "first.csv").write_bytes(customers_csv(5))
    assert run(env, "first.csv", "--schema", "customers", "--commit").exit_code == 0
    (workdir / "again.csv").write_bytes(customers_csv(8, bad={2: {"name": "Changed"}}))
    result = run(env, "again.csv", "--schema", "customers", "--commit", "--mode", "upsert")
    assert result.exit_code == 0, result.output
    assert loaded_ids(target_engine) == list(range(1, 9))
    with target_engine.connect() as conn:
        assert conn.scalar(sa.text("SELECT name FROM customers WHERE id = 2")) == "Changed"


def test_binary_junk_fails_with_the_reason(
    env: dict[str, str], store_context: AppContext, workdir: Path
) -> None:
    (workdir / "junk.csv").write_bytes(bytes(range(256)) * 64)
    result = run(env, "junk.csv", "--schema", "customers", "--commit")
    assert result.exit_code == 1, result.output
    assert "Import failed (unreadable-file)" in result.stderr
    assert "binary content" in result.stderr
    assert only_import(store_context).state == "failed"


def test_missing_schema_is_a_usage_error(
    env: dict[str, str], store_context: AppContext, workdir: Path
) -> None:
    (workdir / "customers.csv").write_bytes(customers_csv(3))
    result = run(env, "customers.csv", "--schema", "suppliers")
    assert result.exit_code == 2, result.output
    assert 'there is no schema named "suppliers"' in result.stderr
    with store_context.sessions() as session:
        assert session.scalars(sa.select(ImportRecord)).all() == []


def test_directories_and_missing_files_are_refused(
    env: dict[str, str], store_context: AppContext, workdir: Path
) -> None:
    directory = run(env, str(workdir), "--schema", "customers")
    assert directory.exit_code == 2
    assert "is a directory" in directory.stderr
    missing = run(env, "absent.csv", "--schema", "customers")
    assert missing.exit_code == 2
    assert "absent.csv: no such file" in missing.stderr
    with store_context.sessions() as session:
        assert session.scalars(sa.select(Upload)).all() == []


def test_ctrl_c_cancels_the_import(
    env: dict[str, str],
    store_context: AppContext,
    workdir: Path,
    target_engine: sa.Engine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    original = import_cli._Driver._watch
    pressed: list[bool] = []

    def watch_then_interrupt(driver: Any, worker: Any) -> None:
        if not pressed:  # Ctrl-C once, while the first job runs
            pressed.append(True)
            raise KeyboardInterrupt
        original(driver, worker)

    monkeypatch.setattr(import_cli._Driver, "_watch", watch_then_interrupt)
    (workdir / "customers.csv").write_bytes(customers_csv(200))
    result = run(env, "customers.csv", "--schema", "customers", "--commit")
    assert result.exit_code == 130, result.output
    assert pressed
    record = only_import(store_context)
    assert record.state == "cancelled"
    assert f"Interrupted: import {record.id} is cancelled" in result.stderr
    assert loaded_ids(target_engine) == []


def test_runs_only_its_own_import_jobs(
    env: dict[str, str], store_context: AppContext, workdir: Path, settings: Settings
) -> None:
    store = UploadStore.at(settings.data_dir)
    other_file = workdir / "other.csv"
    other_file.write_bytes(customers_csv(4))
    other_upload = upload_local_file(store_context, store, path=other_file)
    other = files.create_file_import(
        store_context,
        store=store,
        command=files.FileImport(upload_id=other_upload.id, schema="customers"),
    )
    (workdir / "mine.csv").write_bytes(customers_csv(6))
    assert run(env, "mine.csv", "--schema", "customers", "--commit").exit_code == 0
    assert files.get(store_context, import_id=other.id).state == "created"
    (job,) = jobs.jobs_of(store_context.sessions, subject_id=other.id)
    assert job.state == "queued"


def test_python_m_loadbay_import(
    env: dict[str, str], store_context: AppContext, workdir: Path, target_engine: sa.Engine
) -> None:
    (workdir / "customers.csv").write_bytes(customers_csv(25))
    completed = subprocess.run(
        [sys.executable, "-m", "loadbay", "import", "customers.csv", "-s", "customers", "--commit"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "Loaded 25 rows into table customers" in completed.stdout
    assert loaded_ids(target_engine) == list(range(1, 26))


def test_help_lists_the_import_command() -> None:
    result = CliRunner().invoke(app, ["import", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for option in ("--schema", "--mode", "--on-error", "--commit", "--mapping", "--errors-out"):
        assert option in result.output


# --- the local upload ----------------------------------------------------------------------


def test_a_local_file_becomes_a_complete_upload(context: AppContext, tmp_path: Path) -> None:
    store = UploadStore.at(context.settings.data_dir)
    content = os.urandom(2 * READ_BLOCK + 12345)  # several blocks, the last one short
    source = tmp_path / "weird name ü.bin"
    source.write_bytes(content)
    seen: list[int] = []
    upload = upload_local_file(context, store, path=source, on_progress=seen.append)
    assert upload.state == UploadState.COMPLETE
    assert upload.length == upload.offset == len(content)
    assert upload.md5 == hashlib.md5(content).hexdigest()
    assert upload.sha256 == hashlib.sha256(content).hexdigest()
    assert upload.filename == "weird name ü.bin"
    assert store.path(upload.id).read_bytes() == content
    assert store.path(upload.id).parent == store.root  # the path comes from the id only
    assert seen == [READ_BLOCK, 2 * READ_BLOCK, len(content)]


def test_an_empty_local_file_is_a_complete_empty_upload(
    context: AppContext, tmp_path: Path
) -> None:
    (tmp_path / "empty.csv").write_bytes(b"")
    upload = upload_local_file(
        context, UploadStore.at(context.settings.data_dir), path=tmp_path / "empty.csv"
    )
    assert (upload.state, upload.length, upload.sha256) == (
        UploadState.COMPLETE,
        0,
        hashlib.sha256(b"").hexdigest(),
    )


@pytest.mark.parametrize("change", ["grow", "shrink"])
def test_a_file_changed_while_copied_leaves_nothing(
    context: AppContext, tmp_path: Path, change: str
) -> None:
    store = UploadStore.at(context.settings.data_dir)
    source = tmp_path / "moving.csv"
    source.write_bytes(b"x" * (2 * READ_BLOCK))

    def meddle(done: int) -> None:
        if done == READ_BLOCK:
            if change == "grow":
                with source.open("ab") as stream:
                    stream.write(b"more")
            else:
                os.truncate(source, READ_BLOCK + 10)

    with pytest.raises(UnreadableLocalFile, match="changed while it was copied"):
        upload_local_file(context, store, path=source, on_progress=meddle)
    with context.sessions() as session:
        (upload,) = session.scalars(sa.select(Upload)).all()
    assert upload.state == UploadState.TERMINATED
    assert not store.path(upload.id).exists()


def test_only_readable_regular_files_are_accepted(context: AppContext, tmp_path: Path) -> None:
    store = UploadStore.at(context.settings.data_dir)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(UnreadableLocalFile, match="not a regular file"):
        upload_local_file(context, store, path=fifo)
    with pytest.raises(UnreadableLocalFile, match="is a directory"):
        upload_local_file(context, store, path=tmp_path)


def test_an_unreadable_file_is_refused(
    context: AppContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = UploadStore.at(context.settings.data_dir)
    locked = tmp_path / "secret.csv"
    locked.write_bytes(b"id\n1\n")
    real_open = os.open

    # The tests run as root, who reads a mode-000 file: the refusal the kernel would give
    # another user is given here by os.open itself.
    def refusing_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if Path(path) == locked:
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", refusing_open)
    with pytest.raises(UnreadableLocalFile, match="permission denied"):
        upload_local_file(context, store, path=locked)


def test_progress_bars_show_rows_rate_eta_and_bytes() -> None:
    def row(state: str, **values: Any) -> ImportRecord:
        defaults: dict[str, Any] = {
            "progress": 0.0,
            "rows_total": 0,
            "rows_valid": 0,
            "rows_estimate": None,
            "rows_per_second": None,
            "eta_seconds": None,
            "bytes_processed": 0,
            "bytes_total": 1_000_000,
        }
        return ImportRecord(state=state, **defaults | values)

    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=160, color_system=None)
    view = import_cli._ProgressView(console)
    with view:
        view.show(row("analysing", progress=0.5))
        view.show(
            row(
                "validating",
                progress=0.5,
                rows_total=1000,
                rows_estimate=2000,
                rows_per_second=12345.0,
                eta_seconds=65.0,
                bytes_processed=500_000,
            )
        )
        view.progress.refresh()
        assert "1,000/~2,000 rows 12,345 rows/s ETA 1:05 500.0 kB/1.0 MB" in screen.getvalue()
        view.show(
            row(
                "committing",
                progress=0.25,
                rows_total=2000,
                rows_valid=1990,
                eta_seconds=3.0,
                bytes_processed=250_000,
            )
        )
    # The last frame (after the last erase-line), one line per step.
    drawn = screen.getvalue().rsplit("\x1b[2K", 1)[-1].splitlines()[:3]
    assert drawn[0].split()[0] == "analysing"
    assert "100%" in drawn[0]
    assert "validating" in drawn[1]
    assert "2,000 rows" in drawn[1]  # a finished step shows its final count
    assert "ETA" not in drawn[1]
    assert "1.0 MB/1.0 MB" in drawn[1]
    assert "committing" in drawn[2]
    assert "25%" in drawn[2]
    assert "1,990 rows" in drawn[2]
    assert "ETA 0:03" in drawn[2]
    assert "250.0 kB/1.0 MB" in drawn[2]
