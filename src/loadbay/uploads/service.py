"""Uploads: create, append, assemble, terminate, read back, and sweep expired ones.

Every change to an upload's bytes or row happens while its file lock is held (see store.py),
so an upload has one writer at a time across all processes of this machine. The recorded
``offset`` only moves after the bytes below it were fsync'd: after a crash it is exact, and
bytes past it (written but never acknowledged) are cut off by the next writer.

A request body is written as it arrives, through a bounded buffer (``WRITE_BUFFER``) handed
to an I/O thread, so memory stays flat whatever the chunk size. A body with
``Upload-Checksum`` is all-or-nothing: it is kept only when it arrived whole and matches.
A body without one keeps whatever arrived (a dropped connection loses nothing received), and
long bodies are made durable every ``upload_checkpoint_bytes``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session, object_session

from loadbay.context import AppContext
from loadbay.db import transaction, utcnow
from loadbay.observability.metrics import count_uploaded_bytes
from loadbay.uploads import metadata as upload_metadata
from loadbay.uploads.errors import (
    ChecksumMismatch,
    InvalidUploadRequest,
    OffsetMismatch,
    UploadGone,
    UploadLocked,
    UploadNotFound,
    UploadNotReady,
    UploadNotWritable,
    UploadTooLarge,
)
from loadbay.uploads.models import GONE_STATES, LIVE_STATES, Upload, UploadKind, UploadState
from loadbay.uploads.store import AppendWriter, Checksum, UploadFile, UploadStore, WholeFileHash
from loadbay.webhooks.events import emit

logger = logging.getLogger("loadbay.uploads")
T = TypeVar("T")

WRITE_BUFFER = 1024 * 1024
LOCK_POLL_SECONDS = 0.05
MAX_PARTS = 1000

# Writes and fsyncs run here: hashlib and os.pwrite release the GIL, so the event loop keeps
# receiving the next buffer while this one is hashed and written.
_io = concurrent.futures.ThreadPoolExecutor(max_workers=16, thread_name_prefix="upload-io")


# --- reading -------------------------------------------------------------------------------


def get_upload(context: AppContext, *, upload_id: uuid.UUID) -> Upload:
    """A live upload; UploadNotFound (404) or UploadGone (410) otherwise."""
    with context.sessions() as session:
        return _live(session, upload_id, now=utcnow())


def duplicate_of(context: AppContext, *, upload: Upload) -> uuid.UUID | None:
    """The earliest other complete upload with the same SHA-256, if this one is complete."""
    if upload.state != UploadState.COMPLETE or upload.kind == UploadKind.PARTIAL:
        return None
    assert upload.completed_at is not None
    earlier = sa.or_(
        Upload.completed_at < upload.completed_at,
        sa.and_(Upload.completed_at == upload.completed_at, Upload.id < upload.id),
    )
    query = (
        sa.select(Upload.id)
        .where(
            Upload.sha256 == upload.sha256,
            Upload.state == UploadState.COMPLETE,
            Upload.kind != UploadKind.PARTIAL,
            earlier,
        )
        .order_by(Upload.completed_at, Upload.id)
        .limit(1)
    )
    with context.sessions() as session:
        return session.scalars(query).first()


def completed_path(context: AppContext, store: UploadStore, *, upload_id: uuid.UUID) -> Path:
    """The file of a complete upload, for the import step; UploadNotReady otherwise."""
    upload = get_upload(context, upload_id=upload_id)
    if upload.kind == UploadKind.PARTIAL:
        raise UploadNotReady(f"upload {upload_id} is a partial upload; import the final one")
    if upload.state == UploadState.CORRUPT:
        raise UploadNotReady(f"upload {upload_id} is corrupt: {upload.problem}")
    if upload.state != UploadState.COMPLETE:
        raise UploadNotReady(
            f"upload {upload_id} is not complete ({upload.offset} of "
            f"{upload.length if upload.length is not None else 'unknown'} bytes)"
        )
    return store.path(upload_id)


# --- creating ------------------------------------------------------------------------------


def create_upload(
    context: AppContext,
    store: UploadStore,
    *,
    length: int | None,
    metadata: str | None,
    kind: UploadKind = UploadKind.SINGLE,
) -> Upload:
    """A new, empty upload of ``length`` bytes (``None``: declared later, creation-defer-length).

    An upload of length 0 is complete at once.
    """
    settings = context.settings
    if length is not None and length > settings.max_upload_bytes:
        raise UploadTooLarge(
            f"Upload-Length {length} is larger than the maximum of {settings.max_upload_bytes} "
            "bytes (LOADBAY_MAX_UPLOAD_BYTES)",
            limit=settings.max_upload_bytes,
        )
    now = utcnow()
    upload = _new_upload(context, kind=kind, length=length, metadata=metadata, now=now)
    if length == 0:
        _finish(context, upload, WholeFileHash(), now=now)
    _insert_then_create_file(context, store, upload)
    logger.info("upload created", extra={"upload_id": str(upload.id), "length": length})
    return upload


def create_final(
    context: AppContext, store: UploadStore, *, parts: list[uuid.UUID], metadata: str | None
) -> Upload:
    """tus concatenation: a complete upload made of finished partial uploads, in order.

    The partial uploads stay (they may be assembled again) until they expire.
    """
    settings = context.settings
    if not parts or len(parts) > MAX_PARTS:
        raise InvalidUploadRequest(f"a final upload needs 1 to {MAX_PARTS} partial uploads")
    with context.sessions() as session:
        found = {u.id: u for u in session.scalars(sa.select(Upload).where(Upload.id.in_(parts)))}
    now = utcnow()
    for part in parts:
        _check_part(found.get(part), part, now=now)
    total = sum(found[part].offset for part in parts)
    if total > settings.max_upload_bytes:
        raise UploadTooLarge(
            f"the partial uploads add up to {total} bytes, more than the maximum of "
            f"{settings.max_upload_bytes} bytes (LOADBAY_MAX_UPLOAD_BYTES)",
            limit=settings.max_upload_bytes,
        )
    upload = _new_upload(context, kind=UploadKind.FINAL, length=None, metadata=metadata, now=now)
    upload.parts = " ".join(str(part) for part in parts)
    # The row comes first, so that a crash while copying leaves an unfinished upload that
    # expires and is swept like any other, never a file nobody knows about.
    with transaction(context.sessions) as session:
        session.add(upload)
    try:
        size, hashed = store.concatenate(upload.id, parts)
        with transaction(context.sessions) as session:
            upload = session.get_one(Upload, upload.id)
            upload.length = upload.offset = size
            _finish(context, upload, hashed, now=utcnow())
    except BaseException as exc:
        _purge(context, store, upload.id)
        if isinstance(exc, FileNotFoundError):
            raise InvalidUploadRequest(
                "a partial upload was deleted while being assembled"
            ) from None
        raise
    logger.info("upload assembled", extra={"upload_id": str(upload.id), "parts": len(parts)})
    return upload


def _new_upload(
    context: AppContext,
    *,
    kind: UploadKind,
    length: int | None,
    metadata: str | None,
    now: dt.datetime,
) -> Upload:
    pairs = upload_metadata.parse(metadata)
    described = upload_metadata.describe(pairs)
    return Upload(
        id=uuid.uuid4(),
        kind=kind,
        state=UploadState.UPLOADING,
        length=length,
        offset=0,
        upload_metadata=metadata if pairs else None,
        filename=described.filename,
        content_type=described.content_type,
        expected_md5=described.md5,
        expected_sha256=described.sha256,
        created_at=now,
        updated_at=now,
        expires_at=now + _expiry(context),
    )


def _insert_then_create_file(context: AppContext, store: UploadStore, upload: Upload) -> None:
    """Row first, then file: a crash in between leaves a row that expires, not a stray file."""
    with transaction(context.sessions) as session:
        session.add(upload)
        if upload.state == UploadState.COMPLETE:
            announce_complete(session, upload)
    try:
        store.create(upload.id).close()
    except BaseException:
        _purge(context, store, upload.id)
        raise


def _check_part(part: Upload | None, part_id: uuid.UUID, *, now: dt.datetime) -> None:
    if part is None:
        raise InvalidUploadRequest(f"Upload-Concat: upload {part_id} does not exist")
    if part.state in GONE_STATES or _has_expired(part, now):
        raise InvalidUploadRequest(f"Upload-Concat: upload {part_id} was terminated or expired")
    if part.kind != UploadKind.PARTIAL:
        raise InvalidUploadRequest(f"Upload-Concat: upload {part_id} is not a partial upload")
    if not part.is_finished:
        raise InvalidUploadRequest(
            f"Upload-Concat: partial upload {part_id} is not finished ({part.offset} of "
            f"{part.length if part.length is not None else 'unknown'} bytes)"
        )


# --- appending -----------------------------------------------------------------------------


async def append(
    context: AppContext,
    store: UploadStore,
    *,
    upload_id: uuid.UUID,
    offset: int,
    chunks: AsyncIterator[bytes],
    body_size: int | None,
    checksum: Checksum | None = None,
    length: int | None = None,
) -> Upload:
    """A tus PATCH: append ``chunks`` at ``offset``; ``length`` declares a deferred length.

    ``body_size`` is the request's Content-Length when it has one: a body that ends sooner
    was cut off by the client (kept unless it carries a checksum).
    """
    return await _append(
        context,
        store,
        upload_id=upload_id,
        offset=offset,
        chunks=chunks,
        body_size=body_size,
        checksum=checksum,
        length=length,
        whole_file_limit=None,
    )


async def receive_file(
    context: AppContext,
    store: UploadStore,
    *,
    metadata: str | None,
    chunks: AsyncIterator[bytes],
    max_bytes: int,
) -> Upload:
    """A whole file in one request (multipart): complete when ``chunks`` end, or nothing."""
    upload = await asyncio.to_thread(create_upload, context, store, length=None, metadata=metadata)
    try:
        return await _append(
            context,
            store,
            upload_id=upload.id,
            offset=0,
            chunks=chunks,
            body_size=None,
            checksum=None,
            length=None,
            whole_file_limit=max_bytes,
        )
    except BaseException:
        # Not resumable: a failed file leaves neither bytes nor a row behind.
        await asyncio.to_thread(_purge, context, store, upload.id)
        raise


async def _append(
    context: AppContext,
    store: UploadStore,
    *,
    upload_id: uuid.UUID,
    offset: int,
    chunks: AsyncIterator[bytes],
    body_size: int | None,
    checksum: Checksum | None,
    length: int | None,
    whole_file_limit: int | None,
) -> Upload:
    """Append under the upload's lock. ``whole_file_limit``: the body is the whole file."""
    await asyncio.to_thread(_writable, context, upload_id)  # 404/410/403 before waiting
    handle = await _lock(context, store, upload_id)
    try:
        upload = await asyncio.to_thread(_writable, context, upload_id)  # state under the lock
        declared = _declared_length(context, upload, length)
        if offset != upload.offset:
            raise OffsetMismatch(
                f"Upload-Offset is {offset} but the upload has {upload.offset} bytes",
                offset=upload.offset,
            )
        limit = _limit(context, declared, whole_file_limit)
        if body_size is not None and offset + body_size > limit.size:
            raise limit.exceeded(offset + body_size)
        hashed = await _run_io(store.hashes.resume, upload_id, handle.fd, offset)
        writer = AppendWriter(handle.fd, start=offset, hashed=hashed, checksum=checksum)
        try:
            received = await _receive(
                context,
                writer,
                chunks,
                limit=limit,
                upload_id=upload_id,
                checkpoints=checksum is None,
            )
            if checksum is not None:
                _verify_checksum(writer, checksum, received=received, body_size=body_size)
            await _run_io(writer.sync)
        except BaseException:
            writer.discard()
            raise
        finally:
            store.hashes.keep(upload_id, writer.durable, writer.hashed)
        if whole_file_limit is not None:
            declared = writer.position
        if received == 0 and declared == upload.length:
            return upload
        return await asyncio.to_thread(
            _commit,
            context,
            store,
            upload_id,
            offset=writer.position,
            length=declared,
            hashed=writer.hashed,
        )
    finally:
        handle.close()


