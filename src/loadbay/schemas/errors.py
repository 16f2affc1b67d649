"""Errors of the schema registry, and how user-supplied values are shown inside messages."""

from __future__ import annotations

import json
from typing import Any

from loadbay.errors import Conflict, ErrorDetail, InvalidInput, NotFound

_SHOWN_CHARS = 40
_SUMMARISED_ERRORS = 3


def shown(value: Any) -> str:
    """``value`` as JSON, cut to a readable length, for quoting inside an error message.

    Names come from users: a 10,000-character name must not make a 10,000-character message,
    control characters stay escaped, and a lone surrogate must not break the UTF-8 response.
    """
    if isinstance(value, str) and len(value) > _SHOWN_CHARS:
        text = json.dumps(value[:_SHOWN_CHARS] + "…", ensure_ascii=False)
    else:
        text = json.dumps(value, ensure_ascii=False, default=repr)
        if len(text) > _SHOWN_CHARS + 2:
            text = text[:_SHOWN_CHARS] + "…"
    return printable(text)


def printable(text: str) -> str:
    """``text`` with lone surrogates escaped: they cannot be encoded into a UTF-8 response."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


class InvalidSchema(InvalidInput):
    """A schema document breaks one or more rules; ``errors`` names every one by JSON path.

    ``source`` names the file the document came from, when it came from one.
    """

    slug = "invalid-schema"
    title = "Invalid schema"

    def __init__(self, errors: list[ErrorDetail], *, source: str | None = None) -> None:
        super().__init__(_summary(errors, source), errors=errors)
        self.source = source


class SchemaNotFound(NotFound):
    slug = "schema-not-found"
    title = "Schema not found"


class SchemaExists(Conflict):
    slug = "schema-exists"
    title = "Schema exists"

    def __init__(self, name: str) -> None:
        super().__init__(f"a schema named {shown(name)} exists already; update it to add a version")


class SchemaChangedConcurrently(Conflict):
    slug = "schema-conflict"
    title = "Schema changed concurrently"

    def __init__(self, name: str) -> None:
        super().__init__(
            f"schema {shown(name)} was changed by another request at the same time; "
            "nothing was saved, retry the request"
        )


def _summary(errors: list[ErrorDetail], source: str | None) -> str:
    """A one-line detail that is useful on its own (a log line at start, a CLI message)."""
    parts = [f"{e.path}: {e.message}" if e.path else e.message for e in errors]
    text = "; ".join(parts[:_SUMMARISED_ERRORS])
    if len(parts) > _SUMMARISED_ERRORS:
        text += f"; and {len(parts) - _SUMMARISED_ERRORS} more problem(s)"
    text = f"invalid schema: {text}" if text else "invalid schema"
    return f"{source}: {text}" if source else text
