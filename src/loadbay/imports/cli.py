"""``loadbay import FILE --schema NAME``: a file import run in this process, without a server.

The file becomes a complete upload in the configured store, then the import's jobs (analyse,
validate, commit) run here, one at a time, in a thread, while the main thread draws progress
from the import row. Only this import's jobs are claimed: a CLI process must not pick up
other imports queued for the server's workers. Exit codes: 0 done (or validated, all rows
valid, without ``--commit``), 1 the data is invalid or the import failed, 2 the command
cannot start (bad option, unknown schema, unreadable file), 3 a column mapping is needed,
130 interrupted (Ctrl-C; the import is cancelled).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.filesize import decimal
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from loadbay.context import AppContext
from loadbay.db import transaction
from loadbay.errors import LoadbayError
from loadbay.imports import files
from loadbay.imports import service as imports
from loadbay.imports.errors import StateConflict
from loadbay.imports.jobs import import_job_kinds
from loadbay.imports.models import ImportRecord
from loadbay.imports.options import ImportOptions, Mode, OnError
from loadbay.imports.states import FINAL_STATES, ImportState
from loadbay.jobs import service as jobs
from loadbay.jobs.executor import build_runner
from loadbay.jobs.models import JobState
from loadbay.jobs.runner import JobRunner
from loadbay.schemas.service import load_directory
from loadbay.security import actors
from loadbay.settings import Settings
from loadbay.uploads.local import upload_local_file
from loadbay.uploads.models import Upload
from loadbay.uploads.store import UploadStore

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2
EXIT_NEEDS_MAPPING = 3
EXIT_INTERRUPTED = 130

POLL_SECONDS = 0.2
# Files smaller than this copy in well under a second: a bar would only flicker.
COPY_BAR_MIN_BYTES = 8 * 1024 * 1024
# Polls in a row that find the import working but no job of it queued or running before
# the command gives up (a job failed without ending its import: a bug, reported as such).
STALLED_POLLS = 10

# Where the command stops driving jobs: the import needs a person, or it has ended.
_STOP_STATES = FINAL_STATES | {ImportState.AWAITING_MAPPING, ImportState.VALIDATED}
_STEP_LABELS = {
    ImportState.CREATED: "analysing",  # its analysis job is queued
    ImportState.ANALYSING: "analysing",
    ImportState.VALIDATING: "validating",
    ImportState.COMMITTING: "committing",
}


def import_file(
    file: Path = typer.Argument(..., help="The file to import (CSV/TSV, XLSX, JSON, NDJSON, …)."),
    schema: str = typer.Option(..., "--schema", "-s", help="Name of a registered schema."),
    mode: Mode = typer.Option("insert", help="How the rows are loaded into the schema's table."),
    on_error: OnError = typer.Option(
        "abort",
        "--on-error",
        help="abort: load nothing if a row is invalid; skip: load the valid rows.",
    ),
    commit: bool = typer.Option(
        False, "--commit", help="Load the rows once validated (without it: validate only)."
    ),
    sheet: str | None = typer.Option(None, help="XLSX sheet to read; default: the first."),
    mapping: str | None = typer.Option(
        None,
        help='Column mapping as JSON {"field": "column", …}, or @FILE holding that JSON.',
    ),
    errors_out: Path | None = typer.Option(
        None,
        "--errors-out",
        help="Where to write the invalid rows as CSV; default: FILE's name + .errors.csv "
        "in the current directory.",
    ),
) -> None:
    """Import FILE into SCHEMA's table with this process's own workers (no server needed).

    Uses the store of the LOADBAY_* settings (metadata database, target database, data dir).

    Exit codes: 0 done, 1 invalid rows or failed, 2 cannot start, 3 a mapping is needed
    (pass --mapping), 130 interrupted (the import is cancelled).
    """
    out = Console(highlight=False, soft_wrap=True)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    given_mapping = _parse_mapping(mapping)
    try:
        options = ImportOptions(
            auto_commit=commit,
            mode=mode,
            on_error=on_error,
            sheet=sheet,
        )
    except ValidationError as exc:
        raise typer.BadParameter(_first_message(exc)) from None
    try:
        settings = Settings()
    except ValidationError as exc:
        err.print(f"[red]Invalid LOADBAY_* settings:[/] {escape(str(exc))}")
        raise typer.Exit(EXIT_USAGE) from None
    context = AppContext.build(settings)
    try:
        code = _run(
            context,
            file=file,
            schema=schema,
            mapping=given_mapping,
            options=options,
            errors_out=errors_out or Path.cwd() / f"{file.name}.errors.csv",
            out=out,
            err=err,
        )
    finally:
        context.close()
    raise typer.Exit(code)


def _run(
    context: AppContext,
    *,
    file: Path,
    schema: str,
    mapping: dict[str, str] | None,
    options: ImportOptions,
    errors_out: Path,
    out: Console,
    err: Console,
) -> int:
    settings = context.settings
    try:
        context.start()
        if settings.schemas_dir is not None:
            # As the server does at start, so that `import` sees the same schemas.
            with transaction(context.sessions) as session:
                load_directory(session, settings.schemas_dir)
        store = UploadStore.at(settings.data_dir)
        upload = _copy(context, store, file, err)
        command = files.FileImport(
            upload_id=upload.id,
            schema=schema,
            mapping=mapping,
            options=options,
            created_by=actors.CLI,
        )
        record = files.create_file_import(context, store=store, command=command)
    except KeyboardInterrupt:
        err.print("Interrupted before the import started; nothing was imported.")
        return EXIT_INTERRUPTED
    except LoadbayError as exc:
        err.print(f"[red]Error:[/] {escape(exc.detail)}")
        for detail in exc.errors:
            where = detail.path or (f"row {detail.row}" if detail.row else "")
            err.print(f"  {escape(where)}: {escape(detail.message)}" if where else detail.message)
        return EXIT_USAGE
    out.print(f"Import {record.id} of {escape(file.name)} into schema {escape(record.schema_name)}")
    runner = build_runner(settings, context.sessions, import_job_kinds(context))
    failed_rows = _FailedRows(context, store, file=file, path=errors_out, out=out, err=err)
    driver = _Driver(context, runner, record.id, err)
    try:
        record = driver.drive()
    except KeyboardInterrupt:
        try:
            record = driver.interrupt()
        except (KeyboardInterrupt, _Stalled):
            # A third Ctrl-C, or nothing left to run the job: leave without waiting. The job's
            # lease lapses and whoever runs it next finds the import flagged for cancelling.
            record = files.get(context, import_id=record.id)
        err.print(
            f"Interrupted: import {record.id} is {record.state}"
            + ("" if record.state in FINAL_STATES else " (it ends cancelled when its job runs)")
        )
        return EXIT_INTERRUPTED
    except _Stalled as exc:
        err.print(f"[red]Error:[/] {escape(str(exc))}")
        return EXIT_INVALID
    return _report(
        context,
        record,
        commit=options.auto_commit,
        on_error=options.on_error,
        failed_rows=failed_rows,
        out=out,
        err=err,
    )


def _parse_mapping(value: str | None) -> dict[str, str] | None:
    """``--mapping``: inline JSON, or ``@path`` to a file holding it."""
    if value is None:
        return None
    text = value
    if value.startswith("@"):
        try:
            text = Path(value[1:]).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise typer.BadParameter(
                f"cannot read {value[1:]}: {exc}", param_hint="--mapping"
            ) from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise typer.BadParameter(f"not valid JSON: {exc}", param_hint="--mapping") from None
    if not isinstance(document, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in document.items()
    ):
        raise typer.BadParameter(
            'expected a JSON object of field names to column names, e.g. {"email": "Mail"}',
            param_hint="--mapping",
        )
    return document


def _first_message(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"])
    return f"{where}: {error['msg']}"


# --- copying the file ----------------------------------------------------------------------


def _copy(context: AppContext, store: UploadStore, file: Path, err: Console) -> Upload:
    try:
        size = file.stat().st_size
    except OSError:
        size = 0  # upload_local_file reports why the file cannot be read
    if size < COPY_BAR_MIN_BYTES:
        return upload_local_file(context, store, path=file)
    with Progress(
        TextColumn("copying"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    ) as progress:
        task = progress.add_task("copy", total=size)
        return upload_local_file(
            context,
            store,
            path=file,
            on_progress=lambda done: progress.update(task, completed=done),
        )


# --- running the jobs ----------------------------------------------------------------------


class _Stalled(Exception):
    """The import is working, but no job of it is queued or running anywhere."""


class _Driver:
    """Runs the import's jobs in a thread, one after another, and draws its progress."""

    def __init__(
        self,
        context: AppContext,
        runner: JobRunner,
        import_id: uuid.UUID,
        err: Console,
    ) -> None:
        self.context = context
        self.runner = runner
        self.import_id = import_id
        self.view = _ProgressView(err)
        self.worker: threading.Thread | None = None
        self.stop_states: frozenset[ImportState] = frozenset(_STOP_STATES)

    def drive(self) -> ImportRecord:
        """Until the import rests or ends; Ctrl-C (KeyboardInterrupt) comes out of here."""
        stalled = 0
        with self.view:
            while True:
                if self.worker is not None:
                    self._watch(self.worker)
                    self.worker = None
                record = self._show()
                if ImportState(record.state) in self.stop_states:
                    return record
                job, active = self._claim_own()
                if job is None:
                    # Someone else holds the job (a server's worker on the same store), or
                    # the next job is being queued: look again shortly.
                    stalled = 0 if active else stalled + 1
                    if stalled >= STALLED_POLLS:
                        raise _Stalled(
                            f"import {self.import_id} is {record.state}, but no job of it is "
                            "queued or running"
                        )
                    time.sleep(POLL_SECONDS)
                    continue
                stalled = 0
                self.worker = threading.Thread(
                    target=self.runner.run, args=(job,), name=f"job-{job.kind}", daemon=True
                )
                self.worker.start()

    def interrupt(self) -> ImportRecord:
        """Ctrl-C: cancel the import and let its jobs see it; a second Ctrl-C stops the job
        where it is (it goes back to the queue, still flagged for cancellation)."""
        self.view.note("cancelling…")
        with contextlib.suppress(StateConflict):  # it ended meanwhile: report how it did
            files.cancel(self.context, import_id=self.import_id)
        self.stop_states = frozenset(FINAL_STATES)
        try:
            return self.drive()
        except KeyboardInterrupt:
            self.runner.stopping.set()
            if self.worker is not None:
                self.worker.join()
            return files.get(self.context, import_id=self.import_id)

    def _watch(self, worker: threading.Thread) -> None:
        while worker.is_alive():
            worker.join(POLL_SECONDS)
            self._show()

    def _show(self) -> ImportRecord:
        record = files.get(self.context, import_id=self.import_id)
        self.view.show(record)
        return record

    def _claim_own(self) -> tuple[jobs.Claimed | None, bool]:
        """One of this import's claimable jobs, taken; and whether it has any job queued or
        running at all (claimed or not)."""
        active = [
            job
            for job in jobs.jobs_of(self.runner.sessions, subject_id=self.import_id)
            if job.state in (JobState.QUEUED, JobState.RUNNING)
        ]
        for job in active:
            claimed = self.runner.claim(job.id)
            if claimed is not None:
                return claimed, True
        return None, bool(active)