async def _receive(
    context: AppContext,
    writer: AppendWriter,
    chunks: AsyncIterator[bytes],
    *,
    limit: _Limit,
    upload_id: uuid.UUID,
    checkpoints: bool,
) -> int:
    """Write the body through a bounded buffer; one buffer is written while the next fills."""
    every = context.settings.upload_checkpoint_bytes
    flush_at = min(WRITE_BUFFER, every)
    buffer: list[bytes] = []
    buffered = received = since_checkpoint = 0
    pending: concurrent.futures.Future[None] | None = None

    async def flush() -> None:
        nonlocal pending, buffered, since_checkpoint
        if pending is not None:
            await asyncio.wrap_future(pending)
        pending = _io.submit(writer.write, b"".join(buffer))
        since_checkpoint += buffered
        buffer.clear()
        buffered = 0

    try:
        async for chunk in chunks:
            received += len(chunk)
            if writer.start + received > limit.size:
                raise limit.exceeded(writer.start + received)
            buffer.append(chunk)
            buffered += len(chunk)
            if buffered >= flush_at:
                await flush()
            if checkpoints and since_checkpoint >= every:
                assert pending is not None
                await asyncio.wrap_future(pending)
                pending = None
                await _run_io(writer.sync)
                await asyncio.to_thread(_checkpoint, context, upload_id, writer.durable)
                since_checkpoint = 0
        if buffer:
            await flush()
        if pending is not None:
            await asyncio.wrap_future(pending)
    finally:
        # Never let a write run on while the caller discards or closes the file.
        if pending is not None:
            concurrent.futures.wait([pending])
    return received


