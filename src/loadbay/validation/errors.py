"""One validation problem in one cell (or row), and the text helpers its messages share."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Rule = Literal[
    "required",
    "type",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "pattern",
    "enum",
    "unique",
    "primaryKey",
    "unknownField",
    "record",
]

# The order errors of one cell are reported in: the cast first, then constraints as listed in
# the Table Schema spec, then the cross-row rules.
RULE_ORDER: dict[str, int] = {
    rule: position
    for position, rule in enumerate(
        (
            "record",
            "type",
            "required",
            "minimum",
            "maximum",
            "minLength",
            "maxLength",
            "pattern",
            "enum",
            "unique",
            "primaryKey",
            "unknownField",
        )
    )
}

PREVIEW_CHARS = 200


@dataclass(frozen=True, slots=True)
class CellError:
    """A failed rule. ``column`` is None for a row-level error; ``value`` is the raw text."""

    row: int
    column: str | None
    value: str | None
    rule: Rule
    message: str


def many_errors(
    rows: Sequence[int],
    columns: Sequence[str | None],
    values: Sequence[str | None],
    rules: Sequence[str],
    messages: Sequence[str],
) -> list[CellError]:
    """``CellError`` objects in bulk, the same as calling the class for each.

    A frozen dataclass's ``__init__`` sets every field through ``object.__setattr__``; with
    thousands of errors per batch, filling the slots directly is a third faster.
    """
    new = object.__new__
    slot = vars(CellError)  # the slot descriptors of the fields
    set_row, set_column, set_value, set_rule, set_message = (
        slot[name].__set__ for name in ("row", "column", "value", "rule", "message")
    )
    out: list[CellError] = []
    for row, column, value, rule, message in zip(
        rows, columns, values, rules, messages, strict=True
    ):
        error = new(CellError)
        set_row(error, row)
        set_column(error, column)
        set_value(error, value)
        set_rule(error, rule)
        set_message(error, message)
        out.append(error)
    return out


def preview(text: str | None) -> str | None:
    """``text`` cut to 200 characters plus an ellipsis, so a 1 MB cell stays a small error."""
    if text is None or len(text) <= PREVIEW_CHARS:
        return text
    return text[:PREVIEW_CHARS] + "…"


def quoted(text: str | None) -> str:
    """A value as it appears in a message: previewed and JSON-quoted (newlines stay visible)."""
    return json.dumps(preview(text), ensure_ascii=False)
