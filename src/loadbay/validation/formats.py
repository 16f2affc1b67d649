"""String formats (email, uri, uuid) exactly as frictionless checks them, plus fast regexes.

frictionless delegates to the ``validators`` package (email, uuid) and to ``rfc3986`` (uri).
Neither is a runtime dependency, so their rules are ported here with the standard library
(``re``, the ``idna`` codec, ``uuid``). Each format also has a Rust-regex ``FAST_*`` pattern
for polars that accepts a strict subset of what the exact check accepts; cells it rejects go
to the exact check, so the verdicts stay identical while almost every valid cell is settled
without Python.
"""

from __future__ import annotations

import re
import uuid

# validators.email: the local part (Django's rule, with the package's quirks kept: a leading
# extended-latin character alone is enough, and ``$`` also matches before a final newline).
_EMAIL_LOCAL = re.compile(
    r"(^[\u0100-\u017F\u0180-\u024F\u00A0-\u00FF]"
    r"|[\u0100-\u017F\u0180-\u024F\u00A0-\u00FF0-9a-z!#$%&'*+/=?^_`{}|~\-]+"
    r"(\.[\u0100-\u017F\u0180-\u024F\u00A0-\u00FF0-9a-z!#$%&'*+/=?^_`{}|~\-]+)*$"
    r'|^"('
    r"[\u0100-\u017F\u0180-\u024F\u00A0-\u00FF\001-\010\013\014\016-\037"
    r"!#-\[\]-\177]|\\[\011.]"
    r')*")$',
    re.IGNORECASE,
)
# validators.domain with its defaults (no trailing dot, no service-record underscores).
_DOMAIN = re.compile(
    r"^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9][a-z0-9-]{0,61}[a-z]$",
    re.IGNORECASE,
)
_DOMAIN_FORBIDDEN = re.compile(r"\s|__+")
# rfc3986: a URI reference "has a scheme" when it starts like this; nothing else is checked.
_URI_SCHEME = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*:")

_ATOM = r"[0-9A-Za-z!#$%\&'*+/=?^_`{|}\~\-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?"
FAST_EMAIL = rf"^{_ATOM}(?:\.{_ATOM})*@(?:{_LABEL}\.)+[A-Za-z0-9][A-Za-z0-9\-]{{0,61}}[A-Za-z]$"
# The length limits (64 for the local part, 253 for the domain) as a second, cheap pattern.
FAST_EMAIL_LENGTHS = r"^[^@]{1,64}@[^@]{1,253}$"
FAST_URI = r"^[a-zA-Z][a-zA-Z0-9+.\-]*:"
FAST_UUID = (
    r"^(?:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    r"|[0-9a-fA-F]{32})$"
)


def is_email(value: str) -> bool:
    """``validators.email(value)`` with its default options."""
    if not value or value.count("@") != 1:
        return False
    local, domain = value.rsplit("@", 1)
    if len(local) > 64 or len(domain) > 253:
        return False
    return bool(_EMAIL_LOCAL.match(local)) and _is_domain(domain)


def _is_domain(value: str) -> bool:
    if not value:
        return False
    try:
        encoded = value.encode("idna").decode("utf-8")
    except UnicodeError:
        return False
    if len(encoded.rstrip(".")) > 253:
        return False
    return not _DOMAIN_FORBIDDEN.search(value) and bool(_DOMAIN.match(encoded))


def is_uri(value: str) -> bool:
    """rfc3986 validation as frictionless configures it: only the scheme is required."""
    return bool(_URI_SCHEME.match(value))


def is_uuid(value: str) -> bool:
    """``validators.uuid(value)``: anything ``uuid.UUID`` accepts (braces, urn: prefix, …)."""
    if not value:
        return False
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
