"""Idempotency keys (the IETF ``Idempotency-Key`` header draft, Stripe's semantics).

The first request with a key claims it (a row without a response, committed at once), runs,
and stores its response. A retry with the same key and body gets the stored response; with
another body it is refused; while the first is still running a duplicate gets a conflict.
If the first request ends without a response worth replaying, the claim is released so that
the client may retry.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from loadbay.db import transaction, utcnow
from loadbay.idempotency.errors import IdempotencyKeyInUse, IdempotencyKeyReused
from loadbay.idempotency.models import IdempotencyRecord

# A claim still without a response after this long belongs to a process that died.
STALE_CLAIM = dt.timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class StoredResponse:
    status_code: int
    body: bytes
    headers: dict[str, str]


def fingerprint(*parts: bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def claim(
    sessions: sessionmaker[Session],
    *,
    scope: str,
    key: str,
    request_fingerprint: str,
    ttl: dt.timedelta,
) -> StoredResponse | None:
    """Claim ``key`` for a new request, or return the response stored for it.

    Raises IdempotencyKeyInUse while another request holds the key, and
    IdempotencyKeyReused when the key was used with a different body.
    """
    now = utcnow()
    with transaction(sessions) as session:
        session.execute(
            sa.delete(IdempotencyRecord).where(
                IdempotencyRecord.scope == scope,
                IdempotencyRecord.key == key,
                sa.or_(
                    IdempotencyRecord.expires_at < now,
                    sa.and_(
                        IdempotencyRecord.status_code.is_(None),
                        IdempotencyRecord.created_at < now - STALE_CLAIM,
                    ),
                ),
            )
        )
    try:
        with transaction(sessions) as session:
            session.add(
                IdempotencyRecord(
                    scope=scope,
                    key=key,
                    fingerprint=request_fingerprint,
                    created_at=now,
                    expires_at=now + ttl,
                )
            )
        return None
    except IntegrityError:
        pass
    with sessions() as session:
        record = session.get(IdempotencyRecord, (scope, key))
    if record is None:  # released between our insert and this read: the client may retry
        raise IdempotencyKeyInUse("a request with this Idempotency-Key was just processed; retry")
    if record.fingerprint != request_fingerprint:
        raise IdempotencyKeyReused(
            "this Idempotency-Key was already used with a different request body; "
            "use a new key for a new request"
        )
    if record.status_code is None or record.response_body is None:
        raise IdempotencyKeyInUse(
            "a request with this Idempotency-Key is still being processed; retry later"
        )
    return StoredResponse(
        record.status_code, record.response_body, json.loads(record.response_headers or "{}")
    )


def store(
    sessions: sessionmaker[Session], *, scope: str, key: str, response: StoredResponse
) -> None:
    with transaction(sessions) as session:
        session.execute(
            sa.update(IdempotencyRecord)
            .where(IdempotencyRecord.scope == scope, IdempotencyRecord.key == key)
            .values(
                status_code=response.status_code,
                response_body=response.body,
                response_headers=json.dumps(response.headers),
            )
        )


def release(sessions: sessionmaker[Session], *, scope: str, key: str) -> None:
    with transaction(sessions) as session:
        session.execute(
            sa.delete(IdempotencyRecord).where(
                IdempotencyRecord.scope == scope,
                IdempotencyRecord.key == key,
                IdempotencyRecord.status_code.is_(None),
            )
        )
