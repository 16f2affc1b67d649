"""The jobs of a file import, and the reads that go through the file: the data path.

    analyse   created -> analysing -> awaiting_mapping | validating (+ validate job)
    validate  validating -> validated (| committing with auto_commit) | failed
    commit    committing -> completed | failed | cancelled

Each job is idempotent: run again after a crash it starts its step over (validation clears
what it stored; a commit finds the rows of its import in the table and loads nothing), and a
job for an import that has moved on does nothing. Cancellation is checked between batches;
a cancelled commit raises inside the destination's batch stream, which rolls the load back.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.orm import Session

from loadbay.context import AppContext
from loadbay.db import transaction
from loadbay.destinations.errors import LoadConflict, TableMismatch, UnstorableValue
from loadbay.destinations.sql import SqlDestination
from loadbay.errors import ErrorDetail, LoadbayError
from loadbay.formats import Detected, SourceBatch, UnreadableFile, detect, read_batches, sample
from loadbay.imports import files
from loadbay.imports.delivery import deliver, delivery_note
from loadbay.imports.errors import StateConflict
from loadbay.imports.files import (
    COMMIT,
    VALIDATE,
    begin_commit,
    columns_of,
    mapping_of,
    options_of,
)
from loadbay.imports.models import ImportError_, ImportPatch, ImportRecord, ImportRow
from loadbay.imports.options import ImportOptions
from loadbay.imports.progress import ProgressMeter
from loadbay.imports.service import (
    fail_import,
    failure_json,
    get_import,
    schema_of,
    store_errors,
    transition,
    update,
)
from loadbay.imports.states import ImportState
from loadbay.jobs.runner import JobControl
from loadbay.jobs.service import jobs_of
from loadbay.observability.metrics import count_imported_rows
from loadbay.schemas.mapping import (
    is_confident,
    propose_mapping,
    remember_mapping,
    validate_mapping,
)
from loadbay.schemas.model import TableSchema
from loadbay.spreadsheet import csv_lines
from loadbay.uploads import service as uploads
from loadbay.uploads.errors import UploadGone, UploadNotFound, UploadNotReady
from loadbay.uploads.store import UploadStore
from loadbay.validation import (
    BatchResult,
    CellError,
    ErrorBudget,
    RawBatch,
    Validator,
    compile_schema,
)
from loadbay.validation import kinds as kind_codes

logger = logging.getLogger("loadbay.imports")

Patches = dict[int, dict[str, str | None]]


class ImportCancelled(Exception):
    """A person cancelled the import while its job ran."""


class _AbortCommit(Exception):
    """on_error=abort and the commit found invalid rows (a patch made a duplicate key…)."""

    def __init__(self, errors: list[CellError], rows_invalid: int) -> None:
        super().__init__(f"{rows_invalid} invalid row(s)")
        self.errors = errors
        self.rows_invalid = rows_invalid


# --- analyse -------------------------------------------------------------------------------


def analyse(context: AppContext, import_id: uuid.UUID, control: JobControl) -> None:
    """Detect how to read the file, sample it, propose a mapping; proceed when confident."""
    record = files.get(context, import_id=import_id)
    if record.state == ImportState.CREATED:
        with transaction(context.sessions) as session:
            transition(session, import_id, ImportState.CREATED, ImportState.ANALYSING)
    elif record.state != ImportState.ANALYSING:
        return  # done already, or cancelled before it started
    state = ImportState.ANALYSING
    options = options_of(record)
    try:
        path = _path(context, record)
        detected = detect(path, sheet=options.sheet)
        first = sample(path, detected, rows=context.settings.preview_rows)
    except (UnreadableFile, UploadNotReady, UploadNotFound, UploadGone) as exc:
        fail_import(context, import_id, state, exc.slug, exc.detail)
        return
    control.check()
    with transaction(context.sessions) as session:
        if _cancel_requested(session, import_id):
            transition(session, import_id, state, ImportState.CANCELLED)
            return
        info = schema_of(session, record)
        proposal = propose_mapping(session, schema=info.schema, headers=detected.columns)
        given = mapping_of(record)
        problems: list[ErrorDetail] = []
        if given is not None:
            problems = validate_mapping(info.schema, detected.columns, given)
            mapping = None if problems else given
            if mapping is not None and options.remember_mapping:
                remember_mapping(
                    session, schema=info.schema, headers=detected.columns, mapping=mapping
                )
        elif is_confident(proposal, context.settings.auto_map_confidence):
            mapping = proposal.mapping
        else:
            mapping = None
        analysis = {
            "proposal": proposal.model_dump(mode="json"),
            "mapping_problems": [p.as_dict() for p in problems],
            "sample_rows": first.values.height,
        }
        values: dict[str, Any] = {
            "detected": json.dumps(dataclasses.asdict(detected)),
            "proposal": json.dumps(analysis),
            "rows_estimate": _rows_estimate(path, detected, first),
            "progress": 1.0,
        }
        if mapping is None:
            if problems:
                # The given mapping cannot be used (problems say why): drop it, so reads
                # through the file (preview, failed rows) never apply it.
                values["mapping"] = None
            transition(session, import_id, state, ImportState.AWAITING_MAPPING, **values)
        else:
            values |= {"mapping": json.dumps(mapping), "progress": 0.0}
            transition(session, import_id, state, ImportState.VALIDATING, **values)
            context.enqueue(session, kind=VALIDATE, subject_id=import_id)


def _rows_estimate(path: Path, detected: Detected, first: SourceBatch) -> int | None:
    """Exact for Parquet (its footer knows); for text, from the bytes the sample took (the
    validation refines it from real offsets); None when nothing sensible can be said."""
    if detected.format == "parquet":
        return int(pl.scan_parquet(path).select(pl.len()).collect().item())
    if first.values.height < 1:
        return 0
    if first.offset is not None and first.offset >= path.stat().st_size:
        return first.values.height  # the sample read the whole file
    return None


# --- validate ------------------------------------------------------------------------------


def validate(context: AppContext, import_id: uuid.UUID, control: JobControl) -> None:
    """Stream the whole file through the validator; store errors and invalid rows (capped),
    keep exact counts, honour the error budget; then auto-commit if asked.

    An auto-commit into a table (no HTTP destination) loads in the same pass: the rows go
    to the destination as they are validated, and the load commits only once the whole file
    has validated within what the import allows (every row valid with ``on_error=abort``,
    the budget in any case); otherwise the load rolls back and the import ends as a
    validation alone would. The import moves to committing before the load commits, so a
    job run again after a crash there finds it committing and finishes the commit.

    Such an insert into an empty table leaves the key checks to the table, which refuses a
    repeated key by itself: the pass is kept only if the load commits, and otherwise (a key
    refused, an invalid row) the file is validated again with the key checks on, which say
    where any repeats are."""
    record = files.get(context, import_id=import_id)
    options = options_of(record)
    if record.state == ImportState.COMMITTING and _committing_by_itself(context, record):
        commit(context, import_id, control)
        return
    if record.state != ImportState.VALIDATING:
        return
    with context.sessions() as session:
        schema = schema_of(session, record).schema
    single_pass = _loads_while_validating(options, schema)
    _keys_left_to_table_first(
        context,
        record,
        schema,
        options.mode,
        "validating",
        lambda check_keys: _validate_once(context, record, control, check_keys=check_keys),
        may=single_pass,
    )


def _keys_left_to_table_first(
    context: AppContext,
    record: ImportRecord,
    schema: TableSchema,
    mode: str,
    doing: str,
    run_once: Callable[[bool], bool],
    *,
    may: bool,
) -> None:
    """``run_once(check_keys)``: first without the key checks when the load can be their
    judge, then, if that pass did not count (it answers False), again with them.

    It can be for an insert into an empty table, which holds no key of another import: the
    load fails on any key the file repeats (a table takes loads only with a unique index on
    the primary key and on each unique field; see ``ddl.plan_evolution``), and that costs
    less than tracking every key in the validator (a third of the validation of a file with
    a unique text column)."""
    if may and mode == "insert" and _destination(context).is_empty(schema):
        if run_once(False):
            return
        logger.info("import %s: %s again, with the key checks on", record.id, doing)
    run_once(True)


def _validate_once(
    context: AppContext, record: ImportRecord, control: JobControl, *, check_keys: bool
) -> bool:
    """One validation of the whole file (and its load, with an auto-commit). Without the
    key checks it answers False, having ended nothing, unless its load committed."""
    import_id = record.id
    options = options_of(record)
    state = ImportState.VALIDATING
    settings = context.settings
    with transaction(context.sessions) as session:
        info = schema_of(session, record)
        # A validation run again (a new mapping, a crash) starts from nothing.
        session.execute(sa.delete(ImportError_).where(ImportError_.import_id == import_id))
        session.execute(sa.delete(ImportRow).where(ImportRow.import_id == import_id))
        update(
            session,
            import_id,
            state,
            rows_total=0,
            rows_valid=0,
            rows_invalid=0,
            errors_total=0,
            errors_stored=0,
            budget_exceeded=False,
            bytes_processed=0,
            progress=0.0,
        )
        patches = _patches(session, import_id)
    schema = info.schema
    budget = ErrorBudget(options.max_errors, options.max_error_ratio)
    if budget.max_errors is None and budget.max_error_ratio is None:
        budget = ErrorBudget(settings.max_errors, settings.max_error_ratio)
    single_pass = _loads_while_validating(options, schema)
    destination = _destination(context)
    lookups = not single_pass or not destination.is_empty(schema)
    validator = _validator(context, record, schema, budget, lookups=lookups, check_keys=check_keys)
    keeper = _RowKeeper(settings.max_stored_errors)
    run = _ValidationRun(context, record, validator, keeper, control)
    batches = run.batches(schema, patches)
    loaded: int | None = None
    try:
        if single_pass:
            loaded = _load_while_validating(run, destination, schema, batches, options)
            if loaded is None and not check_keys:
                return False
        for _ in batches:  # the rest, when the load stopped early (or there was none)
            pass
    except ImportCancelled:
        _cancel(context, import_id, state)
        return True
    except UnreadableFile as exc:
        fail_import(context, import_id, state, exc.slug, exc.detail)
        return True
    except (TableMismatch, UnstorableValue) as exc:  # the key look-up in the target table
        fail_import(context, import_id, state, exc.slug, exc.detail, errors=exc.errors)
        return True
    except LoadConflict as exc:  # a key the table refused
        if not check_keys:
            return False
        fail_import(context, import_id, state, exc.slug, exc.detail, errors=exc.errors)
        return True
    if loaded is not None:
        _complete(context, record, validator, loaded)
        return True
    with transaction(context.sessions) as session:
        if run.end(session) is not ImportState.VALIDATED:
            return True
        fresh = get_import(session, import_id=import_id)
        if options.auto_commit and (validator.rows_invalid == 0 or options.on_error == "skip"):
            begin_commit(context, session, fresh, mode=options.mode, on_error=options.on_error)
    return True


class _StopLoading(Exception):
    """The validation found what the load may not go on with: roll it back."""


def _loads_while_validating(options: ImportOptions, schema: TableSchema) -> bool:
    """Whether the validate job loads the rows too: an auto-commit into a table alone (an
    HTTP destination is fed after the table load, by the commit job)."""
    return options.auto_commit and schema.writes_table and schema.x_loadbay.destination is None


def _committing_by_itself(context: AppContext, record: ImportRecord) -> bool:
    """Whether a committing import was moved there by its own validate job (which must then
    finish the commit): a commit request queues a commit job, which does it."""
    return all(job.kind != COMMIT for job in jobs_of(context.sessions, subject_id=record.id))


def _load_while_validating(
    run: _ValidationRun,
    destination: SqlDestination,
    schema: TableSchema,
    batches: Iterator[BatchResult],
    options: ImportOptions,
) -> int | None:
    """Load the valid rows of ``batches`` as they come; the number loaded, or None when the
    load was given up (rolled back), leaving the rest of ``batches`` to read."""
    validator = run.validator
    abort = options.on_error == "abort"
    ended = False

    def valid_rows() -> Iterator[pl.DataFrame]:
        for result in batches:
            if validator.budget_exceeded or (abort and validator.rows_invalid):
                raise _StopLoading
            yield result.valid
        if validator.budget_exceeded:
            raise _StopLoading

    def validated() -> None:
        # Every row validated and in the table, every key held: committing from here,
        # before the load commits.
        nonlocal ended
        with transaction(run.context.sessions) as session:
            if _cancel_requested(session, run.record.id):
                raise ImportCancelled
            run.end(session)  # validated: the budget held
            fresh = get_import(session, import_id=run.record.id)
            mode, on_error = options.mode, options.on_error
            begin_commit(run.context, session, fresh, mode=mode, on_error=on_error, queue=False)
        ended = True

    try:
        # The destination reads valid_rows() in a thread of its own, stopped before load()
        # returns or raises: before the import's end is written.
        loaded = destination.load(
            schema,
            valid_rows(),
            import_id=run.record.id,
            mode=options.mode,
            before_commit=validated,
        )
    except _StopLoading:
        return None
    return loaded if ended else None


class _ValidationRun:
    """One pass of the validate job: batches validated, errors kept, progress written."""

    def __init__(
        self,
        context: AppContext,
        record: ImportRecord,
        validator: Validator,
        keeper: _RowKeeper,
        control: JobControl,
    ) -> None:
        self.context = context
        self.record = record
        self.validator = validator
        self.keeper = keeper
        self.control = control
        self.meter = _meter(context, record)

    def batches(self, schema: TableSchema, patches: Patches) -> Iterator[BatchResult]:
        """Each batch validated, its invalid rows stored (within the cap), progress written;
        up to the end of the file or the batch that exceeded the budget."""
        context, import_id, state = self.context, self.record.id, ImportState.VALIDATING
        validator, keeper = self.validator, self.keeper
        for raw, pre_errors, offset in _mapped_batches(context, self.record, schema, patches):
            self.control.check()
            result = validator.validate(raw, pre_errors=pre_errors)
            kept = keeper.take(raw, result.errors)
            if kept or self.meter.due():
                with transaction(context.sessions) as session:
                    if _cancel_requested(session, import_id):
                        raise ImportCancelled
                    keeper.store(session, import_id, kept)
                    update(
                        session,
                        import_id,
                        state,
                        **_counts(validator, keeper),
                        **self.meter.values(rows=validator.rows_seen, offset=offset),
                    )
            yield result
            if result.budget_exceeded:
                return
        validator.finish()

    def end(self, session: Session) -> ImportState:
        """The validation's end state, written: validated, failed (the error budget) or
        cancelled."""
        validator, import_id, state = self.validator, self.record.id, ImportState.VALIDATING
        final = _counts(validator, self.keeper) | {
            "progress": 1.0,
            "eta_seconds": 0.0,
            "rows_estimate": validator.rows_seen,
            "bytes_processed": self.record.bytes_total,
        }
        if _cancel_requested(session, import_id):
            transition(session, import_id, state, ImportState.CANCELLED)
            return ImportState.CANCELLED
        if validator.budget_exceeded:
            detail = (
                f"validation stopped after {validator.errors_total} error(s) in "
                f"{validator.rows_seen} row(s): the error budget was exceeded"
            )
            final["failure"] = failure_json("error-budget-exceeded", detail)
            transition(session, import_id, state, ImportState.FAILED, **final)
            return ImportState.FAILED
        transition(session, import_id, state, ImportState.VALIDATED, **final)
        return ImportState.VALIDATED


def _counts(validator: Validator, keeper: _RowKeeper) -> dict[str, Any]:
    return {
        "rows_total": validator.rows_seen,
        "rows_valid": validator.rows_valid,
        "rows_invalid": validator.rows_invalid,
        "errors_total": validator.errors_total,
        "errors_stored": keeper.errors_stored,
        "budget_exceeded": validator.budget_exceeded,
    }


class _RowKeeper:
    """Keeps the first invalid rows with all their errors, within ``limit`` errors: a row is
    stored whole or not at all, so re-validating a stored row knows every error it had."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.errors_stored = 0
        self.full = False

    def take(
        self, raw: RawBatch, errors: Sequence[CellError]
    ) -> list[tuple[int, dict[str, Any], dict[str, Any] | None, list[CellError]]]:
        if self.full or not errors:
            return []
        by_row: dict[int, list[CellError]] = defaultdict(list)
        for error in errors:
            by_row[error.row].append(error)
        chosen: list[int] = []
        for row, row_errors in by_row.items():
            if self.errors_stored + len(row_errors) > self.limit:
                self.full = True
                break
            self.errors_stored += len(row_errors)
            chosen.append(row)
        if not chosen:
            return []
        values = _rows_of(raw.values, raw.row_numbers, chosen)
        kinds = _rows_of(raw.kinds, raw.row_numbers, chosen) if raw.kinds is not None else {}
        return [(row, values[row], kinds.get(row), by_row[row]) for row in chosen]

    @staticmethod
    def store(
        session: Session,
        import_id: uuid.UUID,
        kept: list[tuple[int, dict[str, Any], dict[str, Any] | None, list[CellError]]],
    ) -> None:
        if not kept:
            return
        session.execute(
            sa.insert(ImportRow),
            [
                {
                    "import_id": import_id,
                    "row": row,
                    "values": json.dumps(values),
                    "kinds": None if kinds is None else json.dumps(kinds),
                }
                for row, values, kinds, _ in kept
            ],
        )
        errors = [e for *_, row_errors in kept for e in row_errors]
        store_errors(session, import_id, errors, len(errors))


