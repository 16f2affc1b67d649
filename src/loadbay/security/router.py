"""``/api/keys``: API key administration (admin scope)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Response
from sqlalchemy.orm import Session

from loadbay.api_errors import problem_responses
from loadbay.context import get_session
from loadbay.security import service
from loadbay.security.schemas import KeyCreate, KeyCreated, KeyList, KeyOut

router = APIRouter(prefix="/api/keys", tags=["keys"])
DbSession = Annotated[Session, Depends(get_session)]


@router.post(
    "",
    status_code=201,
    summary="Create an API key; the response is the only time the key is shown",
    responses=problem_responses(
        {400: "The body is not valid JSON.", 422: "The name or the scopes break a rule."}
    ),
)
def create_key(body: KeyCreate, session: DbSession, response: Response) -> KeyCreated:
    with session.begin():
        record, secret = service.create_key(session, name=body.name, scopes=body.scopes)
        out = KeyCreated(**KeyOut.of(record).model_dump(), key=secret)
    response.headers["Location"] = f"/api/keys/{record.id}"
    response.headers["Cache-Control"] = "no-store"
    return out


@router.get("", summary="Every API key, revoked ones included (never the keys themselves)")
def list_keys(session: DbSession) -> KeyList:
    return KeyList(items=[KeyOut.of(record) for record in service.list_keys(session)])


@router.delete(
    "/{key_id}",
    summary="Revoke an API key (at once, in every server process)",
    responses=problem_responses({404: "There is no such key."}),
)
def revoke_key(key_id: uuid.UUID, session: DbSession) -> KeyOut:
    with session.begin():
        return KeyOut.of(service.revoke_key(session, key_id=key_id))
