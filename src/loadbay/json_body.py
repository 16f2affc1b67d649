"""Reading JSON request bodies with precise errors: 415, 413, 400 (line/column), 422 (path).

Routers that take large JSON documents read the body with ``read_json_body`` instead of
letting FastAPI parse it, so that every failure names where it happened.
"""

from __future__ import annotations

import json
import sys
from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError

from loadbay.api_errors import HTTPProblem
from loadbay.errors import ErrorDetail, json_path

ModelT = TypeVar("ModelT", bound=BaseModel)


def is_json_media_type(content_type: str | None) -> bool:
    if not content_type:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


async def read_body(request: Request) -> bytes:
    """The raw body of a JSON request: 415 for another media type. (Its size is capped by
    ``security.body_limits`` before it gets here.)"""
    if not is_json_media_type(request.headers.get("content-type")):
        raise HTTPProblem(
            415,
            "unsupported-media-type",
            "Unsupported media type",
            f"expected Content-Type: application/json, got {request.headers.get('content-type')!r}",
        )
    return await request.body()


def parse_json(raw: bytes) -> Any:
    """Parse JSON text; a failure is a 400 naming line, column and byte offset."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HTTPProblem(
            400,
            "malformed-json",
            "Malformed JSON",
            f"body is not UTF-8: invalid byte at offset {exc.start}",
            offset=exc.start,
        ) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise HTTPProblem(
            400,
            "malformed-json",
            "Malformed JSON",
            f"{exc.msg} at line {exc.lineno}, column {exc.colno}",
            line=exc.lineno,
            column=exc.colno,
            offset=len(text[: exc.pos].encode("utf-8")),
        ) from None
    except RecursionError:
        raise HTTPProblem(
            400, "malformed-json", "Malformed JSON", "the JSON document is nested too deeply"
        ) from None
    except ValueError:
        # The only other ValueError json raises: an integer past Python's digit limit.
        raise HTTPProblem(
            400,
            "malformed-json",
            "Malformed JSON",
            f"a number has more than {sys.get_int_max_str_digits()} digits",
        ) from None


async def read_json(request: Request) -> Any:
    return parse_json(await read_body(request))


def validation_problem(exc: ValidationError, *, detail: str) -> HTTPProblem:
    errors = [ErrorDetail(message=err["msg"], path=json_path(err["loc"])) for err in exc.errors()]
    return HTTPProblem(422, "invalid-request", "Invalid request body", detail, errors=errors)


def validate_object(data: Any, model: type[ModelT]) -> ModelT:
    """Validate a parsed body against ``model``: 422 naming the JSON path of each problem."""
    if not isinstance(data, dict):
        raise HTTPProblem(
            422,
            "invalid-request",
            "Invalid request body",
            f"expected a JSON object, got {json_type_name(data)}",
            errors=[ErrorDetail(message="expected an object", path="$")],
        )
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_problem(exc, detail="the request body does not match its schema") from None


def json_type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def body_too_large(max_bytes: int, setting: str) -> HTTPProblem:
    return HTTPProblem(
        413,
        "body-too-large",
        "Request body too large",
        f"the body is larger than the limit of {max_bytes} bytes ({setting})",
        limit=max_bytes,
    )