def _rows_of(
    frame: pl.DataFrame, row_numbers: pl.Series, rows: list[int]
) -> dict[int, dict[str, Any]]:
    picked = frame.with_columns(row_numbers.alias("__row")).filter(pl.col("__row").is_in(rows))
    out: dict[int, dict[str, Any]] = {}
    for item in picked.to_dicts():
        out[int(item.pop("__row"))] = item
    return out


# --- commit --------------------------------------------------------------------------------


def commit(context: AppContext, import_id: uuid.UUID, control: JobControl) -> None:
    """Stream the file again (patches applied), validate, load through the SQL destination:
    ``abort`` all-or-nothing, ``skip`` the valid rows only. A schema with an HTTP
    destination delivers the valid rows there (after the table load, in a second pass, when
    it keeps the table too); see ``imports.delivery``.

    An insert into an empty table leaves the key checks to the table, as the validate job
    does: if the load does not commit, the commit is done again with them on."""
    record = files.get(context, import_id=import_id)
    if record.state != ImportState.COMMITTING:
        return
    with context.sessions() as session:
        info = schema_of(session, record)
        patches = _patches(session, import_id)
    schema = info.schema
    _keys_left_to_table_first(
        context,
        record,
        schema,
        record.mode,
        "committing",
        lambda check_keys: _commit_once(
            context, record, schema, patches, control, check_keys=check_keys
        ),
        may=schema.writes_table and schema.x_loadbay.destination is None,
    )


