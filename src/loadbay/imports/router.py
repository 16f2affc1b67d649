"""HTTP routes of imports. Thin: parse, call the service, shape the response."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from functools import partial
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from loadbay import cursors
from loadbay.api_errors import HTTPProblem, problem_response, problem_responses
from loadbay.context import AppContext, get_context, get_session
from loadbay.errors import ErrorDetail
from loadbay.idempotency import service as idempotency
from loadbay.imports import files, service
from loadbay.imports.cache import ImportVersion, ImportViewCache, views_of
from loadbay.imports.errors import StateConflict
from loadbay.imports.models import ImportError_, ImportRecord
from loadbay.imports.schemas import (
    Analysis,
    CellErrorOut,
    CommitIn,
    ErrorPage,
    FileImportIn,
    ImportCounts,
    ImportOut,
    ImportPage,
    MappingIn,
    MappingOut,
    Progress,
    RecordsImportIn,
    RowPage,
    RowsPatchIn,
    RowsPatchOut,
    SchemaRef,
    StoredRow,
)
from loadbay.imports.states import FINAL_STATES, ImportState
from loadbay.json_body import parse_json, read_body, validate_object
from loadbay.sources import service as sources
from loadbay.sources.schemas import SourceImportIn
from loadbay.spreadsheet import csv_lines

router = APIRouter(prefix="/api/imports", tags=["imports"])

IDEMPOTENCY_SCOPE = "POST /api/imports"
# Printable ASCII without spaces; long enough for UUIDs and client-made composite keys.
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
# Failures caused by the records themselves; any other failure is a conflict with the target.
_VALIDATION_FAILURES = {
    "validation-failed",
    "error-budget-exceeded",
    "unstorable-value",
    "destination-rejected",  # the HTTP destination refused records (on_error=abort)
}
# Failures of the schema's HTTP destination: its settings (422), or the endpoint (502).
_FAILURE_STATUS = {
    "outbound-refused": 422,
    "destination-secret-missing": 422,
    "destination-failed": 502,
}


def _component_schema(model: type[BaseModel]) -> dict[str, Any]:
    """A request model's JSON Schema, its nested models referring to the OpenAPI components
    (every one of them is also part of a response model, so it is there)."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    schema.pop("$defs", None)
    return schema


def _links(record: ImportRecord) -> dict[str, str]:
    base = f"/api/imports/{record.id}"
    links = {
        "self": base,
        "errors": f"{base}/errors",
        "errors_csv": f"{base}/errors?format=csv",
        "schema": f"/api/schemas/{record.schema_name}?version={record.schema_version}",
    }
    if record.source in files.FILE_SOURCES:
        if record.upload_id is not None:  # a URL or REST source has one once fetched
            links["upload"] = f"/api/uploads/{record.upload_id}"
        links |= {
            "preview": f"{base}/preview",
            "mapping": f"{base}/mapping",
            "rows": f"{base}/rows",
            "commit": f"{base}/commit",
            "cancel": f"{base}/cancel",
            "events": f"{base}/events",
        }
    if record.follow_up_of is not None:
        links["follow_up_of"] = f"/api/imports/{record.follow_up_of}"
    return links


def _error_out(error: ImportError_) -> CellErrorOut:
    return CellErrorOut(
        row=error.row,
        column=error.column,
        value=error.value,
        rule=error.rule,
        message=error.message,
    )


def _analysis(record: ImportRecord) -> Analysis | None:
    if record.detected is None:
        return None
    return Analysis.model_validate(json.loads(record.detected))


def _mapping_out(record: ImportRecord) -> MappingOut | None:
    if record.proposal is None:
        return None
    stored = json.loads(record.proposal)
    proposal = stored["proposal"]
    return MappingOut(
        proposal=proposal["fields"],
        unmapped_columns=proposal["unmapped_columns"],
        duplicate_columns=proposal["duplicate_columns"],
        missing_required=proposal["missing_required"],
        from_memory=proposal["from_memory"],
        problems=stored.get("mapping_problems", []),
    )


