"""Imports from URL and REST sources: created by the API, fetched by a job, then imported
like any upload.

    request  check targets (SSRF) and schema; import "created" + import_sources row + fetch job
    fetch    created: download / page through the source into a new upload, showing progress
             -> upload attached, analyse job queued (then the usual file-import jobs)
             -> completed at once when a REST run found no record (nothing to import)
             -> failed (the reason in ``failure``), or cancelled meanwhile

The import stays ``created`` while it fetches: that is the state a cancel ends at once, and
the fetch notices at its next progress write. The source's config, secrets included, is kept
on its row only until the fetch ends (a job re-run after a crash needs it again).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.orm import Session

from loadbay.context import AppContext
from loadbay.db import transaction
from loadbay.imports import files
from loadbay.imports.errors import StateConflict
from loadbay.imports.files import ANALYSE
from loadbay.imports.models import ImportRecord
from loadbay.imports.options import ImportOptions
from loadbay.imports.service import fail_import, get_import, transition, update
from loadbay.imports.states import ImportState
from loadbay.jobs.runner import JobControl
from loadbay.outbound import OutboundError, OutboundRefused
from loadbay.outbound.errors import redact_url
from loadbay.sources import url as url_source
from loadbay.sources.auth import TokenCache
from loadbay.sources.config import (
    OAuth2ClientCredentials,
    RestSource,
    UrlSource,
    load_stored,
    shown,
    stored_json,
)
from loadbay.sources.errors import SourceFailed, SourceTooLarge
from loadbay.sources.models import ImportSource
from loadbay.sources.rest import CursorValue, RestFetch
from loadbay.sources.spool import spool
from loadbay.uploads import service as uploads
from loadbay.uploads.models import Upload
from loadbay.uploads.store import UploadStore

logger = logging.getLogger("loadbay.sources")

FETCH = "source.fetch"

# What a fetch may fail with and report as the import's failure; anything else is a bug.
_FETCH_FAILURES = (SourceFailed, SourceTooLarge, OutboundError, OutboundRefused)


@dataclass(frozen=True, slots=True)
class SourceImport:
    source: UrlSource | RestSource
    schema: str
    schema_version: int | None = None
    mapping: dict[str, str] | None = None
    options: ImportOptions = field(default_factory=ImportOptions)
    created_by: str | None = None  # who asked: security.actors


def create_source_import(context: AppContext, *, command: SourceImport) -> ImportRecord:
    """Create the import of a source and queue its fetch. A target the SSRF guard refuses is
    refused now (OutboundRefused), not only when the job runs."""
    source = command.source
    for target in _targets(source):
        context.outbound.check_target(target)
    options = command.options
    with transaction(context.sessions) as session:
        info = files.check_request(
            session,
            schema=command.schema,
            schema_version=command.schema_version,
            mapping=command.mapping,
            options=options,
        )
        record = ImportRecord(
            id=uuid.uuid4(),
            schema_name=info.name,
            schema_version=info.version,
            table_name=info.schema.table_name,
            source=source.type,
            state=ImportState.CREATED,
            mode=options.mode,
            on_error=options.on_error,
            file_name=_display_name(source),
            options=options.model_dump_json(),
            mapping=None if command.mapping is None else json.dumps(command.mapping),
            bytes_total=0,
            created_by=command.created_by,
        )
        session.add(record)
        session.flush()
        session.add(
            ImportSource(
                import_id=record.id,
                kind=source.type,
                source_key=source.source_key() if isinstance(source, RestSource) else None,
                config=stored_json(source),
                shown=json.dumps(shown(source)),
            )
        )
        context.enqueue(session, kind=FETCH, subject_id=record.id)
    logger.info(
        "source import created",
        extra={"import_id": str(record.id), "source": source.type},
    )
    return files.get(context, import_id=record.id)


def _targets(source: UrlSource | RestSource) -> list[str]:
    if isinstance(source, UrlSource):
        return [source.url]
    targets = [source.url]
    if isinstance(source.auth, OAuth2ClientCredentials):
        targets.append(source.auth.token_url)
    return targets


def _display_name(source: UrlSource | RestSource) -> str:
    if isinstance(source, UrlSource):
        parsed = httpx.URL(source.url)
        return url_source.file_name(parsed, default=parsed.host)
    parsed = httpx.URL(source.url)
    return url_source.file_name(parsed, default=source.name or parsed.host) + ".ndjson"


# --- reading -------------------------------------------------------------------------------


def detail(session: Session, import_id: uuid.UUID) -> dict[str, Any] | None:
    """The source as the import resource shows it (secrets redacted), with its progress."""
    row = session.get(ImportSource, import_id)
    if row is None:
        return None
    return {
        "type": row.kind,
        "config": json.loads(row.shown),
        "source_key": row.source_key,
        "pages_fetched": row.pages,
        "records_fetched": row.records,
        "bytes_fetched": row.bytes_fetched,
        "cursor_from": None if row.cursor_from is None else json.loads(row.cursor_from),
        "cursor_to": None if row.cursor_to is None else json.loads(row.cursor_to),
    }


def last_cursor(session: Session, *, source_key: str) -> CursorValue | None:
    """The incremental cursor to send next: the highest value the source's last completed
    import saw. Failed, cancelled and reverted runs do not count: their records are not in
    the table, so the next run must fetch them again."""
    value = session.scalar(
        sa.select(ImportSource.cursor_to)
        .join(ImportRecord, ImportRecord.id == ImportSource.import_id)
        .where(
            ImportSource.source_key == source_key,
            ImportSource.cursor_to.is_not(None),
            ImportRecord.state == ImportState.COMPLETED,
        )
        .order_by(ImportRecord.finished_at.desc())
        .limit(1)
    )
    if value is None:
        return None
    loaded: CursorValue = json.loads(value)
    return loaded


# --- the fetch job -------------------------------------------------------------------------


class _Cancelled(Exception):
    """The import left ``created`` while it was fetched (cancelled)."""


class _Progress:
    """Writes fetch progress at most every ``progress_interval`` seconds; raises _Cancelled
    when the import is no longer being fetched, JobInterrupted when the job must stop."""

    def __init__(self, context: AppContext, import_id: uuid.UUID, control: JobControl) -> None:
        self._context = context
        self._import_id = import_id
        self._control = control
        self._interval = context.settings.progress_interval
        self._last = float("-inf")

    def _due(self) -> bool:
        now = time.monotonic()
        if now - self._last < self._interval:
            return False
        self._last = now
        return True

    def _write(self, stats: dict[str, int], **values: Any) -> None:
        with transaction(self._context.sessions) as session:
            moved = update(session, self._import_id, ImportState.CREATED, **values)
            if moved:
                session.execute(
                    sa.update(ImportSource)
                    .where(ImportSource.import_id == self._import_id)
                    .values(**stats)
                )
        if not moved:
            raise _Cancelled

    def on_bytes(self, done: int, total: int | None) -> None:
        self._control.check()
        if not self._due():
            return
        values: dict[str, Any] = {"bytes_processed": done, "bytes_total": total or 0}
        if total:
            values["progress"] = round(min(done / total, 0.99), 4)
        self._write({"bytes_fetched": done}, **values)

    def on_page(self, pages: int, records: int, size: int) -> None:
        self._control.check()
        if not self._due():
            return
        self._write(
            {"pages": pages, "records": records, "bytes_fetched": size}, bytes_processed=size
        )


@dataclass(slots=True)
class _Fetched:
    upload: Upload | None  # None: a REST run without a single record
    pages: int = 0
    records: int = 0
    size: int = 0
    cursor_from: CursorValue | None = None
    cursor_to: CursorValue | None = None


def fetch(
    context: AppContext,
    import_id: uuid.UUID,
    control: JobControl,
    *,
    tokens: TokenCache,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """The fetch job. Idempotent: an import that has moved on is left alone, and a run cut
    short (a crash, a shutdown) leaves no upload behind and starts over."""
    with context.sessions() as session:
        record = get_import(session, import_id=import_id)
        row = session.get(ImportSource, import_id)
        state = record.state
        config = None if row is None else row.config
        source_key = None if row is None else row.source_key
    if state != ImportState.CREATED or config is None:
        _forget_config(context, import_id)
        return
    source = load_stored(config)
    store = UploadStore.at(context.settings.data_dir)
    progress = _Progress(context, import_id, control)
    try:
        if isinstance(source, UrlSource):
            upload = url_source.download(context, store, source, on_bytes=progress.on_bytes)
            fetched = _Fetched(upload, size=upload.length or 0)
        else:
            fetched = _fetch_rest(
                context, store, source, source_key, progress, tokens=tokens, sleep=sleep
            )
    except _Cancelled:
        logger.info("import %s cancelled while its source was fetched", import_id)
        _forget_config(context, import_id)
        return
    except _FETCH_FAILURES as exc:
        logger.warning("import %s: fetching its source failed: %s", import_id, exc.detail)
        with contextlib.suppress(StateConflict):  # cancelled meanwhile: it ended already
            fail_import(context, import_id, ImportState.CREATED, exc.slug, exc.detail)
        _forget_config(context, import_id)
        return
    _attach(context, store, import_id, fetched)


def _fetch_rest(
    context: AppContext,
    store: UploadStore,
    source: RestSource,
    source_key: str | None,
    progress: _Progress,
    *,
    tokens: TokenCache,
    sleep: Callable[[float], None],
) -> _Fetched:
    cursor: CursorValue | None = None
    if source.incremental is not None:
        assert source_key is not None  # every REST source row has one
        with context.sessions() as session:
            cursor = last_cursor(session, source_key=source_key)
        if cursor is None:
            cursor = source.incremental.initial_value
    run = RestFetch(
        context.outbound,
        source,
        tokens=tokens,
        cursor=cursor,
        max_pages=context.settings.source_max_pages,
        sleep=sleep,
    )
    fetched = _Fetched(None, cursor_from=cursor)

    def ndjson() -> Iterator[bytes]:
        for page in run.pages():
            data = b"".join(
                json.dumps(item, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
                for item in page.records
            )
            fetched.pages += 1
            fetched.records += len(page.records)
            fetched.size += len(data)
            progress.on_page(fetched.pages, fetched.records, fetched.size)
            if data:
                yield data

    chunks = ndjson()
    # The first records decide whether there is a file at all: an empty one is no upload
    # the analysis could read, and "no new records" is the normal end of an incremental run.
    first = next(chunks, None)
    if first is not None:
        fetched.upload = spool(
            context,
            store,
            itertools.chain([first], chunks),
            filename=_display_name(source),
            content_type="application/x-ndjson",
            what=f"the records of {redact_url(source.url)}",
        )
    fetched.cursor_to = run.high_water
    return fetched


def _attach(
    context: AppContext, store: UploadStore, import_id: uuid.UUID, fetched: _Fetched
) -> None:
    """Hand the fetched file to the file-import jobs (or complete a run that found nothing),
    in one transaction with the source's final counts and cursor."""
    stats = {
        "config": None,
        "pages": fetched.pages,
        "records": fetched.records,
        "bytes_fetched": fetched.size,
        "cursor_from": None if fetched.cursor_from is None else json.dumps(fetched.cursor_from),
        "cursor_to": None if fetched.cursor_to is None else json.dumps(fetched.cursor_to),
    }
    try:
        with transaction(context.sessions) as session:
            session.execute(
                sa.update(ImportSource).where(ImportSource.import_id == import_id).values(**stats)
            )
            upload = fetched.upload
            if upload is None:
                transition(
                    session, import_id, ImportState.CREATED, ImportState.COMPLETED, progress=1.0
                )
            else:
                moved = update(
                    session,
                    import_id,
                    ImportState.CREATED,
                    upload_id=upload.id,
                    bytes_total=upload.length or 0,
                    bytes_processed=0,
                    progress=0.0,
                )
                if not moved:
                    raise StateConflict(f"import {import_id} is no longer created")
                context.enqueue(session, kind=ANALYSE, subject_id=import_id)
    except StateConflict:
        logger.info("import %s cancelled while its source was fetched", import_id)
        _forget_config(context, import_id)
        if fetched.upload is not None:
            _discard(context, store, fetched.upload.id)


def _discard(context: AppContext, store: UploadStore, upload_id: uuid.UUID) -> None:
    try:
        asyncio.run(uploads.terminate(context, store, upload_id=upload_id))
    except Exception:
        logger.exception("could not delete upload %s of a cancelled source import", upload_id)


def _forget_config(context: AppContext, import_id: uuid.UUID) -> None:
    """Drop the stored config (its secrets) once no fetch can need it."""
    with transaction(context.sessions) as session:
        session.execute(
            sa.update(ImportSource).where(ImportSource.import_id == import_id).values(config=None)
        )


def end_fetch(context: AppContext, import_id: uuid.UUID, kind: str, detail: str) -> None:
    """Fail an import whose fetch cannot go on (a bug, or a job that kept dying)."""
    with context.sessions() as session:
        state = get_import(session, import_id=import_id).state
    if state == ImportState.CREATED:
        with contextlib.suppress(StateConflict):
            fail_import(context, import_id, ImportState.CREATED, kind, detail)
    _forget_config(context, import_id)