def _commit_once(
    context: AppContext,
    record: ImportRecord,
    schema: TableSchema,
    patches: Patches,
    control: JobControl,
    *,
    check_keys: bool,
) -> bool:
    """One commit pass; without the key checks it answers False, having ended nothing,
    unless its load committed."""
    import_id = record.id
    state = ImportState.COMMITTING
    # Into a table that is empty now, keys need no look-up: the load fills it directly,
    # holding it locked (a look-up from another connection would wait on that lock), and
    # if another import fills it first the load stages and reports any clash itself.
    destination = _destination(context)
    validator = _validator(
        context,
        record,
        schema,
        ErrorBudget(),
        lookups=schema.writes_table and not destination.is_empty(schema),
        check_keys=check_keys,
    )
    meter = _meter(context, record)

    def valid_batches(validator: Validator) -> Iterator[pl.DataFrame]:
        for raw, pre_errors, offset in _mapped_batches(context, record, schema, patches):
            control.check()
            result = validator.validate(raw, pre_errors=pre_errors)
            if result.rows_invalid and record.on_error == "abort":
                raise _AbortCommit(result.errors, validator.rows_invalid)
            if meter.due():
                with transaction(context.sessions) as session:
                    if _cancel_requested(session, import_id):
                        raise ImportCancelled
                    update(
                        session,
                        import_id,
                        state,
                        **meter.values(rows=validator.rows_seen, offset=offset),
                    )
            yield result.valid
        with context.sessions() as session:
            # The last look before the rows move: a cancel after this comes too late.
            if _cancel_requested(session, import_id):
                raise ImportCancelled

    rejected = 0
    try:
        loaded = 0
        if schema.writes_table:
            loaded = destination.load(
                schema,
                valid_batches(validator),
                import_id=import_id,
                mode=record.mode,  # type: ignore[arg-type]  # checked at commit request
            )
        if schema.x_loadbay.destination is not None:
            if schema.writes_table:
                # A second pass over the file: the first validator has seen every key once.
                validator = _validator(context, record, schema, ErrorBudget())
            delivered = deliver(
                context,
                import_id=import_id,
                schema=schema,
                batches=valid_batches(validator),
                on_error=record.on_error,  # type: ignore[arg-type]  # checked at commit request
                state=state,
            )
            if delivered.ended:
                return True
            loaded, rejected = delivered.accepted, delivered.rejected
    except ImportCancelled:
        _cancel(context, import_id, state)
        return True
    except _AbortCommit as exc:
        if not check_keys:
            return False
        detail = (
            f"the commit found {exc.rows_invalid} invalid row(s) (on_error=abort); "
            "nothing was loaded" + delivery_note(context, import_id)
        )
        errors = [_detail(e) for e in exc.errors]
        fail_import(context, import_id, state, "validation-failed", detail, errors=errors)
        return True
    except UnreadableFile as exc:
        fail_import(context, import_id, state, exc.slug, exc.detail)
        return True
    except LoadConflict as exc:
        if not check_keys:
            return False
        fail_import(context, import_id, state, exc.slug, exc.detail, errors=exc.errors)
        return True
    except (TableMismatch, UnstorableValue) as exc:
        fail_import(context, import_id, state, exc.slug, exc.detail, errors=exc.errors)
        return True
    _complete(context, record, validator, loaded, rejected)
    return True


