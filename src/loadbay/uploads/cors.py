"""CORS for browser clients (Uppy, tus-js-client): tus request headers in, tus headers out.

Applied app-wide by ``install_cors`` when ``LOADBAY_CORS_ORIGINS`` is set; the header lists
cover the rest of the API too (request ids, idempotency keys, Location).
"""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

ALLOWED_METHODS = ("GET", "HEAD", "POST", "PATCH", "DELETE", "OPTIONS")
ALLOWED_HEADERS = (
    "Authorization",
    "Content-Type",
    "Idempotency-Key",
    "Tus-Resumable",
    "Upload-Checksum",
    "Upload-Concat",
    "Upload-Defer-Length",
    "Upload-Length",
    "Upload-Metadata",
    "Upload-Offset",
    "X-API-Key",
    "X-CSRF-Token",
    "X-HTTP-Method-Override",
    "X-Request-ID",
    "X-Requested-With",
)
EXPOSED_HEADERS = (
    "Location",
    "RateLimit",
    "RateLimit-Policy",
    "Retry-After",
    "Tus-Checksum-Algorithm",
    "Tus-Extension",
    "Tus-Max-Size",
    "Tus-Resumable",
    "Tus-Version",
    "Upload-Concat",
    "Upload-Defer-Length",
    "Upload-Expires",
    "Upload-Length",
    "Upload-Metadata",
    "Upload-Offset",
    "X-Request-ID",
)
PREFLIGHT_MAX_AGE = 86400


def install_cors(app: FastAPI, origins: Sequence[str]) -> None:
    """Answer CORS preflights and expose the tus headers to ``origins`` (none: no CORS)."""
    if not origins:
        return
    app.add_middleware(
        CORSMiddleware,
        allow_origins=list(origins),
        allow_methods=list(ALLOWED_METHODS),
        allow_headers=list(ALLOWED_HEADERS),
        expose_headers=list(EXPOSED_HEADERS),
        max_age=PREFLIGHT_MAX_AGE,
    )
