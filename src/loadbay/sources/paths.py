"""Dotted paths into JSON documents: ``records_path``, ``cursor_path``, ``total_path``…

``"data.items"`` is ``body["data"]["items"]``; a segment of digits indexes an array
(``"results.0.id"``). An empty path is the document itself. Keys that contain a dot cannot
be named; no API seen in practice needs them.
"""

from __future__ import annotations

import enum
from typing import Any, Literal


class _Missing(enum.Enum):
    MISSING = enum.auto()


MISSING: Literal[_Missing.MISSING] = _Missing.MISSING


def segments(path: str | None) -> list[str]:
    return [] if not path else path.split(".")


def lookup(document: Any, path: str | None) -> Any:
    """The value at ``path``, or MISSING when a step does not exist."""
    value = document
    for part in segments(path):
        if isinstance(value, dict):
            if part not in value:
                return MISSING
            value = value[part]
        elif (
            isinstance(value, list) and part.isascii() and part.isdigit() and int(part) < len(value)
        ):
            value = value[int(part)]
        else:
            return MISSING
    return value