def _progress(record: ImportRecord) -> Progress | None:
    if record.source not in files.FILE_SOURCES:
        return None
    return Progress(
        fraction=record.progress,
        rows_per_second=record.rows_per_second,
        eta_seconds=record.eta_seconds,
        bytes_total=record.bytes_total,
        bytes_processed=record.bytes_processed,
        rows_estimate=record.rows_estimate,
    )


def _import_out(session: Session, record: ImportRecord, *, first_errors: int) -> ImportOut:
    errors = service.list_errors(session, import_id=record.id, limit=first_errors)
    failure = service.failure_of(record)
    file_import = record.source in files.FILE_SOURCES
    return ImportOut.model_validate(
        {
            "id": record.id,
            "state": record.state,
            "schema": SchemaRef(name=record.schema_name, version=record.schema_version),
            "table": record.table_name,
            "source": record.source,
            "mode": record.mode,
            "on_error": record.on_error,
            "counts": ImportCounts(
                rows_total=record.rows_total,
                rows_valid=record.rows_valid,
                rows_invalid=record.rows_invalid,
                rows_loaded=record.rows_loaded,
                errors_total=record.errors_total,
                errors_stored=record.errors_stored,
            ),
            "progress": record.progress,
            "progress_detail": _progress(record),
            "budget_exceeded": record.budget_exceeded,
            "upload_id": record.upload_id,
            "file_name": record.file_name,
            "follow_up_of": record.follow_up_of,
            "options": files.options_of(record) if file_import else None,
            "analysis": _analysis(record),
            "mapping": files.mapping_of(record),
            "mapping_proposal": _mapping_out(record),
            "cancel_requested": record.cancel_requested,
            "failure": failure,
            "first_errors": [_error_out(e) for e in errors],
            "created_at": record.created_at,
            "created_by": record.created_by,
            "updated_at": record.updated_at,
            "finished_at": record.finished_at,
            "links": _links(record),
            "source_detail": (
                sources.detail(session, record.id)
                if record.source in files.FETCHED_SOURCES
                else None
            ),
        }
    )


def _created_response(request: Request, context: AppContext, record: ImportRecord) -> JSONResponse:
    """201 for a completed import; a problem (422/409) carrying the import for a failed one."""
    with context.sessions() as session:
        view = _import_out(session, record, first_errors=context.settings.response_errors)
    body = view.model_dump(mode="json", by_alias=True)
    location = {"Location": view.links["self"]}
    if view.failure is None:
        return JSONResponse(body, status_code=201, headers=location)
    status = _FAILURE_STATUS.get(
        view.failure.type, 422 if view.failure.type in _VALIDATION_FAILURES else 409
    )
    return problem_response(
        request,
        status=status,
        slug=view.failure.type,
        title="Import failed",
        detail=view.failure.detail,
        errors=[
            ErrorDetail(message=e.message, row=e.row, column=e.column, value=e.value, rule=e.rule)
            for e in view.first_errors
        ],
        headers=location,
        extra={"import": body},
    )


