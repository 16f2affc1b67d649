"""Error messages as polars expressions, so a batch's messages are built in one pass.

The Python twins of ``preview``/``quoted`` live in ``errors.py`` for the few errors made
outside a batch (records, pre-errors).
"""

from __future__ import annotations

import polars as pl

from loadbay.validation import kinds
from loadbay.validation.errors import PREVIEW_CHARS

_ESCAPED = ["\\", '"', "\n", "\r", "\t"]
_ESCAPES = ["\\\\", '\\"', "\\n", "\\r", "\\t"]


def preview(text: pl.Expr) -> pl.Expr:
    """The text cut to 200 characters plus an ellipsis."""
    return (
        pl.when(text.str.len_chars() > PREVIEW_CHARS)
        .then(text.str.slice(0, PREVIEW_CHARS) + "…")
        .otherwise(text)
    )


def quoted(text: pl.Expr) -> pl.Expr:
    """The previewed text in double quotes, with quotes, backslashes and line breaks escaped."""
    escaped = preview(text).str.replace_many(_ESCAPED, _ESCAPES)
    return pl.concat_str(pl.lit('"'), escaped, pl.lit('"'))


def text(*parts: str | pl.Expr) -> pl.Expr:
    """Literal strings and expressions concatenated (null parts read as "null")."""
    return pl.concat_str(
        [pl.lit(part) if isinstance(part, str) else part.fill_null("null") for part in parts]
    )


def json_kind(kind: pl.Expr, raw: pl.Expr) -> pl.Expr:
    """``kinds.describe`` as an expression."""
    return (
        pl.when(kind.is_in([kinds.INTEGER, kinds.FLOAT]))
        .then(pl.lit("number"))
        .when(kind == kinds.BOOLEAN)
        .then(pl.lit("boolean"))
        .when((kind == kinds.OTHER) & raw.str.starts_with("["))
        .then(pl.lit("array"))
        .when(kind == kinds.OTHER)
        .then(pl.lit("object"))
        .when(kind == kinds.STRING)
        .then(pl.lit("string"))
        .otherwise(pl.lit("null"))
    )
