"""API key material and scopes: pure functions, no storage.

A key is ``lbk_`` followed by 256 random bits (URL-safe base64). Only its SHA-256 is stored:
with that much entropy a fast hash is enough, and it lets a request find its key with one
indexed lookup. The ``lbk_`` prefix makes leaked keys recognisable (log redaction, secret
scanners).
"""

from __future__ import annotations

import enum
import hashlib
import secrets
from collections.abc import Iterable

KEY_PREFIX = "lbk_"
DISPLAY_PREFIX_LENGTH = len(KEY_PREFIX) + 6  # shown in listings to tell keys apart


class Scope(enum.StrEnum):
    """What a key may do. Each scope includes the ones before it: admin ⊇ write ⊇ read."""

    READ = "read"
    WRITE = "write"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return list(Scope).index(self)


def generate_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def grants(scopes: Iterable[Scope], needed: Scope) -> bool:
    return any(scope.rank >= needed.rank for scope in scopes)


def encode_scopes(scopes: Iterable[Scope]) -> str:
    unique: set[Scope] = {Scope(s) for s in scopes}
    return ",".join(s.value for s in sorted(unique, key=lambda s: s.rank))


def decode_scopes(stored: str) -> frozenset[Scope]:
    return frozenset(Scope(s) for s in stored.split(",") if s)
