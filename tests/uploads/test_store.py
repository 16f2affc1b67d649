"""The file store: paths from ids, locks across descriptors and processes, hashing, rollback."""

from __future__ import annotations

import hashlib
import itertools
import multiprocessing
import os
import uuid
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loadbay.uploads.store import AppendWriter, Checksum, HashCache, UploadStore, WholeFileHash


def test_paths_come_from_the_id_only(tmp_path: Path) -> None:
    store = UploadStore.at(tmp_path)
    upload_id = uuid.UUID("12345678-1234-5678-1234-567812345678")
    assert store.path(upload_id) == tmp_path / "uploads" / "12345678123456781234567812345678"


def test_a_lock_excludes_other_descriptors_in_the_same_process(tmp_path: Path) -> None:
    store = UploadStore.at(tmp_path)
    upload_id = uuid.uuid4()
    store.create(upload_id).close()
    first, second = store.open(upload_id), store.open(upload_id)
    assert first.try_lock()
    assert not second.try_lock()
    first.close()
    assert second.try_lock()
    second.close()


def _try_lock_in_child(root: str, upload_id: str, result: multiprocessing.Queue[bool]) -> None:
    handle = UploadStore(Path(root)).open(uuid.UUID(upload_id))
    result.put(handle.try_lock())
    handle.close()


def test_a_lock_excludes_other_processes(tmp_path: Path) -> None:
    store = UploadStore.at(tmp_path)
    upload_id = uuid.uuid4()
    store.create(upload_id).close()
    holder = store.open(upload_id)
    assert holder.try_lock()
    context = multiprocessing.get_context("spawn")
    result: multiprocessing.Queue[bool] = context.Queue()
    child = context.Process(
        target=_try_lock_in_child, args=(str(store.root), str(upload_id), result)
    )
    child.start()
    child.join(30)
    assert result.get(timeout=5) is False
    holder.close()


def _writer(store: UploadStore, upload_id: uuid.UUID, start: int = 0) -> AppendWriter:
    handle = store.open(upload_id)
    hashed = store.hashes.resume(upload_id, handle.fd, start)
    return AppendWriter(handle.fd, start=start, hashed=hashed, checksum=None)


def test_discard_returns_to_the_last_durable_point(tmp_path: Path) -> None:
    store = UploadStore.at(tmp_path)
    upload_id = uuid.uuid4()
    store.create(upload_id).close()
    writer = _writer(store, upload_id)
    writer.write(b"kept")
    writer.sync()
    writer.write(b"dropped")
    writer.discard()
    writer.write(b"!")
    writer.sync()
    assert store.path(upload_id).read_bytes() == b"kept!"
    assert writer.hashed.sha256 == hashlib.sha256(b"kept!").hexdigest()


def test_a_writer_cuts_bytes_past_the_recorded_offset(tmp_path: Path) -> None:
    """After a crash, the file may hold bytes that were never acknowledged."""
    store = UploadStore.at(tmp_path)
    upload_id = uuid.uuid4()
    store.create(upload_id).close()
    store.path(upload_id).write_bytes(b"acked-unacked")
    writer = _writer(store, upload_id, start=5)
    writer.write(b"+new")
    writer.sync()
    assert store.path(upload_id).read_bytes() == b"acked+new"
    assert writer.hashed.md5 == hashlib.md5(b"acked+new").hexdigest()


def test_checksum_is_over_the_request_body_only(tmp_path: Path) -> None:
    store = UploadStore.at(tmp_path)
    upload_id = uuid.uuid4()
    store.create(upload_id).close()
    store.path(upload_id).write_bytes(b"prefix")
    handle = store.open(upload_id)
    digest = hashlib.sha1(b"body").digest()
    writer = AppendWriter(
        handle.fd, start=6, hashed=WholeFileHash(), checksum=Checksum("sha1", digest)
    )
    writer.write(b"bo")
    writer.write(b"dy")
    assert writer.checksum_matches()
    writer.write(b"!")
    assert not writer.checksum_matches()
    handle.close()


@settings(max_examples=30, deadline=None)
@given(
    data=st.binary(max_size=3000),
    cuts=st.lists(st.integers(min_value=0, max_value=3000), max_size=4),
    forget=st.lists(st.booleans(), min_size=5, max_size=5),
)
def test_hash_cache_catches_up_from_any_point(
    tmp_path_factory: pytest.TempPathFactory, data: bytes, cuts: list[int], forget: list[bool]
) -> None:
    """Whatever a process missed (restart, another worker), the final digest is right."""
    store = UploadStore.at(tmp_path_factory.mktemp("store"))
    upload_id = uuid.uuid4()
    store.create(upload_id).close()
    bounds = sorted({0, len(data), *(min(c, len(data)) for c in cuts)})
    for index, (start, end) in enumerate(itertools.pairwise(bounds)):
        if forget[index % len(forget)]:
            store.hashes = HashCache()  # a new process, or another worker wrote before
        writer = _writer(store, upload_id, start)
        writer.write(data[start:end])
        writer.sync()
        store.hashes.keep(upload_id, writer.durable, writer.hashed)
    handle = store.open(upload_id)
    final = store.hashes.resume(upload_id, handle.fd, len(data))
    handle.close()
    assert (final.md5, final.sha256) == (
        hashlib.md5(data).hexdigest(),
        hashlib.sha256(data).hexdigest(),
    )


def test_hash_cache_reads_only_the_missing_range(tmp_path: Path) -> None:
    store = UploadStore.at(tmp_path)
    upload_id = uuid.uuid4()
    store.create(upload_id).close()
    store.path(upload_id).write_bytes(b"abcdef")
    partial = WholeFileHash()
    partial.update(b"abc")
    store.hashes.keep(upload_id, 3, partial)
    # Overwrite the first bytes on disk: a cache that re-read them would notice.
    with store.path(upload_id).open("r+b") as raw:
        raw.write(b"XYZ")
    fd = os.open(store.path(upload_id), os.O_RDONLY)
    resumed = store.hashes.resume(upload_id, fd, 6)
    os.close(fd)
    assert resumed.sha256 == hashlib.sha256(b"abcdef").hexdigest()


def test_hash_cache_is_bounded() -> None:
    cache = HashCache(capacity=2)
    ids = [uuid.uuid4() for _ in range(3)]
    for upload_id in ids:
        cache.keep(upload_id, 0, WholeFileHash())
    assert list(cache._entries) == ids[1:]


def test_concatenate_hashes_while_copying(tmp_path: Path) -> None:
    store = UploadStore.at(tmp_path)
    parts = [uuid.uuid4() for _ in range(3)]
    for index, part in enumerate(parts):
        store.create(part).close()
        store.path(part).write_bytes(bytes([index]) * 1000)
    target = uuid.uuid4()
    size, hashed = store.concatenate(target, parts)
    expected = b"\x00" * 1000 + b"\x01" * 1000 + b"\x02" * 1000
    assert size == 3000
    assert store.path(target).read_bytes() == expected
    assert hashed.sha256 == hashlib.sha256(expected).hexdigest()


def test_concatenate_with_a_missing_part_leaves_nothing(tmp_path: Path) -> None:
    store = UploadStore.at(tmp_path)
    present = uuid.uuid4()
    store.create(present).close()
    with pytest.raises(FileNotFoundError):
        store.concatenate(uuid.uuid4(), [present, uuid.uuid4()])
    assert [p.name for p in store.root.iterdir()] == [present.hex]