def _complete(
    context: AppContext,
    record: ImportRecord,
    validator: Validator,
    loaded: int,
    rejected: int = 0,
) -> None:
    """committing -> completed, with the counts of the pass that loaded the rows."""
    values: dict[str, Any] = {
        "rows_loaded": loaded,
        "progress": 1.0,
        "eta_seconds": 0.0,
        "bytes_processed": record.bytes_total,
    }
    invalid = record.rows_invalid
    if validator.rows_seen:  # zero when the rows were loaded by an earlier attempt
        # The exact count replaces the estimate the progress writes made from byte offsets.
        invalid = validator.rows_invalid
        values |= {
            "rows_valid": validator.rows_valid,
            "rows_invalid": invalid,
            "rows_estimate": validator.rows_seen,
        }
    if rejected:
        # Records the HTTP destination rejected are invalid rows now, like the validator's.
        values["rows_valid"] = values.get("rows_valid", record.rows_valid) - rejected
        values["rows_invalid"] = values.get("rows_invalid", record.rows_invalid) + rejected
    with transaction(context.sessions) as session:
        transition(session, record.id, ImportState.COMMITTING, ImportState.COMPLETED, **values)
    count_imported_rows(loaded=loaded, invalid=invalid)


def _detail(error: CellError) -> ErrorDetail:
    return ErrorDetail(
        message=error.message,
        row=error.row,
        column=error.column,
        value=error.value,
        rule=error.rule,
    )