class _ProgressView:
    """One bar per step (analysing, validating, committing) drawn from the import row:
    state, rows, rows/s, ETA and bytes. Drawn only on a terminal."""

    def __init__(self, console: Console) -> None:
        self.progress = Progress(
            TextColumn("{task.description:<12}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[rows]}"),
            TextColumn("{task.fields[rate]}"),
            TextColumn("{task.fields[eta]}"),
            TextColumn("{task.fields[bytes]}"),
            console=console,
            disable=not console.is_terminal,
        )
        self.tasks: dict[str, TaskID] = {}

    def __enter__(self) -> _ProgressView:
        self.progress.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.progress.stop()

    def note(self, text: str) -> None:
        self.progress.console.print(text)

    def show(self, record: ImportRecord) -> None:
        state = ImportState(record.state)
        label = _STEP_LABELS.get(state)
        for name in [name for name in self.tasks if name != label]:
            self._finish(name, record)
        if label is None:
            return
        if label not in self.tasks:
            # Every field a column reads must exist before the first refresh draws it.
            self.tasks[label] = self.progress.add_task(
                label, total=1.0, rows="", rate="", eta="", bytes=""
            )
        self.progress.update(
            self.tasks[label],
            completed=record.progress,
            rows=_rows_text(label, record),
            rate=f"{record.rows_per_second:,.0f} rows/s" if record.rows_per_second else "",
            eta=f"ETA {_seconds(record.eta_seconds)}" if record.eta_seconds else "",
            bytes=f"{decimal(record.bytes_processed)}/{decimal(record.bytes_total)}",
        )

    def _finish(self, name: str, record: ImportRecord) -> None:
        """A step that is over: full bar, the step's final rows, no rate or ETA left."""
        task = self.tasks.pop(name)
        self.progress.update(
            task,
            completed=1.0,
            rows=_rows_text(name, record, done=True),
            eta="",
            bytes=f"{decimal(record.bytes_total)}/{decimal(record.bytes_total)}",
        )


