"""``/api/schemas``: the schema registry over HTTP. Work is done in ``schemas.service``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy.orm import Session

from loadbay.api_errors import problem_responses
from loadbay.context import get_session
from loadbay.json_body import read_json
from loadbay.schemas import service
from loadbay.schemas.schemas import (
    EXAMPLE_DOCUMENT,
    SCHEMAS_PATH,
    TABLE_SCHEMA_JSON_SCHEMA,
    SchemaList,
    SchemaResource,
    schema_path,
)

router = APIRouter(prefix=SCHEMAS_PATH, tags=["schemas"])


async def _document(request: Request) -> Any:
    """The body as JSON; its failures answer 415, 413 and 400 (with line and column)."""
    return await read_json(request)


Document = Annotated[Any, Depends(_document)]
DbSession = Annotated[Session, Depends(get_session)]

# The body is read by ``_document``, not declared as a parameter, so OpenAPI is told here.
_SCHEMA_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": TABLE_SCHEMA_JSON_SCHEMA, "example": EXAMPLE_DOCUMENT}
        },
    }
}

_PROBLEMS = {
    400: "The body is not valid JSON (the detail gives line and column).",
    404: "There is no such schema, or no such version.",
    409: "The schema exists already, or was changed by a concurrent request.",
    413: "The body is larger than LOADBAY_MAX_BODY_BYTES.",
    415: "The Content-Type is not JSON.",
    422: "The document or a parameter breaks a rule; errors[].path names each problem.",
}


def _problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return problem_responses({status: _PROBLEMS[status] for status in statuses})


@router.post(
    "",
    status_code=201,
    summary="Register a new schema (version 1)",
    openapi_extra=_SCHEMA_BODY,
    responses=_problems(400, 409, 413, 415, 422),
)
def create_schema(document: Document, session: DbSession, response: Response) -> SchemaResource:
    with session.begin():
        info = service.create_schema(session, document=document)
    response.headers["Location"] = schema_path(info.name)
    return SchemaResource.from_info(info)


@router.get("", summary="The latest version of every schema, by name")
def list_schemas(session: DbSession) -> SchemaList:
    return SchemaList(items=[SchemaResource.from_info(i) for i in service.list_schemas(session)])


@router.get(
    "/{name}", summary="A schema's latest version, or ?version=N", responses=_problems(404, 422)
)
def get_schema(
    name: str,
    session: DbSession,
    version: Annotated[int | None, Query(ge=1, description="A specific version.")] = None,
) -> SchemaResource:
    return SchemaResource.from_info(service.get_schema(session, name=name, version=version))


@router.get(
    "/{name}/versions", summary="Every version of a schema, oldest first", responses=_problems(404)
)
def list_versions(name: str, session: DbSession) -> SchemaList:
    versions = service.list_versions(session, name=name)
    return SchemaList(items=[SchemaResource.from_info(info) for info in versions])


@router.put(
    "/{name}",
    summary="Create or update a schema",
    description=(
        "Creates the schema (201) when the name is new or deleted; otherwise adds a version "
        "when the canonical document changed, and answers 200 either way. The body's name "
        "must equal the name in the URL."
    ),
    openapi_extra=_SCHEMA_BODY,
    responses={
        201: {"description": "Created", "model": SchemaResource},
        **_problems(400, 409, 413, 415, 422),
    },
)
def put_schema(
    name: str, document: Document, session: DbSession, response: Response
) -> SchemaResource:
    with session.begin():
        info, created = service.update_schema(session, name=name, document=document)
    if created:
        response.status_code = 201
        response.headers["Location"] = schema_path(info.name)
    return SchemaResource.from_info(info)


@router.delete(
    "/{name}",
    status_code=204,
    response_class=Response,
    summary="Delete a schema (versions pinned by imports stay readable to them)",
    responses=_problems(404),
)
def delete_schema(name: str, session: DbSession) -> None:
    with session.begin():
        service.delete_schema(session, name=name)
