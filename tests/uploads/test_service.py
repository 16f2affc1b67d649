"""The upload service: interrupted bodies, checkpoints, locks, integrity, duplicates, sweeps."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from loadbay.context import AppContext
from loadbay.db import utcnow
from loadbay.settings import Settings
from loadbay.uploads import service
from loadbay.uploads.errors import (
    ChecksumMismatch,
    InvalidUploadRequest,
    UploadGone,
    UploadLocked,
    UploadNotReady,
)
from loadbay.uploads.metadata import encode
from loadbay.uploads.models import Upload, UploadKind, UploadState
from loadbay.uploads.store import Checksum, UploadStore
from tests.uploads.conftest import TUS, new_upload, patch, resource, sha256

KIB = 1024


@pytest.fixture
def store(settings: Settings) -> UploadStore:
    return UploadStore.at(settings.data_dir)


async def pieces(*chunks: bytes, then_fail: bool = False) -> AsyncIterator[bytes]:
    for chunk in chunks:
        await asyncio.sleep(0)
        yield chunk
    if then_fail:
        raise RuntimeError("the server is going down")


def append(
    context: AppContext, store: UploadStore, upload: Upload, *chunks: bytes, **kw: object
) -> Upload:
    options: dict[str, object] = {"body_size": None} | kw
    then_fail = bool(options.pop("then_fail", False))
    return asyncio.run(
        service.append(
            context,
            store,
            upload_id=upload.id,
            offset=int(options.pop("offset", upload.offset)),  # type: ignore[call-overload]
            chunks=pieces(*chunks, then_fail=then_fail),
            **options,  # type: ignore[arg-type]
        )
    )


def new(context: AppContext, store: UploadStore, length: int | None, **meta: str) -> Upload:
    header = encode({k: v.encode() for k, v in meta.items()}) if meta else None
    return service.create_upload(context, store, length=length, metadata=header)


def test_a_dropped_connection_keeps_what_arrived(context: AppContext, store: UploadStore) -> None:
    upload = new(context, store, 1000)
    after = append(context, store, upload, b"a" * 300, body_size=1000)
    assert after.offset == 300
    assert store.path(upload.id).read_bytes() == b"a" * 300


def test_a_dropped_connection_with_a_checksum_keeps_nothing(
    context: AppContext, store: UploadStore
) -> None:
    upload = new(context, store, 1000)
    digest = Checksum("sha1", hashlib.sha1(b"a" * 1000).digest())
    with pytest.raises(ChecksumMismatch, match="the body ended after 300 of 1000 bytes"):
        append(context, store, upload, b"a" * 300, body_size=1000, checksum=digest)
    assert service.get_upload(context, upload_id=upload.id).offset == 0
    assert store.path(upload.id).stat().st_size == 0


def test_a_failure_mid_body_keeps_the_last_checkpoint(
    context: AppContext, store: UploadStore, settings: Settings
) -> None:
    """Checkpoint every 64 KiB (test settings), at buffer boundaries: 7 chunks of 10 KiB."""
    assert settings.upload_checkpoint_bytes == 64 * KIB
    upload = new(context, store, 1024 * KIB)
    chunk = bytes(range(256)) * 40  # 10 KiB
    with pytest.raises(RuntimeError, match="going down"):
        append(context, store, upload, *[chunk] * 20, then_fail=True)
    stored = service.get_upload(context, upload_id=upload.id)
    assert stored.offset == 140 * KIB  # checkpoints at 70 and 140 KiB; 60 KiB discarded
    assert store.path(upload.id).stat().st_size == 140 * KIB
    rest = (chunk * 103)[: 1024 * KIB - 140 * KIB]
    done = append(context, store, stored, rest)
    assert done.sha256 == hashlib.sha256(chunk * 14 + rest).hexdigest()


def test_a_second_writer_gets_423(context: AppContext, store: UploadStore) -> None:
    upload = new(context, store, 10)
    holder = store.open(upload.id)
    assert holder.try_lock()  # as if another process were writing
    try:
        with pytest.raises(UploadLocked, match="another request is writing upload"):
            append(context, store, upload, b"abc")
        with pytest.raises(UploadLocked):
            asyncio.run(service.terminate(context, store, upload_id=upload.id))
        assert service.sweep(context, store, now=utcnow() + dt.timedelta(days=9)).expired == 0
    finally:
        holder.close()
    assert append(context, store, upload, b"abc").offset == 3


def test_423_over_http_and_the_lock_is_released_after_errors(
    client: TestClient, settings: Settings
) -> None:
    path = new_upload(client, 10)
    upload_id = uuid.UUID(path.rsplit("/", 1)[1])
    holder = UploadStore.at(settings.data_dir).open(upload_id)
    assert holder.try_lock()
    locked = patch(client, path, b"abc", 0)
    assert locked.status_code == 423
    assert locked.json()["type"] == "/problems/upload-locked"
    assert client.delete(path, headers=TUS).status_code == 423
    holder.close()
    assert patch(client, path, b"abc", 5).status_code == 409  # released after an error
    assert patch(client, path, b"abc", 0).status_code == 204


def test_a_restarted_server_resumes_the_hash(
    context: AppContext, store: UploadStore, settings: Settings
) -> None:
    data = bytes(range(256)) * 1000
    upload = new(context, store, len(data))
    upload = append(context, store, upload, data[:100_000])
    restarted = UploadStore.at(settings.data_dir)  # a new process: no hash state in memory
    assert restarted.hashes._entries == {}
    done = append(context, restarted, upload, data[100_000:])
    assert (done.md5, done.sha256) == (hashlib.md5(data).hexdigest(), sha256(data))


def test_two_workers_alternating_chunks_give_the_right_hash(
    context: AppContext, settings: Settings
) -> None:
    workers = [UploadStore.at(settings.data_dir), UploadStore.at(settings.data_dir)]
    data = bytes(range(256)) * 100
    upload = new(context, workers[0], len(data))
    for index, start in enumerate(range(0, len(data), 3000)):
        upload = append(context, workers[index % 2], upload, data[start : start + 3000])
    assert upload.sha256 == sha256(data)


def test_declared_digests_that_differ_make_the_upload_corrupt(
    context: AppContext, store: UploadStore
) -> None:
    upload = new(context, store, 5, md5=hashlib.md5(b"hello").hexdigest(), sha256="0" * 64)
    done = append(context, store, upload, b"hello")
    assert done.state == UploadState.CORRUPT
    assert done.problem == f"sha256 is {sha256(b'hello')}, the client declared {'0' * 64}"
    assert done.expires_at is not None  # corrupt uploads are cleaned up like unfinished ones
    with pytest.raises(UploadNotReady, match="is corrupt: sha256 is"):
        service.completed_path(context, store, upload_id=upload.id)


def test_matching_declared_digests_complete(context: AppContext, store: UploadStore) -> None:
    upload = new(
        context, store, 5, md5=hashlib.md5(b"HELLO").hexdigest().upper(), sha256=sha256(b"HELLO")
    )
    done = append(context, store, upload, b"HEL", b"LO")
    assert done.state == UploadState.COMPLETE
    assert service.completed_path(context, store, upload_id=upload.id).read_bytes() == b"HELLO"


def test_incomplete_uploads_cannot_be_imported(context: AppContext, store: UploadStore) -> None:
    upload = new(context, store, 5)
    with pytest.raises(UploadNotReady, match=r"is not complete \(0 of 5 bytes\)"):
        service.completed_path(context, store, upload_id=upload.id)


def test_duplicates_point_at_the_earliest_complete_upload(client: TestClient) -> None:
    paths = [new_upload(client, 4) for _ in range(3)]
    other = new_upload(client, 4)
    for path in paths:
        assert patch(client, path, b"same", 0).status_code == 204
    patch(client, other, b"diff", 0)
    first = paths[0].rsplit("/", 1)[1]
    assert resource(client, paths[0])["duplicate_of"] is None
    assert resource(client, paths[1])["duplicate_of"] == first
    assert resource(client, paths[2])["duplicate_of"] == first
    assert resource(client, other)["duplicate_of"] is None
    client.delete(paths[0], headers=TUS)
    assert resource(client, paths[2])["duplicate_of"] == paths[1].rsplit("/", 1)[1]


def _age(context: AppContext, upload_id: uuid.UUID, **values: object) -> None:
    with context.engine.begin() as conn:
        conn.execute(sa.update(Upload).where(Upload.id == upload_id).values(**values))


def test_sweep_expires_then_purges(context: AppContext, store: UploadStore) -> None:
    stale, fresh, done = new(context, store, 10), new(context, store, 10), new(context, store, 1)
    append(context, store, stale, b"abc")
    append(context, store, done, b"x")
    now = utcnow()
    _age(context, stale.id, expires_at=now - dt.timedelta(seconds=1))
    report = service.sweep(context, store, now=now)
    assert report == service.SweepReport(expired=1, purged=0)
    assert not store.path(stale.id).exists()
    assert store.path(fresh.id).exists()
    assert store.path(done.id).exists()
    with pytest.raises(UploadGone, match="was expired"):
        service.get_upload(context, upload_id=stale.id)
    # The tombstone answers 410 for one more expiry period, then it is deleted (404 after).
    later = now + dt.timedelta(seconds=context.settings.upload_expiry + 1)
    report = service.sweep(context, store, now=later)
    assert report.purged == 1
    assert report.expired == 1  # `fresh` has expired by then too; `done` never does
    with context.sessions() as session:
        states = {row.id: row.state for row in session.execute(sa.select(Upload.id, Upload.state))}
    assert states == {fresh.id: "expired", done.id: "complete"}


def test_a_crash_between_tombstone_and_unlink_is_cleaned_by_the_purge(
    context: AppContext, store: UploadStore
) -> None:
    upload = new(context, store, 10)
    now = utcnow()
    _age(context, upload.id, state=UploadState.TERMINATED, updated_at=now)  # file still there
    assert store.path(upload.id).exists()
    later = now + dt.timedelta(seconds=context.settings.upload_expiry + 1)
    assert service.sweep(context, store, now=later) == service.SweepReport(expired=0, purged=1)
    assert not store.path(upload.id).exists()


def test_a_crash_between_row_and_file_gives_410_and_expires(
    context: AppContext, store: UploadStore
) -> None:
    upload = new(context, store, 10)
    store.path(upload.id).unlink()  # as if the process died right after inserting the row
    with pytest.raises(UploadGone, match="was deleted"):
        append(context, store, upload, b"abc")
    later = utcnow() + dt.timedelta(seconds=context.settings.upload_expiry + 1)
    assert service.sweep(context, store, now=later).expired == 1


def test_the_sweep_runs_periodically_in_the_app(settings: Settings) -> None:
    from loadbay.app import create_app

    fast = settings.model_copy(update={"upload_sweep_interval": 1})
    with TestClient(create_app(fast)) as client:
        path = new_upload(client, 10)
        upload_id = uuid.UUID(path.rsplit("/", 1)[1])
        context: AppContext = client.app.state.context  # type: ignore[attr-defined]
        _age(context, upload_id, expires_at=utcnow() - dt.timedelta(seconds=1))
        file = Path(fast.data_dir) / "uploads" / upload_id.hex
        for _ in range(50):
            if not file.exists():
                break
            asyncio.run(asyncio.sleep(0.1))
        assert not file.exists()
        assert client.head(path, headers=TUS).status_code == 410


def test_hash_state_is_kept_per_upload(context: AppContext, store: UploadStore) -> None:
    upload = new(context, store, 10)
    append(context, store, upload, b"abc")
    assert list(store.hashes._entries) == [upload.id]
    done = append(context, store, service.get_upload(context, upload_id=upload.id), b"d" * 7)
    assert done.state == UploadState.COMPLETE
    assert store.hashes._entries == {}  # finished uploads drop their running hash


def test_a_partial_deleted_during_assembly_leaves_no_final(
    context: AppContext, store: UploadStore
) -> None:
    parts = []
    for piece in (b"abc", b"def"):
        part = service.create_upload(
            context, store, length=3, metadata=None, kind=UploadKind.PARTIAL
        )
        parts.append(append(context, store, part, piece).id)
    store.path(parts[1]).unlink()  # its row still says complete
    with pytest.raises(InvalidUploadRequest, match="deleted while being assembled"):
        service.create_final(context, store, parts=parts, metadata=None)
    with context.sessions() as session:
        kinds = session.scalars(sa.select(Upload.kind)).all()
    assert sorted(kinds) == ["partial", "partial"]
    assert sorted(p.name for p in store.root.iterdir()) == [parts[0].hex]


def test_durable_bytes_are_counted_in_metrics(client: TestClient) -> None:
    before = REGISTRY.get_sample_value("loadbay_uploaded_bytes_total") or 0.0
    path = new_upload(client, 300_000)
    assert patch(client, path, b"a" * 200_000, 0).status_code == 204
    assert patch(client, path, b"b" * 100_000, 200_000).status_code == 204
    after = REGISTRY.get_sample_value("loadbay_uploaded_bytes_total") or 0.0
    assert after - before == 300_000
