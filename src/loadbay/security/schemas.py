"""Pydantic I/O models of the key admin API."""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, ConfigDict, Field

from loadbay.security.keys import Scope, decode_scopes
from loadbay.security.models import ApiKey


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, description="Who or what uses the key.")
    scopes: list[Scope] = Field(
        min_length=1, description="read, write, admin (each includes the ones before it)."
    )


class KeyOut(BaseModel):
    id: uuid.UUID
    name: str
    prefix: str = Field(description="The key's first characters, to tell keys apart.")
    scopes: list[Scope]
    created_at: dt.datetime
    revoked_at: dt.datetime | None

    @classmethod
    def of(cls, record: ApiKey) -> KeyOut:
        return cls(
            id=record.id,
            name=record.name,
            prefix=record.prefix,
            scopes=sorted(decode_scopes(record.scopes), key=lambda s: s.rank),
            created_at=record.created_at,
            revoked_at=record.revoked_at,
        )


class KeyCreated(KeyOut):
    key: str = Field(description="The key itself. Shown this once: only its hash is stored.")


class KeyList(BaseModel):
    items: list[KeyOut]