def _verify_checksum(
    writer: AppendWriter, checksum: Checksum, *, received: int, body_size: int | None
) -> None:
    if body_size is not None and received < body_size:
        raise ChecksumMismatch(
            f"the body ended after {received} of {body_size} bytes; a chunk with "
            "Upload-Checksum is kept only whole, so it was discarded"
        )
    if not writer.checksum_matches():
        raise ChecksumMismatch(
            f"the {checksum.algorithm} of the {received}-byte chunk differs from "
            "Upload-Checksum; the chunk was discarded and the offset did not move"
        )


async def _run_io(function: Callable[..., T], *args: Any) -> T:
    return await asyncio.wrap_future(_io.submit(function, *args))


def _declared_length(context: AppContext, upload: Upload, length: int | None) -> int | None:
    """The upload's length once this request is done (creation-defer-length)."""
    if length is None:
        return upload.length
    if upload.length is not None:
        if length != upload.length:
            raise InvalidUploadRequest(
                f"Upload-Length {length} differs from the length already declared ({upload.length})"
            )
        return length
    if length < upload.offset:
        raise InvalidUploadRequest(
            f"Upload-Length {length} is smaller than the {upload.offset} bytes already stored"
        )
    if length > context.settings.max_upload_bytes:
        raise _limit(context, None, None).exceeded(length)
    return length