@router.post(
    "",
    status_code=201,
    response_model=ImportOut,
    summary="Import inline JSON records (201), or a completed upload, a URL or a REST API "
    "(202, then jobs)",
    responses=problem_responses(
        {
            400: "Malformed JSON or Idempotency-Key",
            404: "Unknown schema",
            409: "Conflict with the target table, or a retry while the first request runs",
            413: "Body or record count over the limit",
            415: "Body is not JSON",
            422: "Invalid request, or invalid records (the problem carries the failed import)",
            502: "The schema's HTTP destination failed (the problem carries the failed import)",
        }
    ),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "oneOf": [
                            _component_schema(RecordsImportIn),
                            _component_schema(FileImportIn),
                            _component_schema(SourceImportIn),
                        ]
                    }
                }
            },
        },
        "parameters": [
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "schema": {"type": "string", "maxLength": 255},
                "description": "Retry-safe key: the same key and body return the stored response.",
            }
        ],
    },
)
async def create_import(
    request: Request, context: Annotated[AppContext, Depends(get_context)]
) -> Response:
    raw = await read_body(request)
    key = request.headers.get("idempotency-key")
    if key is not None:
        if not _IDEMPOTENCY_KEY.match(key):
            raise HTTPProblem(
                400,
                "invalid-idempotency-key",
                "Invalid Idempotency-Key",
                "Idempotency-Key must be 1-255 printable ASCII characters without spaces",
            )
        stored = await run_in_threadpool(
            idempotency.claim,
            context.sessions,
            scope=IDEMPOTENCY_SCOPE,
            key=key,
            request_fingerprint=idempotency.fingerprint(raw),
            ttl=dt.timedelta(seconds=context.settings.idempotency_ttl_seconds),
        )
        if stored is not None:
            return Response(
                stored.body,
                status_code=stored.status_code,
                headers=stored.headers | {"Idempotent-Replayed": "true"},
            )
    try:
        document = parse_json(raw)
        if isinstance(document, dict) and "upload_id" in document:
            response = await _create_file_import(request, context, document)
        elif isinstance(document, dict) and "source" in document:
            response = await _create_source_import(request, context, document)
        else:
            response = await _create_records_import(request, context, document)
    except BaseException:
        # No import came of it: let the client retry with the same key.
        if key is not None:
            await run_in_threadpool(
                idempotency.release, context.sessions, scope=IDEMPOTENCY_SCOPE, key=key
            )
        raise
    if key is not None:
        headers = {
            "Location": response.headers["location"],
            "Content-Type": response.media_type or "",
        }
        await run_in_threadpool(
            idempotency.store,
            context.sessions,
            scope=IDEMPOTENCY_SCOPE,
            key=key,
            response=idempotency.StoredResponse(
                response.status_code, bytes(response.body), headers
            ),
        )
    return response


async def _create_file_import(request: Request, context: AppContext, document: Any) -> Response:
    body = validate_object(document, FileImportIn)
    command = files.FileImport(
        created_by=_actor(request),
        upload_id=body.upload_id,
        schema=body.schema_name,
        schema_version=body.schema_version,
        mapping=body.mapping,
        options=body.options,
        follow_up_of=body.follow_up_of,
    )
    store = request.app.state.upload_store
    record = await run_in_threadpool(
        files.create_file_import, context, store=store, command=command
    )
    return await run_in_threadpool(_view_response, context, record, 202)


async def _create_source_import(request: Request, context: AppContext, document: Any) -> Response:
    body = validate_object(document, SourceImportIn)
    command = sources.SourceImport(
        created_by=_actor(request),
        source=body.source,
        schema=body.schema_name,
        schema_version=body.schema_version,
        mapping=body.mapping,
        options=body.options,
    )
    record = await run_in_threadpool(sources.create_source_import, context, command=command)
    return await run_in_threadpool(_view_response, context, record, 202)


def _actor(request: Request) -> str | None:
    """Who makes this request, as the auth middleware found it (security.actors)."""
    actor: str | None = getattr(request.state, "actor", None)
    return actor


def _view_response(context: AppContext, record: ImportRecord, status: int) -> JSONResponse:
    with context.sessions() as session:
        view = _import_out(session, record, first_errors=context.settings.response_errors)
    return JSONResponse(
        view.model_dump(mode="json", by_alias=True),
        status_code=status,
        headers={"Location": view.links["self"]},
    )


async def _create_records_import(request: Request, context: AppContext, document: Any) -> Response:
    body = validate_object(document, RecordsImportIn)
    # Imported here, not at the top: it loads the data path (polars and the validation
    # engine), which a process serving only reads and uploads never needs in memory.
    from loadbay.imports import records

    command = records.RecordsImport(
        created_by=_actor(request),
        schema=body.schema_name,
        schema_version=body.schema_version,
        records=body.records,
        mode=body.mode,
        on_error=body.on_error,
        max_errors=body.max_errors,
        max_error_ratio=body.max_error_ratio,
    )
    record = await run_in_threadpool(records.create_records_import, context, command=command)
    return await run_in_threadpool(_created_response, request, context, record)


