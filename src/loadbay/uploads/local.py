"""A file on this machine turned into a complete upload, for imports run without a server.

The bytes go through the same path as a tus PATCH (``service.append``): written under the
upload's lock, hashed (whole-file MD5 and SHA-256) as they arrive, made durable every
``upload_checkpoint_bytes`` and fsync'd before the row is committed as complete. The source
is opened once and judged by ``fstat`` on that descriptor, so what is checked is what is
read; its name is display metadata only (storage paths come from the upload id).
"""

from __future__ import annotations

import asyncio
import logging
import os
import stat
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from loadbay.context import AppContext
from loadbay.errors import InvalidInput
from loadbay.uploads import metadata as upload_metadata
from loadbay.uploads import service as uploads
from loadbay.uploads.errors import InvalidMetadata, UploadTooLarge
from loadbay.uploads.models import Upload, UploadState
from loadbay.uploads.store import READ_BLOCK, UploadStore

logger = logging.getLogger("loadbay.uploads")

# Called with the number of bytes copied so far.
OnProgress = Callable[[int], None]


class UnreadableLocalFile(InvalidInput):
    """The local file cannot be imported as it is: missing, not a regular file, unreadable,
    or changed while it was copied."""

    slug = "unreadable-local-file"
    title = "Unreadable local file"


def upload_local_file(
    context: AppContext,
    store: UploadStore,
    *,
    path: Path,
    on_progress: OnProgress | None = None,
) -> Upload:
    """Copy ``path`` into ``store`` as a new complete upload and return its row.

    Blocking (it runs its own event loop): call it from a thread in async code. A copy that
    fails is terminated: its bytes are deleted and its row stays a tombstone until the sweep.
    """
    fd = _open_regular(path)
    try:
        size = os.fstat(fd).st_size
        limit = context.settings.max_upload_bytes
        if size > limit:
            raise UploadTooLarge(
                f"{path} is {size} bytes, more than the maximum upload of {limit} bytes "
                "(LOADBAY_MAX_UPLOAD_BYTES)",
                limit=limit,
            )
        upload = uploads.create_upload(context, store, length=size, metadata=_metadata(path.name))
        if size == 0:
            return upload  # complete at creation: nothing to copy
        try:
            upload = asyncio.run(
                uploads.append(
                    context,
                    store,
                    upload_id=upload.id,
                    offset=0,
                    chunks=_chunks(fd, path, size, on_progress),
                    body_size=size,
                )
            )
        except BaseException:
            _discard(context, store, upload)
            raise
    finally:
        os.close(fd)
    if upload.state != UploadState.COMPLETE:
        # append() completes an upload whose bytes reach its declared length; anything else
        # is a bug worth reporting, not an upload to import.
        raise RuntimeError(f"upload {upload.id} of {path} ended {upload.state}, not complete")
    return upload


def _discard(context: AppContext, store: UploadStore, upload: Upload) -> None:
    """Terminate a partly copied upload; a failure here must not hide the copy's own error."""
    try:
        asyncio.run(uploads.terminate(context, store, upload_id=upload.id))
    except Exception:
        logger.exception("could not terminate the partly copied upload %s", upload.id)


def _open_regular(path: Path) -> int:
    """A read-only descriptor of a regular file, or UnreadableLocalFile saying why not.

    O_NONBLOCK keeps a FIFO from blocking the open until a writer appears; it has no effect
    on regular files, the only kind accepted.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise UnreadableLocalFile(f"{path}: no such file") from None
    except PermissionError:
        raise UnreadableLocalFile(f"{path}: permission denied (the file is not readable)") from None
    except OSError as exc:
        raise UnreadableLocalFile(f"{path}: cannot open: {exc.strerror}") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        kind = "a directory" if stat.S_ISDIR(mode) else "not a regular file"
        raise UnreadableLocalFile(f"{path} is {kind}; give the path of a file to import")
    return fd


def _metadata(name: str) -> str | None:
    """tus ``Upload-Metadata`` carrying the file name for display, when it is a clean one.

    A name the upload rules refuse (control characters, undecodable bytes from the file
    system) is simply not recorded: the import does not need it.
    """
    try:
        clean = upload_metadata.clean_filename(name)
        return upload_metadata.encode({"filename": clean.encode("utf-8")})
    except (InvalidMetadata, UnicodeEncodeError):
        return None


async def _chunks(
    fd: int, path: Path, size: int, on_progress: OnProgress | None
) -> AsyncIterator[bytes]:
    """Exactly ``size`` bytes of ``fd``; a file that grows or shrinks meanwhile is refused,
    since its hash and length would describe neither the old file nor the new one."""
    copied = 0
    while copied < size:
        block = await asyncio.to_thread(_read, fd, path, min(READ_BLOCK, size - copied), copied)
        if not block:
            raise UnreadableLocalFile(
                f"{path} changed while it was copied: it ended after {copied} of {size} bytes"
            )
        copied += len(block)
        yield block
        if on_progress is not None:
            on_progress(copied)
    if await asyncio.to_thread(_read, fd, path, 1, copied):
        raise UnreadableLocalFile(f"{path} changed while it was copied: it grew past {size} bytes")


def _read(fd: int, path: Path, length: int, position: int) -> bytes:
    try:
        return os.pread(fd, length, position)
    except OSError as exc:
        raise UnreadableLocalFile(
            f"{path}: read failed at byte {position}: {exc.strerror}"
        ) from None
