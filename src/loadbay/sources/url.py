"""The URL source: one remote file streamed into the upload store, then imported like an
upload. Redirects are followed by the outbound client, each hop through the SSRF guard."""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable, Iterator

import httpx

from loadbay.context import AppContext
from loadbay.outbound.errors import redact_url
from loadbay.sources.config import UrlSource
from loadbay.sources.errors import SourceHTTPError, SourceTooLarge
from loadbay.sources.spool import spool
from loadbay.uploads.models import Upload
from loadbay.uploads.store import UploadStore

# Called with the bytes stored so far and the size announced (None: unknown).
OnBytes = Callable[[int, int | None], None]


def file_name(url: httpx.URL, default: str) -> str:
    """The last path segment of ``url`` (percent-decoded), for display only."""
    segment = urllib.parse.unquote(url.path.rstrip("/").rpartition("/")[2])
    return segment or default


def _announced_size(response: httpx.Response) -> int | None:
    # With a Content-Encoding the length counts the compressed bytes, not what is stored.
    if response.headers.get("content-encoding", "identity") != "identity":
        return None
    value = response.headers.get("content-length", "")
    return int(value) if value.isdigit() else None


def download(
    context: AppContext, store: UploadStore, source: UrlSource, *, on_bytes: OnBytes
) -> Upload:
    """Stream ``source.url`` into a new complete upload; SourceHTTPError for a non-2xx
    answer, SourceTooLarge past ``LOADBAY_MAX_UPLOAD_BYTES`` (announced or received)."""
    shown = redact_url(source.url)
    limit = context.settings.max_upload_bytes
    with context.outbound.stream("GET", source.url) as response:
        if not response.is_success:
            raise SourceHTTPError(
                method="GET", url=shown, status=response.status_code, reason=response.reason_phrase
            )
        size = _announced_size(response)
        if size is not None and size > limit:
            raise SourceTooLarge(
                f"GET {shown}: the file is {size} bytes (Content-Length), larger than the "
                f"maximum upload size of {limit} bytes (LOADBAY_MAX_UPLOAD_BYTES)",
                limit=limit,
            )

        def chunks() -> Iterator[bytes]:
            done = 0
            for chunk in response.iter_bytes():
                done += len(chunk)
                yield chunk
                on_bytes(done, size)

        return spool(
            context,
            store,
            chunks(),
            filename=file_name(response.url, default=response.url.host or "download"),
            content_type=response.headers.get("content-type"),
            what=f"GET {shown}",
        )
