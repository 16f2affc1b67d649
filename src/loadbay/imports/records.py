"""Inline JSON imports (``POST /api/imports`` with ``records``), run synchronously.

Validate every record, store the errors, then load through the SQL destination
all-or-nothing, or deliver to the schema's HTTP destination (``imports.delivery``), or
both. This module pulls in the data path (polars, the validation engine, the
destinations); the API imports it on first use, so a process that only serves reads and
uploads does not carry polars in memory.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import polars as pl

from loadbay.context import AppContext
from loadbay.db import transaction
from loadbay.destinations.errors import (
    LoadConflict,
    TableMismatch,
    UnstorableValue,
    UpsertRequiresPrimaryKey,
)
from loadbay.destinations.sql import SqlDestination
from loadbay.imports.delivery import deliver
from loadbay.imports.errors import TooManyRecords
from loadbay.imports.models import ImportRecord
from loadbay.imports.service import (
    fail_import,
    failure_json,
    get_import,
    store_errors,
    transition,
)
from loadbay.imports.states import ImportState
from loadbay.observability.metrics import count_imported_rows
from loadbay.schemas.model import TableSchema
from loadbay.schemas.service import get_schema
from loadbay.validation import CellError, ErrorBudget, Validator, batch_from_records, compile_schema

Mode = Literal["insert", "upsert", "replace"]
OnError = Literal["abort", "skip"]

# Records validated per batch: the engine's fixed cost per batch is amortised from about
# 100,000 rows on (see docs/benchmarks.md); the request body is in memory anyway.
BATCH_ROWS = 100_000


@dataclass(frozen=True, slots=True)
class RecordsImport:
    """A request to import inline JSON records."""

    schema: str
    records: Sequence[Any]
    schema_version: int | None = None
    mode: Mode = "insert"
    on_error: OnError = "abort"
    max_errors: int | None = None
    max_error_ratio: float | None = None
    created_by: str | None = None  # who asked: security.actors


@dataclass(slots=True)
class _Validated:
    valid: list[pl.DataFrame]
    errors: list[CellError]
    rows_valid: int = 0
    rows_invalid: int = 0
    errors_total: int = 0
    budget_exceeded: bool = False


def create_records_import(context: AppContext, *, command: RecordsImport) -> ImportRecord:
    """Validate and load ``command.records``; the returned import is completed or failed."""
    settings = context.settings
    if len(command.records) > settings.max_records:
        raise TooManyRecords(
            f"{len(command.records)} records in one request; the limit is "
            f"{settings.max_records} (LOADBAY_MAX_RECORDS)",
            limit=settings.max_records,
        )
    with transaction(context.sessions) as session:
        info = get_schema(session, name=command.schema, version=command.schema_version)
        if command.mode == "upsert" and not info.schema.primary_key:
            raise UpsertRequiresPrimaryKey(info.name)
        record = ImportRecord(
            id=uuid.uuid4(),
            schema_name=info.name,
            schema_version=info.version,
            table_name=info.schema.table_name,
            source="records",
            state=ImportState.VALIDATING,
            mode=command.mode,
            on_error=command.on_error,
            rows_total=len(command.records),
            created_by=command.created_by,
        )
        session.add(record)
    destination = SqlDestination(
        context.target_engine, bulk_load_empty=context.settings.bulk_loads()
    )
    state = ImportState.VALIDATING
    try:
        budget = ErrorBudget(
            max_errors=command.max_errors,
            max_error_ratio=command.max_error_ratio,
        )
        if budget.max_errors is None and budget.max_error_ratio is None:
            budget = ErrorBudget(settings.max_errors, settings.max_error_ratio)
        validated = _validate(info.schema, command, destination, budget)
        failure = _validationfailure_json(validated, command)
        with transaction(context.sessions) as session:
            store_errors(session, record.id, validated.errors, settings.max_stored_errors)
            transition(
                session,
                record.id,
                state,
                ImportState.FAILED if failure else ImportState.COMMITTING,
                rows_valid=validated.rows_valid,
                rows_invalid=validated.rows_invalid,
                errors_total=validated.errors_total,
                errors_stored=min(len(validated.errors), settings.max_stored_errors),
                budget_exceeded=validated.budget_exceeded,
                progress=1.0 if failure else 0.5,
                failure=failure,
            )
        if failure:
            count_imported_rows(invalid=validated.rows_invalid, rejected=validated.rows_valid)
            return _reload(context, record.id)
        state = ImportState.COMMITTING
        loaded = 0
        if info.schema.writes_table:
            loaded = destination.load(
                info.schema, iter(validated.valid), import_id=record.id, mode=command.mode
            )
        if info.schema.x_loadbay.destination is not None:
            delivered = deliver(
                context,
                import_id=record.id,
                schema=info.schema,
                batches=validated.valid,
                on_error=command.on_error,
                state=state,
            )
            if delivered.ended:
                return _reload(context, record.id)
            # Records the endpoint rejected are invalid rows now, like the validator's.
            loaded = delivered.accepted
            validated.rows_valid -= delivered.rejected
            validated.rows_invalid += delivered.rejected
    except (LoadConflict, TableMismatch, UnstorableValue) as exc:
        # The target refused the rows and is unchanged; keep the rows it named as errors.
        fail_import(context, record.id, state, exc.slug, exc.detail, errors=exc.errors)
        return _reload(context, record.id)
    except BaseException:
        # Nothing was loaded (the destination rolled back), and the import must not stay
        # in a working state forever. The error propagates: it is a bug or an outage.
        fail_import(context, record.id, state, "internal-error", "the import failed unexpectedly")
        raise
    with transaction(context.sessions) as session:
        transition(
            session,
            record.id,
            state,
            ImportState.COMPLETED,
            rows_loaded=loaded,
            rows_valid=validated.rows_valid,
            rows_invalid=validated.rows_invalid,
            progress=1.0,
        )
    count_imported_rows(loaded=loaded, invalid=validated.rows_invalid)
    return _reload(context, record.id)


def _reload(context: AppContext, import_id: uuid.UUID) -> ImportRecord:
    with context.sessions() as session:
        return get_import(session, import_id=import_id)


def _validate(
    schema: TableSchema, command: RecordsImport, destination: SqlDestination, budget: ErrorBudget
) -> _Validated:
    # In insert mode a key already in the target table is an error now, not a failed load later.
    existing = None
    if command.mode == "insert" and schema.writes_table:

        def existing(keys: pl.DataFrame) -> pl.Series:
            return destination.existing_keys(schema, keys)

    validator = Validator(compile_schema(schema), budget=budget, existing_keys=existing)
    out = _Validated(valid=[], errors=[])
    for start in range(0, len(command.records), BATCH_ROWS):
        chunk = command.records[start : start + BATCH_ROWS]
        batch, pre_errors = batch_from_records(chunk, schema, first_row=start + 1)
        result = validator.validate(batch, pre_errors=pre_errors)
        out.valid.append(result.valid)
        out.errors.extend(result.errors)
        if result.budget_exceeded:
            break
    else:
        validator.finish()  # the ratio budget over the whole input, however small
    out.rows_valid = validator.rows_valid
    out.rows_invalid = validator.rows_invalid
    out.errors_total = validator.errors_total
    out.budget_exceeded = validator.budget_exceeded
    return out


def _validationfailure_json(validated: _Validated, command: RecordsImport) -> str | None:
    if validated.budget_exceeded:
        return failure_json(
            "error-budget-exceeded",
            f"validation stopped after {validated.errors_total} error(s) in "
            f"{validated.rows_valid + validated.rows_invalid} record(s): the error budget "
            "was exceeded; nothing was loaded",
        )
    if validated.rows_invalid and command.on_error == "abort":
        return failure_json(
            "validation-failed",
            f"{validated.rows_invalid} of {len(command.records)} record(s) are invalid "
            f"({validated.errors_total} error(s)); nothing was loaded (on_error=abort)",
        )
    return None
