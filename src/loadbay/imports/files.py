"""File imports: the service functions the API, the page and the CLI call.

An import of a completed upload moves through jobs (``pipeline.py``): analyse, then, once a
mapping is known, validate, then commit when asked (or at once with ``auto_commit``). These
functions only check the request, change the state and queue the next job in one
transaction; the work happens in the job. They load no polars, except ``preview`` and
``failed_rows`` which read the file.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from loadbay.context import AppContext
from loadbay.db import transaction
from loadbay.destinations.errors import UpsertRequiresPrimaryKey
from loadbay.errors import ErrorDetail, InvalidInput
from loadbay.imports.errors import ImportNotFound, StateConflict
from loadbay.imports.models import ImportPatch, ImportRecord
from loadbay.imports.options import ImportOptions, Mode, OnError
from loadbay.imports.service import get_import, schema_of, transition, update
from loadbay.imports.states import FINAL_STATES, ImportState
from loadbay.schemas.mapping import InvalidMapping, remember_mapping, validate_mapping
from loadbay.schemas.service import SchemaInfo, get_schema
from loadbay.uploads import service as uploads
from loadbay.uploads.store import UploadStore

# Job kinds (the functions are in pipeline.py, registered by jobs.py).
ANALYSE = "import.analyse"
VALIDATE = "import.validate"
COMMIT = "import.commit"

# Sources fetched by a job into an upload first (sources/); then they are file imports.
FETCHED_SOURCES = frozenset({"url", "rest"})
# Sources of imports that go through a file (analyse, map, validate, commit jobs); the
# other source, "records", is inline JSON imported in the request.
FILE_SOURCES = FETCHED_SOURCES | {"upload"}

_RESTING = (ImportState.AWAITING_MAPPING, ImportState.VALIDATED)


@dataclass(frozen=True, slots=True)
class FileImport:
    upload_id: uuid.UUID
    schema: str
    schema_version: int | None = None
    mapping: dict[str, str] | None = None
    options: ImportOptions = field(default_factory=ImportOptions)
    follow_up_of: uuid.UUID | None = None
    created_by: str | None = None  # who asked: security.actors


def options_of(record: ImportRecord) -> ImportOptions:
    return ImportOptions.model_validate_json(record.options or "{}")


def mapping_of(record: ImportRecord) -> dict[str, str] | None:
    return None if record.mapping is None else dict(json.loads(record.mapping))


def columns_of(record: ImportRecord) -> list[str] | None:
    if record.detected is None:
        return None
    return list(json.loads(record.detected)["columns"])


def check_request(
    session: Session,
    *,
    schema: str,
    schema_version: int | None,
    mapping: dict[str, str] | None,
    options: ImportOptions,
    follow_up_of: uuid.UUID | None = None,
) -> SchemaInfo:
    """The schema a file import (of an upload, or of a URL or REST source) will use, once
    its request is known to fit it."""
    info = get_schema(session, name=schema, version=schema_version)
    if options.mode == "upsert" and not info.schema.primary_key:
        raise UpsertRequiresPrimaryKey(info.name)
    if follow_up_of is not None:
        get_import(session, import_id=follow_up_of)
    if mapping is not None:
        unknown = [f for f in mapping if f not in info.schema.field_names]
        if unknown:
            raise InvalidMapping(
                f"the mapping names {len(unknown)} field(s) schema {info.name!r} lacks",
                errors=[
                    ErrorDetail(path=f"$.mapping.{f}", message="not a field of the schema")
                    for f in unknown
                ],
            )
    return info


def create_file_import(
    context: AppContext, *, store: UploadStore, command: FileImport
) -> ImportRecord:
    """Create the import of a completed upload and queue its analysis."""
    uploads.completed_path(context, store, upload_id=command.upload_id)  # complete, not corrupt
    upload = uploads.get_upload(context, upload_id=command.upload_id)
    with transaction(context.sessions) as session:
        info = check_request(
            session,
            schema=command.schema,
            schema_version=command.schema_version,
            mapping=command.mapping,
            options=command.options,
            follow_up_of=command.follow_up_of,
        )
        record = ImportRecord(
            id=uuid.uuid4(),
            schema_name=info.name,
            schema_version=info.version,
            table_name=info.schema.table_name,
            source="upload",
            state=ImportState.CREATED,
            mode=command.options.mode,
            on_error=command.options.on_error,
            upload_id=upload.id,
            file_name=upload.filename,
            follow_up_of=command.follow_up_of,
            options=command.options.model_dump_json(),
            mapping=None if command.mapping is None else json.dumps(command.mapping),
            bytes_total=upload.length or upload.offset,
            created_by=command.created_by,
        )
        session.add(record)
        session.flush()
        context.enqueue(session, kind=ANALYSE, subject_id=record.id)
    return _reload(context, record.id)


def set_mapping(
    context: AppContext, *, import_id: uuid.UUID, mapping: dict[str, str], remember: bool
) -> ImportRecord:
    """Confirm the column mapping ``{field: column}`` and queue validation.

    Allowed while the import awaits a mapping, and again once validated (a new mapping
    validates again from the start)."""
    with transaction(context.sessions) as session:
        record = get_import(session, import_id=import_id)
        state = ImportState(record.state)
        if state not in _RESTING:
            raise StateConflict(
                f"import {import_id} is {state.value}; a mapping can be set while it is "
                "awaiting_mapping or validated"
            )
        info = schema_of(session, record)
        headers = columns_of(record) or []
        problems = validate_mapping(info.schema, headers, mapping)
        if problems:
            raise InvalidMapping(
                f"the mapping does not fit schema {info.name!r} and this file "
                f"({len(problems)} problem{'s' if len(problems) != 1 else ''})",
                errors=problems,
            )
        if remember:
            remember_mapping(session, schema=info.schema, headers=headers, mapping=mapping)
        transition(
            session,
            import_id,
            state,
            ImportState.VALIDATING,
            mapping=json.dumps(mapping),
            progress=0.0,
            failure=None,
        )
        context.enqueue(session, kind=VALIDATE, subject_id=import_id)
    return _reload(context, import_id)


def request_commit(
    context: AppContext, *, import_id: uuid.UUID, mode: Mode, on_error: OnError
) -> ImportRecord:
    """Queue the commit of a validated import."""
    with transaction(context.sessions) as session:
        record = get_import(session, import_id=import_id)
        if record.source not in FILE_SOURCES:
            raise StateConflict(f"import {import_id} imported inline records; it is committed")
        if record.state != ImportState.VALIDATED:
            raise StateConflict(
                f"import {import_id} is {record.state}; only a validated import can be committed"
            )
        info = schema_of(session, record)
        if mode == "upsert" and not info.schema.primary_key:
            raise UpsertRequiresPrimaryKey(info.name)
        # Validation judged keys for its mode (in insert mode a key already in the table is
        # an error); under another mode the commit's own validation decides.
        if on_error == "abort" and record.rows_invalid and mode == record.mode:
            raise InvalidInput(
                f"{record.rows_invalid} row(s) are invalid: fix them (PATCH …/rows), or commit "
                "with on_error=skip to load the valid rows only",
                rows_invalid=record.rows_invalid,
            )
        begin_commit(context, session, record, mode=mode, on_error=on_error)
    return _reload(context, import_id)


def begin_commit(
    context: AppContext,
    session: Session,
    record: ImportRecord,
    *,
    mode: str,
    on_error: str,
    queue: bool = True,
) -> None:
    """validated -> committing, with the commit job queued in the same transaction (unless
    the caller, the validate job loading as it validates, commits itself)."""
    transition(
        session,
        record.id,
        ImportState.VALIDATED,
        ImportState.COMMITTING,
        mode=mode,
        on_error=on_error,
        progress=0.0,
        bytes_processed=0,
        rows_per_second=None,
        eta_seconds=None,
    )
    if queue:
        context.enqueue(session, kind=COMMIT, subject_id=record.id)


def cancel(context: AppContext, *, import_id: uuid.UUID) -> ImportRecord:
    """Cancel an import. One at rest ends at once; one whose job runs is flagged and ends at
    the job's next batch (a commit then rolls back: the table is unchanged). An import that
    has ended cannot be cancelled."""
    # Two tries: the import may move on between reading its state and changing it (its
    # analysis starting, say); the second read sees where it went.
    for _ in range(2):
        with transaction(context.sessions) as session:
            record = get_import(session, import_id=import_id)
            state = ImportState(record.state)
            if state in FINAL_STATES:
                raise StateConflict(f"import {import_id} is {state.value} already")
            if state in (*_RESTING, ImportState.CREATED):
                # At rest, or not analysed yet (its job then finds nothing to do): end now.
                try:
                    transition(session, import_id, state, ImportState.CANCELLED, eta_seconds=None)
                    ended = True
                except StateConflict:
                    ended = False
            else:
                ended = update(session, import_id, state, cancel_requested=True)
        if ended:
            return _reload(context, import_id)
    raise StateConflict(f"import {import_id} keeps changing state; try again")


@dataclass(frozen=True, slots=True)
class CellEdit:
    row: int
    field: str
    value: str | None


def patch_rows(
    context: AppContext, *, import_id: uuid.UUID, edits: Sequence[CellEdit]
) -> dict[int, list[Any]]:
    """Store cell edits and re-validate the edited rows at once; returns the edited rows'
    errors now (an empty list: the row is valid). Allowed while the import is validated."""
    with transaction(context.sessions) as session:
        record = get_import(session, import_id=import_id)
        if record.source not in FILE_SOURCES:
            raise StateConflict(f"import {import_id} imported inline records; nothing to patch")
        if record.state != ImportState.VALIDATED:
            raise StateConflict(
                f"import {import_id} is {record.state}; cells can be edited once it is validated"
            )
        info = schema_of(session, record)
        problems = [
            ErrorDetail(path=f"$.edits[{n}].field", message=f"{e.field!r} is not a schema field")
            for n, e in enumerate(edits)
            if e.field not in info.schema.field_names
        ]
        problems += [
            ErrorDetail(path=f"$.edits[{n}].row", message=f"row {e.row} is not in the file")
            for n, e in enumerate(edits)
            if e.row > record.rows_total
        ]
        if problems:
            raise InvalidInput(f"{len(problems)} edit(s) cannot apply", errors=problems)
        for edit in edits:
            session.execute(
                sa.delete(ImportPatch).where(
                    ImportPatch.import_id == import_id,
                    ImportPatch.row == edit.row,
                    ImportPatch.field == edit.field,
                )
            )
            session.add(
                ImportPatch(import_id=import_id, row=edit.row, field=edit.field, value=edit.value)
            )
        session.flush()
        from loadbay.imports import pipeline  # the data path, loaded on first use

        return pipeline.revalidate_rows(
            context, session, record, info.schema, sorted({e.row for e in edits})
        )


def preview(context: AppContext, *, import_id: uuid.UUID, rows: int) -> dict[str, Any]:
    """The first ``rows`` rows as the schema sees them (mapping and patches applied), each
    cell with its errors."""
    from loadbay.imports import pipeline

    return pipeline.preview(context, import_id=import_id, rows=rows)


def failed_rows(context: AppContext, *, import_id: uuid.UUID) -> Iterator[str]:
    """CSV lines of every invalid row (schema fields, then ``_row`` and ``_error``), read from
    the file again so the list is complete whatever the stored-error cap."""
    from loadbay.imports import pipeline

    return pipeline.failed_rows_csv(context, import_id=import_id)


def _reload(context: AppContext, import_id: uuid.UUID) -> ImportRecord:
    with context.sessions() as session:
        record = session.get(ImportRecord, import_id)
        if record is None:
            raise ImportNotFound(f"no import with id {import_id}")
        return record


def get(context: AppContext, *, import_id: uuid.UUID) -> ImportRecord:
    return _reload(context, import_id)