def _rows_text(step: str, record: ImportRecord, *, done: bool = False) -> str:
    """Rows as each step counts them: validation counts rows read (against an estimate until
    done); a commit loads the valid rows; analysis only samples."""
    if step == "validating":
        if done or not record.rows_estimate:
            return f"{record.rows_total:,} rows"
        return f"{record.rows_total:,}/~{record.rows_estimate:,} rows"
    if step == "committing":
        return f"{record.rows_valid:,} rows"
    return ""


def _seconds(value: float | None) -> str:
    total = round(value or 0)
    return f"{total // 60}:{total % 60:02d}"


# --- reporting -----------------------------------------------------------------------------


def _report(
    context: AppContext,
    record: ImportRecord,
    *,
    commit: bool,
    on_error: str,
    failed_rows: _FailedRows,
    out: Console,
    err: Console,
) -> int:
    state = ImportState(record.state)
    if state == ImportState.AWAITING_MAPPING:
        _print_proposal(record, out, err)
        return EXIT_NEEDS_MAPPING
    if state == ImportState.CANCELLED:
        err.print(f"Import {record.id} was cancelled (by another client); nothing was loaded.")
        return EXIT_INVALID
    if state != ImportState.FAILED or record.rows_total:
        out.print(
            f"{record.rows_total:,} rows: {record.rows_valid:,} valid, "
            f"{record.rows_invalid:,} invalid"
        )
    _print_first_errors(context, record, out)
    # A failed import can be read again only if its analysis got as far as detecting the
    # format.
    if state in (ImportState.VALIDATED, ImportState.COMPLETED) or (
        state == ImportState.FAILED and record.detected is not None
    ):
        failed_rows.write(record)
    if state == ImportState.FAILED:
        failure = imports.failure_of(record) or {}
        err.print(
            f"[red]Import failed[/] ({escape(failure.get('type', 'unknown'))}): "
            f"{escape(failure.get('detail', 'no detail recorded'))}"
        )
        return EXIT_INVALID
    if state == ImportState.COMPLETED:
        seconds = (
            (record.finished_at - record.created_at).total_seconds() if record.finished_at else 0.0
        )
        out.print(
            f"Loaded {record.rows_loaded:,} rows into table {escape(record.table_name)} "
            f"({record.mode}) in {seconds:.1f} s"
        )
        if record.rows_invalid:
            out.print(f"Skipped {record.rows_invalid:,} invalid rows (--on-error skip).")
        return EXIT_OK
    # validated: either no --commit, or --commit with on_error=abort found invalid rows.
    if record.rows_invalid and on_error == "abort":
        out.print(
            "Nothing was loaded: fix the invalid rows and import again, or pass "
            "--on-error skip to load the valid ones."
        )
        return EXIT_INVALID
    if commit:  # not reached by the pipeline today; say what happened rather than guess
        out.print(f"Import {record.id} is validated but was not committed.")
        return EXIT_INVALID
    if record.rows_invalid:
        out.print(
            f"Validated; with --commit the {record.rows_valid:,} valid rows would be loaded "
            "and the invalid ones skipped."
        )
    else:
        out.print("Validated: every row is valid. Nothing was loaded; pass --commit to load.")
    return EXIT_OK