@router.get(
    "",
    response_model=ImportPage,
    summary="List imports, newest first",
    responses=problem_responses({400: "The cursor is not one this API returned."}),
)
def list_imports(
    context: Annotated[AppContext, Depends(get_context)],
    session: Annotated[Session, Depends(get_session)],
    state: ImportState | None = None,
    schema: Annotated[str | None, Query(max_length=63)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: str | None = None,
) -> ImportPage:
    before = cursors.decode(cursor) if cursor else None
    records = service.list_imports(
        session, limit=limit + 1, state=state, schema=schema, before=before
    )
    page, more = records[:limit], len(records) > limit
    next_cursor = cursors.encode(page[-1].created_at, page[-1].id) if more else None
    links = {"self": "/api/imports"}
    if next_cursor:
        query = f"limit={limit}&cursor={next_cursor}"
        query += f"&state={state.value}" if state else ""
        query += f"&schema={schema}" if schema else ""
        links["next"] = f"/api/imports?{query}"
    first = context.settings.response_errors
    return ImportPage(
        items=[_import_out(session, r, first_errors=first) for r in page],
        next_cursor=next_cursor,
        links=links,
    )


@router.get(
    "/{import_id}",
    response_model=ImportOut,
    summary="An import: state, counts, first errors",
    responses=problem_responses({404: "Unknown import"}),
)
async def get_import(import_id: uuid.UUID, request: Request) -> Response:
    # Async, with no dependencies: FastAPI runs sync dependencies in the thread pool, and
    # this hot read (pages poll it) should cost at most one hop, and none when the view is
    # cached and the store can be read on the loop (LoopReads).
    context = get_context(request)
    cache = views_of(request.app)
    version = _version_on_loop(context, import_id)
    body = cache.get_local(import_id, version) if version is not None else None
    if body is None:
        body = await run_in_threadpool(_import_view, context, cache, import_id, version)
    return Response(body, media_type="application/json")


def _import_view(
    context: AppContext,
    cache: ImportViewCache,
    import_id: uuid.UUID,
    version: ImportVersion | None = None,
) -> bytes:
    """The import's JSON view: from the cache when the database still holds its version
    (``version``, when the caller has just read it)."""
    if version is None:
        version = _stored_version(context, import_id)
    cached = cache.get(import_id, version)
    if cached is not None:
        return cached
    with context.sessions() as session:
        record = service.get_import(session, import_id=import_id)
        view = _import_out(session, record, first_errors=context.settings.response_errors)
        # Tagged with the version of the row the view was built from, not the one checked
        # above: a write in between must make the next read rebuild.
        version = service.version_of(record)
    body = view.model_dump_json(by_alias=True).encode()
    cache.put(import_id, version, body)
    return body


@router.get(
    "/{import_id}/errors",
    response_model=ErrorPage,
    summary="The stored cell errors of an import as JSON pages; as CSV, a file import's "
    "failed rows (fields, _row, _error) or an inline import's errors",
    responses={
        200: {"content": {"text/csv": {"schema": {"type": "string"}}}},
        **problem_responses({404: "Unknown import"}),
    },
)
def get_errors(
    import_id: uuid.UUID,
    request: Request,
    context: Annotated[AppContext, Depends(get_context)],
    session: Annotated[Session, Depends(get_session)],
    format: Literal["json", "csv"] | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[int, Query(ge=0)] = 0,
) -> Any:
    record = service.get_import(session, import_id=import_id)
    wants_csv = format == "csv" or (
        format is None and "text/csv" in request.headers.get("accept", "")
    )
    if wants_csv and record.source in files.FILE_SOURCES:
        if record.mapping is None:
            raise StateConflict(f"import {import_id} has no mapping yet: no row was validated")
        return StreamingResponse(
            files.failed_rows(context, import_id=import_id),
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="import-{import_id}-failed-rows.csv"'
            },
        )
    if wants_csv:
        return StreamingResponse(
            _errors_csv(context, import_id),
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="import-{import_id}-errors.csv"'
            },
        )
    errors = service.list_errors(session, import_id=import_id, limit=limit + 1, after=cursor)
    page, more = errors[:limit], len(errors) > limit
    next_cursor = str(page[-1].id) if more else None
    links = {
        "self": f"/api/imports/{import_id}/errors",
        "csv": f"/api/imports/{import_id}/errors?format=csv",
    }
    if next_cursor:
        links["next"] = f"/api/imports/{import_id}/errors?limit={limit}&cursor={next_cursor}"
    return ErrorPage(
        items=[_error_out(e) for e in page],
        errors_total=record.errors_total,
        errors_stored=record.errors_stored,
        next_cursor=next_cursor,
        links=links,
    )


