"""JSON value kinds: what a cell was before it became text (``RawBatch.kinds``).

CSV cells are always text. JSON cells may be numbers, booleans or nested values, and
frictionless judges those by their Python type (a JSON number is not a valid ``string``, a
JSON ``true`` is a valid ``boolean`` whatever trueValues say). The kind code keeps that
information next to the text so the vectorised casts can apply the same rules.
"""

from __future__ import annotations

from typing import Final

import polars as pl

NULL: Final = 0
STRING: Final = 1
INTEGER: Final = 2
FLOAT: Final = 3
BOOLEAN: Final = 4
OTHER: Final = 5  # an object or an array (its text is the JSON document)

KIND_DTYPE: Final = pl.UInt8

# The text a boolean kind carries (JSON spelling, also shown in error values).
TRUE_TEXT: Final = "true"
FALSE_TEXT: Final = "false"


def describe(kind: int, text: str | None) -> str:
    """The JSON kind as a message names it: ``number``, ``boolean``, ``object``, ``array``…"""
    if kind in (INTEGER, FLOAT):
        return "number"
    if kind == OTHER:
        return "array" if text is not None and text.startswith("[") else "object"
    return {NULL: "null", STRING: "string", BOOLEAN: "boolean"}.get(kind, "unknown")
