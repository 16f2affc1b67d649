"""Opaque page cursors of the API for lists ordered newest first by (created_at, id); the
query side is ``db.older_than``."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import uuid

from loadbay.api_errors import HTTPProblem

Position = tuple[dt.datetime, uuid.UUID]


def encode(created_at: dt.datetime, item_id: uuid.UUID) -> str:
    raw = json.dumps([created_at.isoformat(), str(item_id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: str) -> Position:
    """The position a cursor of ``encode`` names; 400 ``invalid-cursor`` for anything else."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created_at, item_id = json.loads(base64.urlsafe_b64decode(padded))
        return dt.datetime.fromisoformat(created_at), uuid.UUID(item_id)
    except (ValueError, TypeError, binascii.Error):
        raise HTTPProblem(
            400, "invalid-cursor", "Invalid cursor", "the cursor is not one this API returned"
        ) from None
