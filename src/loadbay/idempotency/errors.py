from __future__ import annotations

from loadbay.errors import Conflict, InvalidInput


class IdempotencyKeyInUse(Conflict):
    """A request with the same key is still being processed."""

    slug = "idempotency-key-in-use"
    title = "Idempotency key in use"


class IdempotencyKeyReused(InvalidInput):
    """The key was used before with a different request body."""

    slug = "idempotency-key-reused"
    title = "Idempotency key reused with another request"
