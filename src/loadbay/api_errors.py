"""The one place where errors become ``application/problem+json`` responses (RFC 9457).

Domain errors (loadbay.errors) map to statuses by class; HTTP-level problems (content type,
malformed JSON, body size) are raised by the API layer as ``HTTPProblem``. Anything else is a
bug: it answers 500 with the request id, and its stack trace goes to the log only.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException

from loadbay.destinations.errors import DestinationFailed
from loadbay.errors import (
    Conflict,
    ErrorDetail,
    InvalidInput,
    LoadbayError,
    NotFound,
    TooLarge,
    json_path,
)
from loadbay.outbound.errors import OutboundError
from loadbay.sources.errors import SourceFailed
from loadbay.uploads.errors import (
    ChecksumMismatch,
    InvalidUploadRequest,
    UploadGone,
    UploadLocked,
    UploadNotWritable,
)

logger = logging.getLogger("loadbay.api")

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "/problems/"

STATUS_BY_ERROR: dict[type[LoadbayError], int] = {
    NotFound: 404,
    Conflict: 409,
    InvalidInput: 422,
    TooLarge: 413,
    # tus 1.0.0: malformed or contradictory upload headers are 400, not 422.
    InvalidUploadRequest: 400,
    UploadNotWritable: 403,
    UploadGone: 410,
    UploadLocked: 423,
    ChecksumMismatch: 460,
    # The remote server failed us, not the client (OutboundRefused is an InvalidInput: 422).
    OutboundError: 502,
    DestinationFailed: 502,
    # A URL or REST source answered something unusable (seen as an import's failure type).
    SourceFailed: 502,
}


class ProblemItem(BaseModel):
    message: str
    path: str | None = None
    row: int | None = None
    column: str | None = None
    value: Any = None
    rule: str | None = None


class Problem(BaseModel):
    """RFC 9457 problem details, as every error response of the API carries them."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str
    instance: str
    request_id: str | None = None
    errors: list[ProblemItem] | None = None


def problem_responses(descriptions: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for error statuses; their bodies are set to Problem by
    ``install_problem_openapi``."""
    return {status: {"description": text} for status, text in descriptions.items()}


def install_problem_openapi(app: FastAPI) -> None:
    """Document every 4xx/5xx response as ``application/problem+json`` with the Problem
    schema (FastAPI's default 422 body, HTTPValidationError, is not what the API sends)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        spec = get_openapi(
            title=app.title, version=app.version, summary=app.summary, routes=app.routes
        )
        components = spec.setdefault("components", {}).setdefault("schemas", {})
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
        components["ProblemItem"] = ProblemItem.model_json_schema()
        problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
        problem.pop("$defs", None)
        components["Problem"] = problem
        ref = {"$ref": "#/components/schemas/Problem"}
        for path_item in spec.get("paths", {}).values():
            for operation in path_item.values():
                for status, response in operation.get("responses", {}).items():
                    if status[0] in "45":
                        response["content"] = {PROBLEM_JSON: {"schema": ref}}
                        if status == "422" and response.get("description") == "Validation Error":
                            response["description"] = "The request breaks a rule; see errors[]."
        app.openapi_schema = spec
        return spec

    app.openapi = openapi  # type: ignore[method-assign]


class HTTPProblem(Exception):
    """A problem of the HTTP exchange itself, raised by routers and request helpers."""

    def __init__(
        self,
        status: int,
        slug: str,
        title: str,
        detail: str,
        *,
        errors: list[ErrorDetail] | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.slug = slug
        self.title = title
        self.detail = detail
        self.errors = errors or []
        self.headers = headers or {}
        self.extra = extra

    def response(self, request: Request) -> JSONResponse:
        return problem_response(
            request,
            status=self.status,
            slug=self.slug,
            title=self.title,
            detail=self.detail,
            errors=self.errors,
            headers=self.headers,
            extra=self.extra,
        )


def problem_response(
    request: Request,
    *,
    status: int,
    slug: str,
    title: str,
    detail: str,
    errors: list[ErrorDetail] | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + slug,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
    }
    request_id = getattr(request.state, "request_id", None)
    if request_id:
        body["request_id"] = request_id
    if errors:
        body["errors"] = [e.as_dict() for e in errors]
    if extra:
        body.update(extra)
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


def status_for(error: LoadbayError) -> int:
    for cls in type(error).__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]
    raise LookupError(f"no HTTP status mapped for {type(error).__name__}")


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(LoadbayError)
    async def _domain(request: Request, exc: LoadbayError) -> JSONResponse:
        return problem_response(
            request,
            status=status_for(exc),
            slug=exc.slug,
            title=exc.title,
            detail=exc.detail,
            errors=exc.errors,
            extra=exc.extra,
        )

    @app.exception_handler(HTTPProblem)
    async def _http_problem(request: Request, exc: HTTPProblem) -> JSONResponse:
        return exc.response(request)

    @app.exception_handler(RequestValidationError)
    async def _request_validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            ErrorDetail(message=str(err.get("msg")), path=json_path(tuple(err.get("loc", ()))))
            for err in exc.errors()
        ]
        return problem_response(
            request,
            status=422,
            slug="invalid-request",
            title="Invalid request",
            detail=f"{len(errors)} problem(s) in the request parameters",
            errors=errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _starlette_http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # Unknown routes (404) and wrong methods (405) from the router itself.
        slug = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
        return problem_response(
            request,
            status=exc.status_code,
            slug=slug,
            title=str(exc.detail),
            detail=f"{request.method} {request.url.path}: {exc.detail}",
            headers=dict(exc.headers or {}),
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        request_id = getattr(request.state, "request_id", None)
        logger.exception("unhandled error", extra={"request_id": request_id})
        return problem_response(
            request,
            status=500,
            slug="internal-error",
            title="Internal server error",
            detail=f"An unexpected error occurred; quote request id {request_id} to the operator.",
            # Starlette answers unhandled errors outside the middleware stack, so the
            # request-id middleware never sees this response: set the header here.
            headers={"X-Request-ID": request_id} if request_id else None,
        )
