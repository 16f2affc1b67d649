"""tus 1.0.0 at the HTTP level: constants, strict header parsing, and the protocol middleware.

Header problems are answered here as ``HTTPProblem`` (400, 412, 415): they concern the HTTP
exchange, not the upload. ``TusMiddleware`` wraps the application so that every response
under ``/api/uploads`` (errors and CORS preflights included) carries ``Tus-Resumable``, and
``X-HTTP-Method-Override`` on a POST is honoured before routing.
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import hashlib
import re
import uuid
from datetime import datetime

from fastapi import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from loadbay.api_errors import HTTPProblem, problem_response
from loadbay.uploads.store import CHECKSUM_ALGORITHMS, Checksum

TUS_VERSION = "1.0.0"
TUS_EXTENSIONS = (
    "creation",
    "creation-with-upload",
    "creation-defer-length",
    "termination",
    "checksum",
    "expiration",
    "concatenation",
)
OFFSET_STREAM = "application/offset+octet-stream"
PREFIX = "/api/uploads"

_UINT = re.compile(r"[0-9]{1,19}")
_OVERRIDABLE = frozenset({"PATCH", "DELETE", "HEAD", "GET", "OPTIONS"})
_UPLOAD_PATH = re.compile(
    r"(?:^|/)uploads/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$"
)
_HOST = re.compile(r"[A-Za-z0-9.-]+(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?")


def bad_header(name: str, detail: str) -> HTTPProblem:
    return HTTPProblem(400, "invalid-tus-header", f"Invalid {name}", detail, header=name)


def require_tus_resumable(request: Request) -> None:
    """412 unless the client speaks tus 1.0.0 (every tus request except OPTIONS says so)."""
    given = request.headers.get("tus-resumable")
    if given != TUS_VERSION:
        raise HTTPProblem(
            412,
            "unsupported-tus-version",
            "Unsupported tus version",
            f"Tus-Resumable must be {TUS_VERSION}, got {given!r}",
            headers={"Tus-Version": TUS_VERSION},
        )


def upload_id_from_path(value: str) -> uuid.UUID | None:
    """The upload id of a URL path segment; only the canonical lower-case form is an id."""
    try:
        parsed = uuid.UUID(value)
    except ValueError:
        return None
    return parsed if str(parsed) == value else None


def parse_uint(request: Request, name: str) -> int | None:
    """A non-negative integer header (``Upload-Length``, ``Upload-Offset``), None if absent."""
    value = request.headers.get(name)
    if value is None:
        return None
    if not _UINT.fullmatch(value):
        raise bad_header(name, f"{name} must be a non-negative integer (at most 19 digits)")
    return int(value)


def parse_defer_length(request: Request) -> bool:
    value = request.headers.get("upload-defer-length")
    if value is None:
        return False
    if value != "1":
        raise bad_header("Upload-Defer-Length", "Upload-Defer-Length must be 1 when present")
    return True


def parse_checksum(request: Request) -> Checksum | None:
    """``Upload-Checksum: <algorithm> <base64 digest>`` (tus checksum extension)."""
    value = request.headers.get("upload-checksum")
    if value is None:
        return None
    algorithm, space, encoded = value.partition(" ")
    if not space:
        raise bad_header("Upload-Checksum", "Upload-Checksum must be '<algorithm> <base64 digest>'")
    if algorithm not in CHECKSUM_ALGORITHMS:
        raise bad_header(
            "Upload-Checksum",
            f"unsupported checksum algorithm {algorithm!r}; use one of "
            f"{', '.join(CHECKSUM_ALGORITHMS)}",
        )
    try:
        digest = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise bad_header("Upload-Checksum", "the digest is not base64") from None
    expected = hashlib.new(algorithm).digest_size
    if len(digest) != expected:
        raise bad_header(
            "Upload-Checksum",
            f"a {algorithm} digest has {expected} bytes, this one has {len(digest)}",
        )
    return Checksum(algorithm, digest)


def parse_concat(request: Request) -> str | list[uuid.UUID] | None:
    """``Upload-Concat``: ``"partial"``, the ids of a ``final;<url> <url>…``, or None."""
    value = request.headers.get("upload-concat")
    if value is None:
        return None
    if value == "partial":
        return value
    kind, _, urls = value.partition(";")
    if kind != "final" or not urls.strip():
        raise bad_header(
            "Upload-Concat", "Upload-Concat must be 'partial' or 'final;<url> <url> ...'"
        )
    parts = []
    for url in urls.split():
        match = _UPLOAD_PATH.search(url.split("?", 1)[0].rstrip("/"))
        if match is None:
            raise bad_header("Upload-Concat", f"{url[:200]!r} is not the URL of an upload")
        parts.append(uuid.UUID(match.group(1)))
    return parts


def has_body(request: Request) -> bool:
    length = request.headers.get("content-length")
    if length is not None:
        return length != "0"
    return "chunked" in request.headers.get("transfer-encoding", "").lower()


def content_length(request: Request) -> int | None:
    value = request.headers.get("content-length")
    return int(value) if value is not None and value.isdigit() else None


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def require_offset_stream(request: Request) -> None:
    if media_type(request) != OFFSET_STREAM:
        raise HTTPProblem(
            415,
            "unsupported-media-type",
            "Unsupported media type",
            f"upload data must be sent as Content-Type: {OFFSET_STREAM}, got "
            f"{request.headers.get('content-type')!r}",
        )


def http_date(moment: datetime) -> str:
    return email.utils.format_datetime(moment, usegmt=True)


def upload_url(request: Request, upload_id: uuid.UUID, *, trust_proxy: bool) -> str:
    """The absolute URL of an upload; X-Forwarded-* only count behind a trusted proxy."""
    scheme, host = request.url.scheme, request.headers.get("host", "")
    if trust_proxy:
        forwarded_proto = _first(request.headers.get("x-forwarded-proto"))
        forwarded_host = _first(request.headers.get("x-forwarded-host"))
        if forwarded_proto in {"http", "https"}:
            scheme = forwarded_proto
        if forwarded_host and _HOST.fullmatch(forwarded_host):
            host = forwarded_host
    if not _HOST.fullmatch(host):
        # No usable Host header: the address the server listens on is still a valid URL.
        server_host, server_port = request.scope.get("server") or ("localhost", None)
        host = f"{server_host}:{server_port}" if server_port else server_host
    root = request.scope.get("root_path", "").rstrip("/")
    return f"{scheme}://{host}{root}{PREFIX}/{upload_id}"


def _first(value: str | None) -> str:
    return (value or "").split(",", 1)[0].strip()


class TusMiddleware:
    """Tus-Resumable on every response under ``/api/uploads``; X-HTTP-Method-Override."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or not (path == PREFIX or path.startswith(PREFIX + "/")):
            await self.app(scope, receive, send)
            return

        async def send_with_version(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *message.get("headers", []),
                    (b"tus-resumable", TUS_VERSION.encode()),
                ]
            await send(message)

        override = dict(scope["headers"]).get(b"x-http-method-override")
        if override is not None and scope["method"] == "POST":
            method = override.decode("latin-1").strip().upper()
            if method not in _OVERRIDABLE:
                response = problem_response(
                    Request(scope),
                    status=400,
                    slug="invalid-method-override",
                    title="Invalid X-HTTP-Method-Override",
                    detail="X-HTTP-Method-Override must be one of "
                    + ", ".join(sorted(_OVERRIDABLE)),
                )
                await response(scope, receive, send_with_version)
                return
            scope = dict(scope, method=method)
        await self.app(scope, receive, send_with_version)