# --- shared --------------------------------------------------------------------------------


def abandon(context: AppContext, import_id: uuid.UUID, reason: str) -> None:
    """A job of this import kept dying with its process: end the import as failed."""
    record = files.get(context, import_id=import_id)
    state = ImportState(record.state)
    if state in (ImportState.ANALYSING, ImportState.VALIDATING, ImportState.COMMITTING):
        fail_import(context, import_id, state, "job-abandoned", reason)


def fail_on_bug(context: AppContext, import_id: uuid.UUID, exc: BaseException) -> None:
    """A job raised something it does not handle: the import must not stay working forever."""
    record = files.get(context, import_id=import_id)
    state = ImportState(record.state)
    if state in (ImportState.ANALYSING, ImportState.VALIDATING, ImportState.COMMITTING):
        detail = "the import failed unexpectedly; the server log has the details"
        if isinstance(exc, LoadbayError):
            detail = exc.detail
        with contextlib.suppress(StateConflict):  # it moved on meanwhile: nothing to end
            fail_import(context, import_id, state, "internal-error", detail)


def _path(context: AppContext, record: ImportRecord) -> Path:
    assert record.upload_id is not None
    store = UploadStore.at(context.settings.data_dir)
    return uploads.completed_path(context, store, upload_id=record.upload_id)


