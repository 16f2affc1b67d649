"""Domain errors of API key management."""

from __future__ import annotations

from loadbay.errors import NotFound


class KeyNotFound(NotFound):
    slug = "key-not-found"
    title = "API key not found"
