"""The import aggregate's service: reading imports and their errors, and guarded state changes.

Every state change is an UPDATE guarded by the expected previous state, so that two actors
(API processes, workers) can never both move one import.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from loadbay.db import older_than, transaction, utcnow
from loadbay.errors import ErrorDetail
from loadbay.imports.cache import ImportVersion
from loadbay.imports.errors import ImportNotFound, StateConflict
from loadbay.imports.models import ImportError_, ImportRecord, ImportRow
from loadbay.imports.states import FINAL_STATES, ImportState
from loadbay.observability.metrics import observe_import
from loadbay.schemas.service import SchemaInfo, get_schema
from loadbay.webhooks.events import emit

if TYPE_CHECKING:
    from loadbay.context import AppContext
    from loadbay.validation import CellError


def failure_of(record: ImportRecord) -> dict[str, str] | None:
    if record.failure is None:
        return None
    failure: dict[str, str] = json.loads(record.failure)
    return failure


def _not_found(import_id: uuid.UUID) -> ImportNotFound:
    return ImportNotFound(f"no import with id {import_id}")


def transition(
    session: Session,
    import_id: uuid.UUID,
    expected: ImportState,
    new: ImportState,
    **values: Any,
) -> None:
    """Move an import from ``expected`` to ``new``, setting ``values``.

    Always sets ``updated_at``: it versions the import for the read cache (``cache.py``), so a
    write to an import or its stored errors must happen in a transaction that calls this.
    """
    now = utcnow()
    values |= {"state": new, "updated_at": now}
    if new in (ImportState.COMPLETED, ImportState.FAILED, ImportState.CANCELLED):
        values["finished_at"] = now
    result = session.execute(
        sa.update(ImportRecord)
        .where(ImportRecord.id == import_id, ImportRecord.state == expected)
        .values(**values)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise StateConflict(
            f"import {import_id} is no longer {expected.value}; it cannot become {new.value}"
        )
    if new in FINAL_STATES or new in _ANNOUNCED:
        record = session.get_one(ImportRecord, import_id, populate_existing=True)
        if new in FINAL_STATES:
            seconds = (now - record.created_at).total_seconds()
            observe_import(source=record.source, state=new, seconds=seconds)
        if new in _ANNOUNCED:
            emit(session, event_type=f"import.{new.value}", data=_event_data(record))


# States that send a webhook event (``import.<state>``), in the transaction that enters them.
_ANNOUNCED = frozenset(
    {ImportState.AWAITING_MAPPING, ImportState.VALIDATED, ImportState.COMPLETED, ImportState.FAILED}
)


def _event_data(record: ImportRecord) -> dict[str, Any]:
    return {
        "id": str(record.id),
        "state": record.state,
        "schema": {"name": record.schema_name, "version": record.schema_version},
        "table": record.table_name,
        "source": record.source,
        "upload_id": None if record.upload_id is None else str(record.upload_id),
        "file_name": record.file_name,
        "counts": {
            "rows_total": record.rows_total,
            "rows_valid": record.rows_valid,
            "rows_invalid": record.rows_invalid,
            "rows_loaded": record.rows_loaded,
            "errors_total": record.errors_total,
        },
        "failure": failure_of(record),
        "links": {"self": f"/api/imports/{record.id}"},
    }


def update(session: Session, import_id: uuid.UUID, expected: ImportState, **values: Any) -> bool:
    """Write ``values`` (progress, counts) while the import is still ``expected``; False when
    it is not (cancelled, or moved on by another actor). Sets ``updated_at`` like a
    transition, so cached views and event streams see the change."""
    result = session.execute(
        sa.update(ImportRecord)
        .where(ImportRecord.id == import_id, ImportRecord.state == expected)
        .values(updated_at=utcnow(), **values)
    )
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def schema_of(session: Session, record: ImportRecord) -> SchemaInfo:
    """The schema version an import pinned (readable even once the schema is deleted)."""
    return get_schema(
        session, name=record.schema_name, version=record.schema_version, include_deleted=True
    )


def get_import(session: Session, *, import_id: uuid.UUID) -> ImportRecord:
    record = session.get(ImportRecord, import_id)
    if record is None:
        raise _not_found(import_id)
    return record


# Built once: composing the statement (ORM attribute comparisons, coercions) cost three
# times as much as running it, on the hottest read (pages poll an import's status).
_VERSION_QUERY = sa.select(ImportRecord.updated_at, ImportRecord.state).where(
    ImportRecord.id == sa.bindparam("import_id")
)


def import_version(connection: sa.Connection, *, import_id: uuid.UUID) -> ImportVersion:
    """The current version of an import (``cache.py``): one light query, no ORM objects."""
    row = connection.execute(_VERSION_QUERY, {"import_id": import_id}).one_or_none()
    if row is None:
        raise _not_found(import_id)
    return ImportVersion(row.updated_at, row.state)


def version_of(record: ImportRecord) -> ImportVersion:
    return ImportVersion(record.updated_at, record.state)


def list_imports(
    session: Session,
    *,
    limit: int,
    state: ImportState | None = None,
    schema: str | None = None,
    before: tuple[Any, uuid.UUID] | None = None,
) -> list[ImportRecord]:
    """Newest first; ``before`` is the (created_at, id) of the last item of the previous page."""
    query = sa.select(ImportRecord).order_by(ImportRecord.created_at.desc(), ImportRecord.id.desc())
    if state is not None:
        query = query.where(ImportRecord.state == state)
    if schema is not None:
        query = query.where(ImportRecord.schema_name == schema)
    if before is not None:
        query = query.where(older_than(ImportRecord.created_at, ImportRecord.id, before))
    return list(session.scalars(query.limit(limit)))


def list_errors(
    session: Session, *, import_id: uuid.UUID, limit: int | None, after: int = 0
) -> list[ImportError_]:
    """Stored errors in row order; ``after`` is the id of the last error already seen."""
    query = (
        sa.select(ImportError_)
        .where(ImportError_.import_id == import_id, ImportError_.id > after)
        .order_by(ImportError_.id)
    )
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


def iter_errors(
    session: Session, *, import_id: uuid.UUID, page: int = 5000
) -> Iterator[ImportError_]:
    """Every stored error, fetched page by page (for downloads)."""
    after = 0
    while errors := list_errors(session, import_id=import_id, limit=page, after=after):
        yield from errors
        after = errors[-1].id


def failure_json(kind: str, detail: str) -> str:
    return json.dumps({"type": kind, "detail": detail})


def store_errors(
    session: Session,
    import_id: uuid.UUID,
    errors: Sequence[CellError] | Sequence[ErrorDetail],
    limit: int,
) -> None:
    """Keep the first ``limit`` errors: the validator's, or the rows a load refused."""
    rows = [
        {
            "import_id": import_id,
            "row": e.row or 0,
            "column": e.column,
            "value": None if e.value is None else str(e.value),
            "rule": e.rule or "load",
            "message": e.message,
        }
        for e in errors[:limit]
    ]
    if rows:
        session.execute(sa.insert(ImportError_), rows)