def _cancel_requested(session: Session, import_id: uuid.UUID) -> bool:
    return bool(
        session.scalar(sa.select(ImportRecord.cancel_requested).where(ImportRecord.id == import_id))
    )


def _cancel(context: AppContext, import_id: uuid.UUID, state: ImportState) -> None:
    with transaction(context.sessions) as session:
        transition(session, import_id, state, ImportState.CANCELLED, eta_seconds=None)
    logger.info("import %s cancelled while %s", import_id, state.value)


def _patches(session: Session, import_id: uuid.UUID) -> Patches:
    out: Patches = defaultdict(dict)
    for patch in session.scalars(sa.select(ImportPatch).where(ImportPatch.import_id == import_id)):
        out[patch.row][patch.field] = patch.value
    return dict(out)


def _validator(
    context: AppContext,
    record: ImportRecord,
    schema: TableSchema,
    budget: ErrorBudget,
    *,
    lookups: bool = True,
    check_keys: bool = True,
) -> Validator:
    existing = None
    if record.mode == "insert" and lookups and schema.writes_table:
        # In insert mode a key already in the target table is a row error, found now rather
        # than as a failed load at the end; the import's own rows (read again after its
        # commit, for the failed-rows CSV) are not others' keys.
        destination = _destination(context)

        def existing(keys: pl.DataFrame) -> pl.Series:
            return destination.existing_keys(schema, keys, excluding=record.id)

    # Keys the validator cannot keep in memory go to disk beside the uploads, not to a /tmp
    # that may be memory itself.
    spill_dir = context.settings.data_dir / "tmp"
    spill_dir.mkdir(exist_ok=True)
    return Validator(
        compile_schema(schema),
        budget=budget,
        existing_keys=existing,
        spill_dir=spill_dir,
        check_keys=check_keys,
    )


def _destination(context: AppContext) -> SqlDestination:
    return SqlDestination(context.target_engine, bulk_load_empty=context.settings.bulk_loads())


def _meter(context: AppContext, record: ImportRecord) -> ProgressMeter:
    return ProgressMeter(
        bytes_total=record.bytes_total,
        rows_estimate=record.rows_estimate,
        interval=context.settings.progress_interval,
    )


def _detected(record: ImportRecord) -> Detected:
    if record.detected is None:
        raise StateConflict(f"import {record.id} has not been analysed yet")
    return Detected(**json.loads(record.detected))


def _mapped_batches(
    context: AppContext, record: ImportRecord, schema: TableSchema, patches: Patches
) -> Iterator[tuple[RawBatch, tuple[CellError, ...], int | None]]:
    """The file's batches as the schema sees them: ``(batch, read errors, byte offset)``."""
    mapping = mapping_of(record) or {}
    path = _path(context, record)
    for batch in read_batches(path, _detected(record)):
        yield map_batch(batch, schema, mapping, patches), batch.errors, batch.offset


