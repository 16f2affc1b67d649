"""API keys: create (the key is returned once), list, revoke, authenticate."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from loadbay.db import utcnow
from loadbay.security.errors import KeyNotFound
from loadbay.security.keys import (
    DISPLAY_PREFIX_LENGTH,
    Scope,
    decode_scopes,
    encode_scopes,
    generate_key,
    hash_key,
)
from loadbay.security.models import ApiKey


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated key, as a request sees it."""

    key_id: uuid.UUID
    name: str
    scopes: frozenset[Scope]


def create_key(session: Session, *, name: str, scopes: Iterable[Scope]) -> tuple[ApiKey, str]:
    """Store a new key and return it with its secret, which is not kept anywhere."""
    secret = generate_key()
    record = ApiKey(
        id=uuid.uuid4(),
        name=name,
        prefix=secret[:DISPLAY_PREFIX_LENGTH],
        key_hash=hash_key(secret),
        scopes=encode_scopes(scopes),
        created_at=utcnow(),
    )
    session.add(record)
    session.flush()
    return record, secret


def list_keys(session: Session) -> Sequence[ApiKey]:
    return session.scalars(sa.select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)).all()


def revoke_key(session: Session, *, key_id: uuid.UUID) -> ApiKey:
    """Revoke a key; revoking it again changes nothing."""
    record = session.get(ApiKey, key_id)
    if record is None:
        raise KeyNotFound(f"no API key with id {key_id}")
    if record.revoked_at is None:
        record.revoked_at = utcnow()
    return record


def authenticate(session: Session, *, secret: str) -> Caller | None:
    """The live key with this secret, or None (unknown or revoked)."""
    record = session.scalars(
        sa.select(ApiKey).where(ApiKey.key_hash == hash_key(secret), ApiKey.revoked_at.is_(None))
    ).one_or_none()
    if record is None:
        return None
    return Caller(record.id, record.name, decode_scopes(record.scopes))


def live_caller(session: Session, *, key_id: uuid.UUID) -> Caller | None:
    """The key with this id if it is still live (a page session made with it is then too)."""
    record = session.get(ApiKey, key_id)
    if record is None or record.revoked_at is not None:
        return None
    return Caller(record.id, record.name, decode_scopes(record.scopes))


def count_live_keys(session: Session) -> int:
    return (
        session.scalar(
            sa.select(sa.func.count()).select_from(ApiKey).where(ApiKey.revoked_at.is_(None))
        )
        or 0
    )