def fail_import(
    context: AppContext,
    import_id: uuid.UUID,
    state: ImportState,
    kind: str,
    detail: str,
    *,
    errors: Sequence[ErrorDetail] = (),
) -> None:
    """End an import as failed from ``state``, keeping ``errors`` (the rows a load refused)
    within the stored-error cap."""
    limit = context.settings.max_stored_errors
    with transaction(context.sessions) as session:
        stored = session.scalar(
            sa.select(ImportRecord.errors_stored).where(ImportRecord.id == import_id)
        )
        room = max(0, limit - (stored or 0))
        store_errors(session, import_id, errors, room)
        transition(
            session,
            import_id,
            state,
            ImportState.FAILED,
            progress=1.0,
            errors_stored=(stored or 0) + min(len(errors), room),
            failure=failure_json(kind, detail),
        )


def list_rows(
    session: Session, *, import_id: uuid.UUID, limit: int, after: int = 0
) -> list[tuple[ImportRow, list[ImportError_]]]:
    """Stored invalid rows of a file import in row order, each with its errors; ``after``
    is the last row number already seen."""
    rows = list(
        session.scalars(
            sa.select(ImportRow)
            .where(ImportRow.import_id == import_id, ImportRow.row > after)
            .order_by(ImportRow.row)
            .limit(limit)
        )
    )
    if not rows:
        return []
    errors: dict[int, list[ImportError_]] = {r.row: [] for r in rows}
    for error in session.scalars(
        sa.select(ImportError_)
        .where(ImportError_.import_id == import_id, ImportError_.row.in_(list(errors)))
        .order_by(ImportError_.id)
    ):
        errors[error.row].append(error)
    return [(r, errors[r.row]) for r in rows]