def map_batch(
    batch: SourceBatch, schema: TableSchema, mapping: dict[str, str], patches: Patches
) -> RawBatch:
    """Source columns renamed to the fields mapped to them (unmapped fields: all null), then
    the person's edits applied to their cells (an edited cell is text, as typed)."""
    height = batch.values.height
    values: list[pl.Series] = []
    kinds: list[pl.Series] = []
    for name in schema.field_names:
        column = mapping.get(name)
        if column is None:
            values.append(pl.Series(name, [None] * height, dtype=pl.String))
            continue
        values.append(batch.values[column].alias(name))
        if batch.kinds is not None and column in batch.kinds.columns:
            kinds.append(batch.kinds[column].alias(name))
    frame = pl.DataFrame(values) if values else pl.DataFrame(height=height)
    kind_frame = pl.DataFrame(kinds) if kinds else None
    if patches and height:
        frame, kind_frame = _apply_patches(frame, kind_frame, batch.row_numbers, patches)
    return RawBatch(values=frame, row_numbers=batch.row_numbers, kinds=kind_frame)


def _apply_patches(
    frame: pl.DataFrame, kinds: pl.DataFrame | None, row_numbers: pl.Series, patches: Patches
) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    first, last = row_numbers[0], row_numbers[-1]
    edits: dict[str, tuple[list[int], list[str | None]]] = defaultdict(lambda: ([], []))
    for row, cells in patches.items():
        if not first <= row <= last:
            continue
        index = int(row_numbers.search_sorted(row))
        if index >= len(row_numbers) or row_numbers[index] != row:
            continue
        for field, value in cells.items():
            if field in frame.columns:
                edits[field][0].append(index)
                edits[field][1].append(value)
    if not edits:
        return frame, kinds
    frame = frame.with_columns(
        frame[field].scatter(indices, new) for field, (indices, new) in edits.items()
    )
    if kinds is not None:
        kinds = kinds.with_columns(
            kinds[field].scatter(
                indices, [kind_codes.NULL if v is None else kind_codes.STRING for v in new]
            )
            for field, (indices, new) in edits.items()
            if field in kinds.columns
        )
    return frame, kinds


# --- reads through the file ----------------------------------------------------------------


def revalidate_rows(
    context: AppContext,
    session: Session,
    record: ImportRecord,
    schema: TableSchema,
    rows: list[int],
) -> dict[int, list[Any]]:
    """Re-validate stored invalid rows after edits (in the caller's transaction), replacing
    their errors and adjusting the counts. A row not stored (beyond the cap) is judged at
    commit, which validates every row again; its entry is absent from the answer.

    Duplicate-key errors need every other row to judge: they are kept unless the edit
    changed the key's field, and the commit checks keys again in any case."""
    stored = {
        r.row: r
        for r in session.scalars(
            sa.select(ImportRow).where(ImportRow.import_id == record.id, ImportRow.row.in_(rows))
        )
    }
    if not stored:
        return {}
    patches = _patches(session, record.id)
    old: dict[int, list[ImportError_]] = defaultdict(list)
    for error in session.scalars(
        sa.select(ImportError_).where(
            ImportError_.import_id == record.id, ImportError_.row.in_(list(stored))
        )
    ):
        old[error.row].append(error)
    order = sorted(stored)
    values = [json.loads(stored[r].values) for r in order]
    for n, row in enumerate(order):
        values[n].update(patches.get(row, {}))
    raw_kinds = [json.loads(k) if (k := stored[r].kinds) else None for r in order]
    names = schema.field_names
    frame = pl.DataFrame(
        {name: [v.get(name) for v in values] for name in names},
        schema=dict.fromkeys(names, pl.String),
    )
    kinds = None
    if any(k is not None for k in raw_kinds):
        kind_columns = sorted({name for k in raw_kinds if k for name in k})
        kinds = pl.DataFrame(
            {
                name: [
                    (kind_codes.STRING if v.get(name) is not None else kind_codes.NULL)
                    if name in patches.get(row, {})
                    else (k or {}).get(name, kind_codes.NULL)
                    for row, v, k in zip(order, values, raw_kinds, strict=True)
                ]
                for name in kind_columns
            },
            schema=dict.fromkeys(kind_columns, kind_codes.KIND_DTYPE),
        )
    raw = RawBatch(frame, pl.Series("row", order, dtype=pl.Int64), kinds)
    result = Validator(compile_schema(schema)).validate(raw)
    new: dict[int, list[CellError]] = defaultdict(list)
    for cell_error in result.errors:
        new[cell_error.row].append(cell_error)
    for row in order:
        edited = set(patches.get(row, {}))
        for stored_error in old[row]:
            if stored_error.rule not in ("unique", "primaryKey"):
                continue
            key = schema.primary_key if stored_error.rule == "primaryKey" else [stored_error.column]
            if not edited.intersection(k for k in key if k is not None):
                new[row].append(
                    CellError(
                        row,
                        stored_error.column,
                        stored_error.value,
                        stored_error.rule,  # type: ignore[arg-type]  # stored from a Rule
                        stored_error.message,
                    )
                )
    old_total = sum(len(old[r]) for r in order)
    new_total = sum(len(new[r]) for r in order)
    now_valid = sum(1 for r in order if old[r] and not new[r])
    now_invalid = sum(1 for r in order if not old[r] and new[r])
    session.execute(
        sa.delete(ImportError_).where(
            ImportError_.import_id == record.id, ImportError_.row.in_(order)
        )
    )
    errors = [e for r in order for e in new[r]]
    store_errors(session, record.id, errors, len(errors))
    for n, row in enumerate(order):
        stored[row].values = json.dumps(values[n])
    delta_rows = now_valid - now_invalid
    if not update(
        session,
        record.id,
        ImportState.VALIDATED,
        rows_valid=ImportRecord.rows_valid + delta_rows,
        rows_invalid=ImportRecord.rows_invalid - delta_rows,
        errors_total=ImportRecord.errors_total + new_total - old_total,
        errors_stored=ImportRecord.errors_stored + new_total - old_total,
    ):
        raise StateConflict(f"import {record.id} changed state; try again")
    return {
        row: [_detail(e).as_dict() for e in sorted(new[row], key=lambda e: e.column or "")]
        for row in order
    }


