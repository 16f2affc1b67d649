"""Upload bytes on the local disk: one file per upload, its lock, and incremental hashing.

Layout: ``<data_dir>/uploads/<upload id as 32 hex digits>``. Paths are built from the UUID
only; nothing a client sends reaches a path.

Locking: a writer holds ``flock(LOCK_EX)`` on the upload's own data file for the whole request.
flock locks belong to an open file description, so two requests conflict whether they run in
one process or in several worker processes on this machine. A file that is deleted while
someone waits for its lock leaves the waiter holding an unlinked inode; every writer therefore
re-reads the upload's state after locking and never revives a deleted upload. (Several
machines need a shared lock service instead, e.g. a Redis lock with a fencing token.)

Hashing: MD5 and SHA-256 of the whole file are updated as bytes arrive. hashlib objects cannot
be saved, so each process keeps the running state in memory (``HashCache``) together with the
offset it covers. When a process meets an upload whose stored prefix it has not hashed (after
a restart, or when another worker wrote the previous chunk), it hashes the missing range once
from the file before appending: ``[cached offset, offset)`` or, without a cache entry,
``[0, offset)``. Within one process the bytes are read exactly once.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import fcntl
import hashlib
import os
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

CHECKSUM_ALGORITHMS = ("sha1", "md5", "sha256")
READ_BLOCK = 1024 * 1024
PARALLEL_HASH_MIN = 256 * 1024

_md5_pool = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="upload-md5")


@dataclass(frozen=True, slots=True)
class Checksum:
    """An ``Upload-Checksum``: the digest the client computed over one request body."""

    algorithm: str
    digest: bytes


class WholeFileHash:
    """MD5 and SHA-256 of everything appended so far."""

    def __init__(self) -> None:
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._sha256 = hashlib.sha256()

    def update(self, data: bytes) -> None:
        if len(data) < PARALLEL_HASH_MIN:
            self._md5.update(data)
            self._sha256.update(data)
            return
        # hashlib releases the GIL on large inputs: MD5 (the slowest) runs on another core
        # while this thread does SHA-256, which roughly halves the time per buffer.
        md5_done = _md5_pool.submit(self._md5.update, data)
        try:
            self._sha256.update(data)
        finally:
            md5_done.result()

    def copy(self) -> WholeFileHash:
        twin = WholeFileHash()
        twin._md5, twin._sha256 = self._md5.copy(), self._sha256.copy()
        return twin

    @property
    def md5(self) -> str:
        return self._md5.hexdigest()

    @property
    def sha256(self) -> str:
        return self._sha256.hexdigest()


class HashCache:
    """Per-process running hashes of unfinished uploads, least recently used evicted first."""

    def __init__(self, capacity: int = 4096) -> None:
        self._capacity = capacity
        self._entries: OrderedDict[uuid.UUID, tuple[int, WholeFileHash]] = OrderedDict()
        self._mutex = threading.Lock()

    def resume(self, upload_id: uuid.UUID, fd: int, offset: int) -> WholeFileHash:
        """The hash of the file's first ``offset`` bytes, reading only what is not cached."""
        with self._mutex:
            cached_offset, hashed = self._entries.pop(upload_id, (0, WholeFileHash()))
        if cached_offset > offset:  # cannot happen for committed bytes; be safe, not fast
            cached_offset, hashed = 0, WholeFileHash()
        position = cached_offset
        while position < offset:
            block = os.pread(fd, min(READ_BLOCK, offset - position), position)
            if not block:
                raise OSError(f"upload file is shorter ({position}) than its offset ({offset})")
            hashed.update(block)
            position += len(block)
        return hashed

    def keep(self, upload_id: uuid.UUID, offset: int, hashed: WholeFileHash) -> None:
        with self._mutex:
            self._entries[upload_id] = (offset, hashed)
            self._entries.move_to_end(upload_id)
            while len(self._entries) > self._capacity:
                self._entries.popitem(last=False)

    def forget(self, upload_id: uuid.UUID) -> None:
        with self._mutex:
            self._entries.pop(upload_id, None)