@dataclass(frozen=True, slots=True)
class _Limit:
    """Where the data of one request must end, and why."""

    size: int
    reason: str

    def exceeded(self, end: int) -> UploadTooLarge:
        return UploadTooLarge(
            f"the data would end at byte {end}, past {self.reason}", limit=self.size
        )


def _limit(context: AppContext, declared: int | None, whole_file_limit: int | None) -> _Limit:
    settings = context.settings
    if whole_file_limit is not None:
        return _Limit(
            whole_file_limit,
            f"the limit of {whole_file_limit} bytes for one file (LOADBAY_MAX_MULTIPART_BYTES)",
        )
    if declared is not None:
        return _Limit(declared, f"the declared Upload-Length {declared}")
    return _Limit(
        settings.max_upload_bytes,
        f"the maximum upload size of {settings.max_upload_bytes} bytes (LOADBAY_MAX_UPLOAD_BYTES)",
    )


def _writable(context: AppContext, upload_id: uuid.UUID) -> Upload:
    with context.sessions() as session:
        upload = _live(session, upload_id, now=utcnow())
    if upload.kind == UploadKind.FINAL:
        raise UploadNotWritable(
            f"upload {upload_id} is a final upload assembled from partial uploads; "
            "it cannot be appended to"
        )
    return upload


