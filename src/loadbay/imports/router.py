"""HTTP routes of imports. Thin: parse, call the service, shape the response."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re
import uuid
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from loadbay.api_errors import HTTPProblem, problem_response, problem_responses
from loadbay.context import AppContext, get_context, get_session
from loadbay.errors import ErrorDetail
from loadbay.idempotency import service as idempotency
from loadbay.imports import service
from loadbay.imports.cache import ImportViewCache, views_of
from loadbay.imports.models import ImportError_, ImportRecord
from loadbay.imports.schemas import (
    CellErrorOut,
    ErrorPage,
    ImportCounts,
    ImportOut,
    ImportPage,
    RecordsImportIn,
    SchemaRef,
)
from loadbay.imports.states import ImportState
from loadbay.json_body import parse_json, read_body, validate_object
from loadbay.spreadsheet import csv_lines

router = APIRouter(prefix="/api/imports", tags=["imports"])

IDEMPOTENCY_SCOPE = "POST /api/imports"
# Printable ASCII without spaces; long enough for UUIDs and client-made composite keys.
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
# Failures caused by the records themselves; any other failure is a conflict with the target.
_VALIDATION_FAILURES = {"validation-failed", "error-budget-exceeded", "unstorable-value"}


def _links(record: ImportRecord) -> dict[str, str]:
    base = f"/api/imports/{record.id}"
    return {
        "self": base,
        "errors": f"{base}/errors",
        "errors_csv": f"{base}/errors?format=csv",
        "schema": f"/api/schemas/{record.schema_name}?version={record.schema_version}",
    }


def _error_out(error: ImportError_) -> CellErrorOut:
    return CellErrorOut(
        row=error.row,
        column=error.column,
        value=error.value,
        rule=error.rule,
        message=error.message,
    )


def _import_out(session: Session, record: ImportRecord, *, first_errors: int) -> ImportOut:
    errors = service.list_errors(session, import_id=record.id, limit=first_errors)
    failure = service.failure_of(record)
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
            "budget_exceeded": record.budget_exceeded,
            "failure": failure,
            "first_errors": [_error_out(e) for e in errors],
            "created_at": record.created_at,
            "updated_at": record.updated_at,
            "finished_at": record.finished_at,
            "links": _links(record),
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
    status = 422 if view.failure.type in _VALIDATION_FAILURES else 409
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
    summary="Import inline JSON records",
    responses=problem_responses(
        {
            400: "Malformed JSON or Idempotency-Key",
            404: "Unknown schema",
            409: "Conflict with the target table, or a retry while the first request runs",
            413: "Body or record count over the limit",
            415: "Body is not JSON",
            422: "Invalid request, or invalid records (the problem carries the failed import)",
        }
    ),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/RecordsImportIn"}}
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
    raw = await read_body(request, max_bytes=context.settings.max_body_bytes)
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
        body = validate_object(parse_json(raw), RecordsImportIn)
        # Imported here, not at the top: it loads the data path (polars and the validation
        # engine), which a process serving only reads and uploads never needs in memory.
        from loadbay.imports import records

        command = records.RecordsImport(
            schema=body.schema_name,
            schema_version=body.schema_version,
            records=body.records,
            mode=body.mode,
            on_error=body.on_error,
            max_errors=body.max_errors,
            max_error_ratio=body.max_error_ratio,
        )
        record = await run_in_threadpool(records.create_records_import, context, command=command)
        response = await run_in_threadpool(_created_response, request, context, record)
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


def _encode_cursor(record: ImportRecord) -> str:
    raw = json.dumps([record.created_at.isoformat(), str(record.id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[dt.datetime, uuid.UUID]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created_at, last_id = json.loads(base64.urlsafe_b64decode(padded))
        return dt.datetime.fromisoformat(created_at), uuid.UUID(last_id)
    except (ValueError, TypeError, binascii.Error):
        raise HTTPProblem(
            400, "invalid-cursor", "Invalid cursor", "the cursor is not one this API returned"
        ) from None


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
    before = _decode_cursor(cursor) if cursor else None
    records = service.list_imports(
        session, limit=limit + 1, state=state, schema=schema, before=before
    )
    page, more = records[:limit], len(records) > limit
    next_cursor = _encode_cursor(page[-1]) if more else None
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
    # this hot read (pages poll it) should cost one hop, made by the call below.
    context = get_context(request)
    body = await run_in_threadpool(_import_view, context, views_of(request.app), import_id)
    return Response(body, media_type="application/json")


def _import_view(context: AppContext, cache: ImportViewCache, import_id: uuid.UUID) -> bytes:
    """The import's JSON view: from the cache when the database still holds its version."""
    with context.engine.connect() as connection:
        version = service.import_version(connection, import_id=import_id)
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
    summary="The stored cell errors of an import, as JSON pages or a CSV download",
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