def _print_first_errors(context: AppContext, record: ImportRecord, out: Console) -> None:
    with context.sessions() as session:
        errors = imports.list_errors(
            session, import_id=record.id, limit=context.settings.response_errors
        )
    if not errors:
        return
    shown = f"first {len(errors)} of {record.errors_total:,}" if record.errors_total else ""
    table = Table(title=f"Errors ({shown})" if shown else "Errors", title_justify="left")
    for name in ("row", "column", "value", "rule", "message"):
        table.add_column(name, overflow="fold")
    for error in errors:
        table.add_row(
            str(error.row) if error.row else "",
            escape(error.column or ""),
            escape(error.value if error.value is not None else ""),
            escape(error.rule),
            escape(error.message),
        )
    out.print(table)


class _FailedRows:
    """Writes the invalid rows as CSV (with ``_row`` and ``_error``) once. They are read
    again from the file, after a commit too: the import's own rows in the table are not
    duplicates of its keys (``pipeline._validator`` leaves them out of the look-ups)."""

    def __init__(
        self,
        context: AppContext,
        store: UploadStore,
        *,
        file: Path,
        path: Path,
        out: Console,
        err: Console,
    ) -> None:
        self.context, self.store, self.file, self.path = context, store, file, path
        self.out, self.err = out, err
        self.written = False

    def write(self, record: ImportRecord) -> None:
        if self.written or not record.rows_invalid:
            return
        self.written = True
        target = self.path.absolute()
        shown = escape(str(target))
        if target.exists() and self.file.exists() and os.path.samefile(target, self.file):
            self.err.print(f"[red]Not writing the invalid rows over the imported file {shown}[/]")
            return
        lines = files.failed_rows(self.context, import_id=record.id)
        try:
            _atomic_write(target, lines)
        except OSError as exc:
            self.err.print(f"[red]Could not write the invalid rows to {shown}:[/] {exc}")
            return
        self.out.print(f"Invalid rows (with an _error column) written to {shown}")