def _checkpoint(context: AppContext, upload_id: uuid.UUID, offset: int) -> None:
    now = utcnow()
    with transaction(context.sessions) as session:
        previous = session.scalar(sa.select(Upload.offset).where(Upload.id == upload_id))
        session.execute(
            sa.update(Upload)
            .where(Upload.id == upload_id, Upload.state == UploadState.UPLOADING)
            .values(offset=offset, updated_at=now, expires_at=now + _expiry(context))
        )
    count_uploaded_bytes(offset - (previous or 0))


def _commit(
    context: AppContext,
    store: UploadStore,
    upload_id: uuid.UUID,
    *,
    offset: int,
    length: int | None,
    hashed: WholeFileHash,
) -> Upload:
    now = utcnow()
    with transaction(context.sessions) as session:
        upload = session.get(Upload, upload_id)
        assert upload is not None  # we hold its lock: nobody deleted it
        durable_now = offset - upload.offset
        upload.offset, upload.length, upload.updated_at = offset, length, now
        if upload.state == UploadState.UPLOADING:
            upload.expires_at = now + _expiry(context)
            if upload.is_finished:
                _finish(context, upload, hashed, now=now)
    count_uploaded_bytes(durable_now)
    if upload.is_finished:
        store.hashes.forget(upload_id)
    return upload


def _finish(
    context: AppContext, upload: Upload, hashed: WholeFileHash, *, now: dt.datetime
) -> None:
    """Record the whole-file digests; a mismatch with the declared ones makes it corrupt."""
    upload.md5, upload.sha256, upload.completed_at = hashed.md5, hashed.sha256, now
    mismatches = [
        f"{name} is {actual}, the client declared {expected}"
        for name, expected, actual in (
            ("md5", upload.expected_md5, upload.md5),
            ("sha256", upload.expected_sha256, upload.sha256),
        )
        if expected is not None and expected != actual
    ]
    if mismatches:
        upload.state = UploadState.CORRUPT
        upload.problem = "; ".join(mismatches)
        logger.warning(
            "upload corrupt", extra={"upload_id": str(upload.id), "problem": upload.problem}
        )
        return
    upload.state = UploadState.COMPLETE
    # Partial uploads are building blocks: they expire like unfinished ones.
    upload.expires_at = now + _expiry(context) if upload.kind == UploadKind.PARTIAL else None
    logger.info("upload complete", extra={"upload_id": str(upload.id), "size": upload.length})
    session = object_session(upload)
    if session is not None:  # else announced when its row is inserted
        announce_complete(session, upload)


def announce_complete(session: Session, upload: Upload) -> None:
    """The ``upload.completed`` webhook, in the transaction that completes the upload."""
    if upload.kind == UploadKind.PARTIAL:
        return  # a building block, not a file anyone imports
    emit(
        session,
        event_type="upload.completed",
        data={
            "id": str(upload.id),
            "size": upload.length,
            "filename": upload.filename,
            "content_type": upload.content_type,
            "md5": upload.md5,
            "sha256": upload.sha256,
            "links": {"self": f"/api/uploads/{upload.id}"},
        },
    )


# --- terminating and sweeping ------------------------------------------------------------


async def terminate(context: AppContext, store: UploadStore, *, upload_id: uuid.UUID) -> None:
    """tus termination: delete the data; the upload answers 410 from now on."""
    await asyncio.to_thread(get_upload, context, upload_id=upload_id)
    handle = await _lock(context, store, upload_id)
    try:
        await asyncio.to_thread(_terminate_locked, context, store, upload_id)
    finally:
        handle.close()


def _terminate_locked(context: AppContext, store: UploadStore, upload_id: uuid.UUID) -> None:
    now = utcnow()
    with transaction(context.sessions) as session:
        upload = _live(session, upload_id, now=now)
        upload.state, upload.updated_at, upload.expires_at = UploadState.TERMINATED, now, None
    store.remove(upload_id)
    logger.info("upload terminated", extra={"upload_id": str(upload_id)})


def _purge(context: AppContext, store: UploadStore, upload_id: uuid.UUID) -> None:
    with transaction(context.sessions) as session:
        session.execute(sa.delete(Upload).where(Upload.id == upload_id))
    store.remove(upload_id)