class UploadFile:
    """An open upload data file; ``try_lock`` takes the exclusive per-upload lock."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def try_lock(self) -> bool:
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def close(self) -> None:
        # Closing the last descriptor of the open file description releases the flock.
        os.close(self.fd)


class AppendWriter:
    """Appends one request body at ``start``; can discard back to the last durable point.

    ``sync`` makes the bytes written so far durable (fdatasync) and moves the durable point;
    ``discard`` truncates to it and rewinds the whole-file hash accordingly, so a rejected
    chunk (checksum mismatch, too long) leaves file and hash exactly as they were.
    """

    def __init__(
        self, fd: int, *, start: int, hashed: WholeFileHash, checksum: Checksum | None
    ) -> None:
        # Bytes past the recorded offset were never acknowledged (a crash mid-request): drop.
        os.ftruncate(fd, start)
        self._fd = fd
        self.start = start
        self.position = start
        self.durable = start
        self.hashed = hashed
        self._durable_hash = hashed.copy()
        self._chunk_hash = hashlib.new(checksum.algorithm) if checksum else None
        self._expected = checksum.digest if checksum else None

    def write(self, data: bytes) -> None:
        start = self.position
        view = memoryview(data)
        while view:
            written = os.pwrite(self._fd, view, self.position)
            view = view[written:]
            self.position += written
        # Start writing these pages to disk now (Linux begins writeback for dirty pages on
        # DONTNEED), so that the fdatasync before the 204 finds little left to do; it also
        # keeps large uploads from crowding the page cache.
        os.posix_fadvise(self._fd, start, len(data), os.POSIX_FADV_DONTNEED)
        self.hashed.update(data)
        if self._chunk_hash is not None:
            self._chunk_hash.update(data)

    def sync(self) -> None:
        os.fdatasync(self._fd)
        self.durable = self.position
        self._durable_hash = self.hashed.copy()

    def discard(self) -> None:
        os.ftruncate(self._fd, self.durable)
        self.position = self.durable
        self.hashed = self._durable_hash.copy()

    def checksum_matches(self) -> bool:
        """Whether the bytes written match the Upload-Checksum (no checksum: vacuously)."""
        return self._chunk_hash is None or self._chunk_hash.digest() == self._expected


class UploadStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.hashes = HashCache()

    @classmethod
    def at(cls, data_dir: Path) -> UploadStore:
        root = data_dir / "uploads"
        root.mkdir(parents=True, exist_ok=True)
        return cls(root)

    def path(self, upload_id: uuid.UUID) -> Path:
        return self.root / upload_id.hex

    def create(self, upload_id: uuid.UUID) -> UploadFile:
        """A new, empty, locked data file whose directory entry is durable."""
        fd = os.open(self.path(upload_id), os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        handle = UploadFile(fd)
        handle.try_lock()  # nobody else knows the id yet
        self._sync_directory()
        return handle

    def open(self, upload_id: uuid.UUID) -> UploadFile:
        """The existing data file (FileNotFoundError once the upload is deleted)."""
        return UploadFile(os.open(self.path(upload_id), os.O_RDWR))

    def remove(self, upload_id: uuid.UUID) -> None:
        self.hashes.forget(upload_id)
        with contextlib.suppress(FileNotFoundError):
            self.path(upload_id).unlink()

    def concatenate(self, target: uuid.UUID, parts: list[uuid.UUID]) -> tuple[int, WholeFileHash]:
        """Write the parts one after another into a new file ``target``, hashing as it goes.

        Every part is opened before anything is copied, so a part deleted meanwhile is either
        reported (FileNotFoundError) or read whole from its still-open inode.
        """
        sources: list[int] = []
        try:
            for part in parts:
                sources.append(os.open(self.path(part), os.O_RDONLY))
            handle = self.create(target)
            try:
                writer = AppendWriter(handle.fd, start=0, hashed=WholeFileHash(), checksum=None)
                for fd in sources:
                    while block := os.read(fd, READ_BLOCK):
                        writer.write(block)
                writer.sync()
            except BaseException:
                self.remove(target)
                raise
            finally:
                handle.close()
        finally:
            for fd in sources:
                os.close(fd)
        return writer.position, writer.hashed

    def _sync_directory(self) -> None:
        fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