def _errors_csv(context: AppContext, import_id: uuid.UUID) -> Iterator[str]:
    with context.sessions() as session:
        rows = (
            (e.row, e.column, e.value, e.rule, e.message)
            for e in service.iter_errors(session, import_id=import_id)
        )
        yield from csv_lines(["row", "column", "value", "rule", "message"], rows)


# --- file imports: mapping, preview, rows, commit, cancel, events ---------------------------


def _file_import_view(context: AppContext, record: ImportRecord) -> ImportOut:
    with context.sessions() as session:
        return _import_out(session, record, first_errors=context.settings.response_errors)


@router.put(
    "/{import_id}/mapping",
    response_model=ImportOut,
    summary="Confirm the column mapping of a file import; validation starts",
    responses=problem_responses(
        {
            400: "The body is not valid JSON",
            404: "Unknown import",
            409: "The import is not awaiting a mapping (nor validated)",
            422: "The mapping does not fit the schema and the file (errors[] says where)",
        }
    ),
)
def put_mapping(
    import_id: uuid.UUID, body: MappingIn, context: Annotated[AppContext, Depends(get_context)]
) -> ImportOut:
    record = files.set_mapping(
        context, import_id=import_id, mapping=body.mapping, remember=body.remember
    )
    return _file_import_view(context, record)