def preview(context: AppContext, *, import_id: uuid.UUID, rows: int) -> dict[str, Any]:
    """The first rows of the file, source and mapped, with each mapped cell's errors."""
    with context.sessions() as session:
        record = get_import(session, import_id=import_id)
        info = schema_of(session, record)
        patches = _patches(session, import_id)
    detected = _detected(record)
    mapping = mapping_of(record)
    if mapping is None:
        mapping = _proposed(record)
    path = _path(context, record)
    first = sample(path, detected, rows=rows)
    raw = map_batch(first, info.schema, mapping or {}, patches)
    result = Validator(compile_schema(info.schema)).validate(raw, pre_errors=first.errors)
    errors: dict[int, list[CellError]] = defaultdict(list)
    for error in result.errors:
        errors[error.row].append(error)
    source = first.values.to_dicts()
    mapped = raw.values.to_dicts()
    out_rows = []
    for n, row in enumerate(first.row_numbers.to_list()):
        cell_errors: dict[str, list[dict[str, str]]] = defaultdict(list)
        row_errors = []
        for error in errors.get(row, []):
            item = {"rule": error.rule, "message": error.message}
            if error.column is None:
                row_errors.append(item)
            else:
                cell_errors[error.column].append(item)
        out_rows.append(
            {
                "row": row,
                "source": source[n],
                "values": mapped[n],
                "errors": dict(cell_errors),
                "row_errors": row_errors,
                "valid": row not in errors,
            }
        )
    return {
        "columns": columns_of(record) or [],
        "fields": info.schema.field_names,
        "mapping": mapping or {},
        "rows": out_rows,
    }


def _proposed(record: ImportRecord) -> dict[str, str]:
    proposal = json.loads(record.proposal or "{}").get("proposal") or {}
    return {
        match["field"]: match["column"]
        for match in proposal.get("fields", [])
        if match.get("column") is not None
    }


def failed_rows_csv(context: AppContext, *, import_id: uuid.UUID) -> Iterator[str]:
    """Every invalid row (patched), as CSV: the schema's fields, ``_row``, ``_error``."""
    with context.sessions() as session:
        record = get_import(session, import_id=import_id)
        info = schema_of(session, record)
        patches = _patches(session, import_id)
    schema = info.schema
    header = [*schema.field_names, "_row", "_error"]
    return csv_lines(header, _failed_rows(context, record, schema, patches))


def _failed_rows(
    context: AppContext, record: ImportRecord, schema: TableSchema, patches: Patches
) -> Iterator[list[Any]]:
    validator = _validator(context, record, schema, ErrorBudget())
    for raw, pre_errors, _ in _mapped_batches(context, record, schema, patches):
        result = validator.validate(raw, pre_errors=pre_errors)
        if not result.errors:
            continue
        by_row: dict[int, list[CellError]] = defaultdict(list)
        for error in result.errors:
            by_row[error.row].append(error)
        values = _rows_of(raw.values, raw.row_numbers, list(by_row))
        for row, row_errors in by_row.items():
            message = "; ".join(
                f"{e.column}: {e.message}" if e.column else e.message for e in row_errors
            )
            yield [*(values[row].get(name) for name in schema.field_names), row, message]
