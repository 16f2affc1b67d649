"""Rules for the names a schema gives to things outside it: URLs, tables and columns.

Field names and ``x-loadbay.table`` become quoted SQL identifiers, so they must fit every
supported database; the schema name becomes part of URLs, so it is restricted further.
"""

from __future__ import annotations

import re
import string
import unicodedata

from loadbay.schemas.errors import shown

SCHEMA_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,62}")
# PostgreSQL truncates identifiers longer than 63 bytes (NAMEDATALEN - 1) silently; two long
# names sharing a prefix would become the same column, so longer names are refused instead.
MAX_IDENTIFIER_BYTES = 63
# Prefix of the columns loadbay adds to target tables (import id, source row number, …).
RESERVED_PREFIX = "_loadbay_"

_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def schema_name_problems(name: str) -> list[str]:
    if SCHEMA_NAME.fullmatch(name):
        return []
    if not name:
        return ["must not be empty"]
    if len(name) > MAX_IDENTIFIER_BYTES:
        return [f"is {len(name)} characters long; at most {MAX_IDENTIFIER_BYTES} are allowed"]
    if not ("A" <= name[0] <= "Z" or "a" <= name[0] <= "z"):
        return [f"must start with an ASCII letter, not {shown(name[0])}"]
    bad = next(c for c in name if not SCHEMA_NAME.fullmatch("a" + c))
    return [
        f"may contain only ASCII letters, digits, '_' and '-' because it is used in URLs; "
        f"found {shown(bad)}"
    ]


def identifier_problems(name: str) -> list[str]:
    """Why ``name`` cannot be a column or table name; empty when it can."""
    if not name:
        return ["must not be empty"]
    problems = []
    control = next((c for c in name if unicodedata.category(c) == "Cc"), None)
    if control is not None:
        problems.append(f"must not contain control characters (found U+{ord(control):04X})")
    # "surrogatepass": a lone surrogate is reported by the document check; here it only counts.
    size = len(name.encode("utf-8", "surrogatepass"))
    if size > MAX_IDENTIFIER_BYTES:
        problems.append(
            f"is {size} bytes long in UTF-8; at most {MAX_IDENTIFIER_BYTES} are allowed "
            "(PostgreSQL's limit for identifiers)"
        )
    if fold_identifier(name).startswith(RESERVED_PREFIX):
        problems.append(f"must not start with {RESERVED_PREFIX!r}: it is reserved for loadbay")
    return problems


def fold_identifier(name: str) -> str:
    """The form in which two column names collide: SQLite compares them ignoring ASCII case."""
    return name.translate(_ASCII_LOWER)