@router.get(
    "/{import_id}/preview",
    summary="The first rows of the file, source and mapped, with per-cell error flags",
    responses=problem_responses({404: "Unknown import", 409: "Not analysed yet"}),
)
def get_preview(
    import_id: uuid.UUID,
    context: Annotated[AppContext, Depends(get_context)],
    rows: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> dict[str, Any]:
    return files.preview(context, import_id=import_id, rows=rows)


@router.get(
    "/{import_id}/rows",
    response_model=RowPage,
    summary="The stored invalid rows of a file import, each with its errors (for fixing)",
    responses=problem_responses({404: "Unknown import"}),
)
def get_rows(
    import_id: uuid.UUID,
    session: Annotated[Session, Depends(get_session)],
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[int, Query(ge=0)] = 0,
) -> RowPage:
    record = service.get_import(session, import_id=import_id)
    found = service.list_rows(session, import_id=import_id, limit=limit + 1, after=cursor)
    page, more = found[:limit], len(found) > limit
    next_cursor = str(page[-1][0].row) if more else None
    links = {"self": f"/api/imports/{import_id}/rows"}
    if next_cursor:
        links["next"] = f"/api/imports/{import_id}/rows?limit={limit}&cursor={next_cursor}"
    return RowPage(
        items=[
            StoredRow(
                row=row.row, values=json.loads(row.values), errors=[_error_out(e) for e in errs]
            )
            for row, errs in page
        ],
        rows_invalid=record.rows_invalid,
        next_cursor=next_cursor,
        links=links,
    )


@router.patch(
    "/{import_id}/rows",
    response_model=RowsPatchOut,
    summary="Edit cells of a validated file import; the edited rows are validated again",
    responses=problem_responses(
        {
            400: "The body is not valid JSON",
            404: "Unknown import",
            409: "The import is not validated",
            422: "An edit names an unknown field or row",
        }
    ),
)
def patch_rows(
    import_id: uuid.UUID, body: RowsPatchIn, context: Annotated[AppContext, Depends(get_context)]
) -> RowsPatchOut:
    edits = [files.CellEdit(row=e.row, field=e.field, value=e.value) for e in body.edits]
    rows = files.patch_rows(context, import_id=import_id, edits=edits)
    record = files.get(context, import_id=import_id)
    return RowsPatchOut.model_validate(
        {
            "rows": {str(row): errors for row, errors in rows.items()},
            "import": _file_import_view(context, record),
        }
    )


@router.post(
    "/{import_id}/commit",
    status_code=202,
    response_model=ImportOut,
    summary="Load a validated file import into its table (a job; follow it with /events)",
    responses=problem_responses(
        {
            400: "The body is not valid JSON",
            404: "Unknown import",
            409: "The import is not validated",
            422: "Rows are invalid and on_error is abort, or upsert without a primary key",
        }
    ),
)
def post_commit(
    import_id: uuid.UUID, body: CommitIn, context: Annotated[AppContext, Depends(get_context)]
) -> ImportOut:
    record = files.request_commit(
        context, import_id=import_id, mode=body.mode, on_error=body.on_error
    )
    return _file_import_view(context, record)


@router.post(
    "/{import_id}/cancel",
    status_code=202,
    response_model=ImportOut,
    summary="Cancel an import; a running job stops at its next batch",
    responses=problem_responses({404: "Unknown import", 409: "The import has ended already"}),
)
def post_cancel(
    import_id: uuid.UUID, context: Annotated[AppContext, Depends(get_context)]
) -> ImportOut:
    return _file_import_view(context, files.cancel(context, import_id=import_id))


@router.get(
    "/{import_id}/events",
    summary="Server-Sent Events: the import's view at each state change and progress write",
    responses={
        200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}},
        **problem_responses({404: "Unknown import"}),
    },
)
async def get_events(import_id: uuid.UUID, request: Request) -> Response:
    context = get_context(request)
    cache = views_of(request.app)
    await _current_version(context, import_id)  # 404 before streaming
    return StreamingResponse(
        _events(request, context, cache, import_id),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


# Comment lines keep proxies from closing an idle stream.
_KEEPALIVE_SECONDS = 15.0


async def _current_version(context: AppContext, import_id: uuid.UUID) -> ImportVersion:
    version = _version_on_loop(context, import_id)
    if version is None:
        version = await run_in_threadpool(_stored_version, context, import_id)
    return version


def _version_on_loop(context: AppContext, import_id: uuid.UUID) -> ImportVersion | None:
    """The import's version read without leaving the loop, or None where it cannot be."""
    return context.loop_reads.run(partial(service.import_version, import_id=import_id))


def _stored_version(context: AppContext, import_id: uuid.UUID) -> ImportVersion:
    with context.engine.connect() as connection:
        return service.import_version(connection, import_id=import_id)


async def _events(
    request: Request, context: AppContext, cache: ImportViewCache, import_id: uuid.UUID
) -> AsyncIterator[str]:
    """One event per new version of the import (``state`` when its state changed, else
    ``progress``), each carrying the whole view; the stream ends after a final state."""
    interval = context.settings.events_poll_interval
    yield "retry: 2000\n\n"
    last: Any = None
    quiet = 0.0
    while not await request.is_disconnected():
        version = await _current_version(context, import_id)
        if version != last:
            body = await run_in_threadpool(_import_view, context, cache, import_id, version)
            kind = "state" if last is None or version.state != last.state else "progress"
            stamp = version.updated_at.isoformat()
            yield f"id: {stamp}\nevent: {kind}\ndata: {body.decode()}\n\n"
            last, quiet = version, 0.0
            if version.state in FINAL_STATES:
                return
        elif quiet >= _KEEPALIVE_SECONDS:
            yield ": keep-alive\n\n"
            quiet = 0.0
        await asyncio.sleep(interval)
        quiet += interval
