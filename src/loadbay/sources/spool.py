"""Bytes from a source written into the upload store as one new complete upload.

The same path as a multipart upload (``uploads.service.receive_file``): written through the
bounded buffer, hashed (whole-file MD5 and SHA-256, recorded on the upload like a tus
upload's), fsync'd before the row says complete, capped at ``LOADBAY_MAX_UPLOAD_BYTES``.
A stream that fails midway leaves neither bytes nor a row behind.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator

from loadbay.context import AppContext
from loadbay.sources.errors import SourceTooLarge
from loadbay.uploads import metadata as upload_metadata
from loadbay.uploads import service as uploads
from loadbay.uploads.errors import InvalidMetadata, UploadTooLarge
from loadbay.uploads.models import Upload
from loadbay.uploads.store import UploadStore


async def _async_chunks(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    # The source blocks (network reads, database progress writes): each step runs in a
    # thread, so the upload's I/O thread keeps writing the previous buffer meanwhile.
    while (chunk := await asyncio.to_thread(next, chunks, None)) is not None:
        yield chunk


def _metadata(filename: str, content_type: str | None) -> str | None:
    pairs: dict[str, bytes] = {}
    with contextlib.suppress(InvalidMetadata):  # a name the upload rules refuse: not shown
        pairs["filename"] = upload_metadata.clean_filename(filename).encode()
    if content_type:
        # The media type without its parameters ("; charset=…"), as upload metadata has it.
        media_type = content_type.split(";", 1)[0].strip()
        with contextlib.suppress(InvalidMetadata):
            pairs["filetype"] = upload_metadata.clean_content_type(media_type).encode()
    return upload_metadata.encode(pairs) if pairs else None


def spool(
    context: AppContext,
    store: UploadStore,
    chunks: Iterator[bytes],
    *,
    filename: str,
    content_type: str | None,
    what: str,
) -> Upload:
    """Store ``chunks`` as a complete upload. Blocking (it runs its own event loop).

    ``what`` names the source in the too-large message (a redacted URL)."""
    limit = context.settings.max_upload_bytes
    try:
        return asyncio.run(
            uploads.receive_file(
                context,
                store,
                metadata=_metadata(filename, content_type),
                chunks=_async_chunks(chunks),
                max_bytes=limit,
            )
        )
    except UploadTooLarge:
        raise SourceTooLarge(
            f"{what} is larger than the maximum upload size of {limit} bytes "
            "(LOADBAY_MAX_UPLOAD_BYTES)",
            limit=limit,
        ) from None
