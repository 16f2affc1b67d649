"""The forms in which header and field names are compared.

``words`` is what a person would call the same name: case-folded, accents stripped (NFKD),
camelCase split, and every run of punctuation, spaces or underscores turned into one space, so
"E-Mail Address", "e_mail_address" and "eMailAddress" all read ``e mail address``. ``key`` drops
the spaces as well, so "E-Mail" and "email" are also the same name.
"""

from __future__ import annotations

import re
import unicodedata

# Headers are user data of any length; nothing that matches a field name is longer than this
# (names are at most 63 bytes, aliases and titles are short), so the rest is never compared.
MAX_COMPARED_CHARS = 256

# lower->Upper ("customerId") and ACRONYM->Word ("HTTPServer") boundaries of camelCase.
_CAMEL_BOUNDARY = re.compile(r"(?<=[^\W_])(?=[A-Z][a-z])|(?<=[a-z0-9])(?=[A-Z])")
_SEPARATORS = re.compile(r"[\W_]+")


def words(name: str) -> str:
    """``name`` as lower-case words separated by single spaces; empty if it has none."""
    text = _CAMEL_BOUNDARY.sub(" ", name[:MAX_COMPARED_CHARS])
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _SEPARATORS.sub(" ", stripped.casefold()).strip()


def key(name: str) -> str:
    """The compact form under which two names are the same name."""
    return words(name).replace(" ", "")


def identity(name: str) -> str:
    """``key``, or for a name without letters or digits (an emoji, "#") the name itself."""
    return key(name) or name[:MAX_COMPARED_CHARS]


def is_blank(name: str) -> bool:
    return not name.strip()