def _atomic_write(target: Path, lines: Iterator[str]) -> None:
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as stream:
            for line in lines:
                stream.write(line)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _print_proposal(record: ImportRecord, out: Console, err: Console) -> None:
    stored = json.loads(record.proposal or "{}")
    proposal = stored.get("proposal") or {}
    problems = stored.get("mapping_problems") or []
    if problems:
        err.print("The --mapping given does not fit this file:")
        for problem in problems:
            where = problem.get("path") or problem.get("column") or ""
            err.print(f"  {escape(str(where))}: {escape(problem['message'])}")
    table = Table(title="Proposed mapping", title_justify="left")
    for name in ("field", "column", "confidence", "why"):
        table.add_column(name, overflow="fold")
    for match in proposal.get("fields", []):
        field = match["field"] + (" *" if match.get("required") else "")
        why = match.get("reason") or ""
        if match.get("candidates"):
            why += " (ambiguous: " + ", ".join(c["column"] for c in match["candidates"]) + ")"
        table.add_row(
            escape(field),
            escape(match.get("column") or "—"),
            f"{match.get('confidence', 0.0):.2f}" if match.get("column") else "",
            escape(why),
        )
    out.print(table)
    out.print("* required")
    missing = proposal.get("missing_required") or []
    if missing:
        out.print(f"Missing required fields: {escape(', '.join(missing))}")
    unmapped = proposal.get("unmapped_columns") or []
    if unmapped:
        out.print(f"Unmapped columns: {escape(', '.join(unmapped))}")
    suggestion = {
        match["field"]: match.get("column") or "COLUMN"
        for match in proposal.get("fields", [])
        if match.get("column") or match.get("required")
    }
    out.print(
        f"Import {record.id} waits for a mapping. Run again with "
        f"--mapping '{escape(json.dumps(suggestion, ensure_ascii=False))}' "
        "(JSON {field: column}; or --mapping @mapping.json), replacing COLUMN with the "
        "file's column for each field."
    )