@dataclass(frozen=True, slots=True)
class SweepReport:
    expired: int  # uploads whose data was deleted and that now answer 410
    purged: int  # tombstones older than the expiry, deleted (the id now answers 404)


def sweep(
    context: AppContext, store: UploadStore, *, now: dt.datetime | None = None
) -> SweepReport:
    """Delete expired uploads' data, then tombstones older than the expiry. Safe anywhere.

    An upload being written (its lock is held) is skipped: the writer renews its expiry.
    Every file has had a row since before it was created, so rows are all there is to scan.
    """
    now = now or utcnow()
    with context.sessions() as session:
        due = session.scalars(
            sa.select(Upload.id).where(Upload.state.in_(LIVE_STATES), Upload.expires_at <= now)
        ).all()
    expired = sum(_expire(context, store, upload_id, now=now) for upload_id in due)
    with transaction(context.sessions) as session:
        old = session.scalars(
            sa.delete(Upload)
            .where(Upload.state.in_(GONE_STATES), Upload.updated_at <= now - _expiry(context))
            .returning(Upload.id)
        ).all()
    for upload_id in old:
        store.remove(upload_id)  # normally gone already; not after a crash mid-termination
    if expired or old:
        logger.info("upload sweep", extra={"expired": expired, "purged": len(old)})
    return SweepReport(expired=expired, purged=len(old))


def _expire(
    context: AppContext, store: UploadStore, upload_id: uuid.UUID, *, now: dt.datetime
) -> bool:
    try:
        handle = store.open(upload_id)
    except FileNotFoundError:
        handle = None
    try:
        if handle is not None and not handle.try_lock():
            return False
        with transaction(context.sessions) as session:
            expired = _rowcount(
                session.execute(
                    sa.update(Upload)
                    .where(
                        Upload.id == upload_id,
                        Upload.state.in_(LIVE_STATES),
                        Upload.expires_at <= now,
                    )
                    .values(state=UploadState.EXPIRED, updated_at=now, expires_at=None)
                )
            )
        if expired:
            store.remove(upload_id)
        return bool(expired)
    finally:
        if handle is not None:
            handle.close()


async def sweep_periodically(context: AppContext, store: UploadStore) -> None:
    """Run ``sweep`` every ``upload_sweep_interval`` seconds until cancelled."""
    while True:
        await asyncio.sleep(context.settings.upload_sweep_interval)
        try:
            await asyncio.to_thread(sweep, context, store)
        except Exception:
            logger.exception("upload sweep failed; retrying at the next interval")


# --- helpers -------------------------------------------------------------------------------


def _live(session: Session, upload_id: uuid.UUID, *, now: dt.datetime) -> Upload:
    upload = session.get(Upload, upload_id)
    if upload is None:
        raise UploadNotFound(f"no upload with id {upload_id}")
    if upload.state in GONE_STATES or _has_expired(upload, now):
        state = "expired" if upload.state != UploadState.TERMINATED else "terminated"
        raise UploadGone(f"upload {upload_id} was {state}; its data is deleted")
    return upload


def _has_expired(upload: Upload, now: dt.datetime) -> bool:
    return upload.expires_at is not None and upload.expires_at <= now


async def _lock(context: AppContext, store: UploadStore, upload_id: uuid.UUID) -> UploadFile:
    """Open and lock the upload's file, waiting up to ``upload_lock_wait`` seconds."""
    try:
        handle = store.open(upload_id)
    except FileNotFoundError:
        raise UploadGone(f"upload {upload_id} was deleted") from None
    deadline = time.monotonic() + context.settings.upload_lock_wait
    while not handle.try_lock():
        if time.monotonic() >= deadline:
            handle.close()
            raise UploadLocked(
                f"another request is writing upload {upload_id}; retry after it finishes"
            )
        await asyncio.sleep(LOCK_POLL_SECONDS)
    return handle


def _expiry(context: AppContext) -> dt.timedelta:
    return dt.timedelta(seconds=context.settings.upload_expiry)


def _rowcount(result: sa.Result[Any]) -> int:
    # DML statements return a CursorResult; the Session API is typed with the general Result.
    return cast(sa.CursorResult[Any], result).rowcount
