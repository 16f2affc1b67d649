"""Errors of column mapping."""

from __future__ import annotations

from loadbay.errors import InvalidInput


class InvalidMapping(InvalidInput):
    """A mapping given by a person or client breaks a rule; ``errors`` names each by field."""

    slug = "invalid-mapping"
    title = "Invalid mapping"
