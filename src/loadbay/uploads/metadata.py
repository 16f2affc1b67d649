"""``Upload-Metadata`` (tus 1.0.0): a strict parser, an encoder, and the keys loadbay reads.

The header is ``key value,key value`` where each value is standard base64 (with padding) and
may be empty, in which case the space may be left out. Keys are unique, non-empty printable
ASCII without spaces or commas. Optional whitespace around commas is tolerated (HTTP list
syntax); anything else is refused with a message naming the pair.

Metadata stays metadata: ``filename`` is checked to be a plain file name and cleaned for
display, but no path is ever built from it (storage paths come from upload ids).
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata
from dataclasses import dataclass

from loadbay.errors import ErrorDetail
from loadbay.uploads.errors import InvalidMetadata

MAX_HEADER_CHARS = 16 * 1024
MAX_PAIRS = 64
MAX_KEY_CHARS = 128
MAX_FILENAME_BYTES = 255
MAX_CONTENT_TYPE_CHARS = 255

_KEY = re.compile(r"[\x21-\x2b\x2d-\x7e]+")
_OWS = " \t"
_HEX = {"md5": re.compile(r"[0-9a-fA-F]{32}"), "sha256": re.compile(r"[0-9a-fA-F]{64}")}
_MEDIA_NAME = r"[A-Za-z0-9!#$&^_.+-]+"  # an RFC 9110 token
# type/subtype, then optional parameters of printable ASCII (no control characters).
_MEDIA_TYPE = re.compile(rf"{_MEDIA_NAME}/{_MEDIA_NAME}(\s*;[\x20-\x7e]*)?")
# Bidirectional controls let a name display as something else ("gpj.exe" shown as "exe.jpg").
_BIDI_CONTROLS = dict.fromkeys(
    [0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)]
)


def parse(header: str | None) -> dict[str, bytes]:
    """The pairs of an ``Upload-Metadata`` header; ``None`` or an empty header is no pairs."""
    if header is None or not header.strip(_OWS):
        return {}
    if len(header) > MAX_HEADER_CHARS:
        raise _invalid(f"Upload-Metadata is longer than {MAX_HEADER_CHARS} characters")
    items = header.split(",")
    if len(items) > MAX_PAIRS:
        raise _invalid(f"Upload-Metadata has {len(items)} pairs; at most {MAX_PAIRS} are allowed")
    pairs: dict[str, bytes] = {}
    for position, item in enumerate(items, start=1):
        key, value = _parse_pair(item.strip(_OWS), position)
        if key in pairs:
            raise _invalid(f"Upload-Metadata pair {position}: key {key!r} appears more than once")
        pairs[key] = value
    return pairs


def encode(pairs: dict[str, bytes]) -> str:
    """The header for ``pairs`` (the inverse of ``parse``); keys must already be valid."""
    return ",".join(
        f"{key} {base64.b64encode(value).decode('ascii')}" if value else key
        for key, value in pairs.items()
    )


def _parse_pair(item: str, position: int) -> tuple[str, bytes]:
    if not item:
        raise _invalid(f"Upload-Metadata pair {position} is empty")
    key, space, value = item.partition(" ")
    if not _KEY.fullmatch(key) or len(key) > MAX_KEY_CHARS:
        raise _invalid(
            f"Upload-Metadata pair {position}: key {key[:MAX_KEY_CHARS]!r} must be 1-"
            f"{MAX_KEY_CHARS} printable ASCII characters without spaces or commas"
        )
    if not space:
        return key, b""
    try:
        decoded = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        decoded = None
    # Canonical only: one spelling per value, so stored and echoed headers compare equal.
    if decoded is None or base64.b64encode(decoded).decode("ascii") != value:
        raise _invalid(
            f"Upload-Metadata pair {position} ({key}): the value is not canonical base64",
            key=key,
        )
    return key, decoded


@dataclass(frozen=True, slots=True)
class Description:
    """What loadbay reads from the metadata: a display name, a media type, declared digests."""

    filename: str | None = None
    content_type: str | None = None
    md5: str | None = None
    sha256: str | None = None


def describe(pairs: dict[str, bytes]) -> Description:
    """Validate the keys loadbay interprets; other keys are kept and echoed untouched.

    ``filename`` (or Uppy's ``name``), ``filetype`` (or ``type``), and the whole-file ``md5``
    and ``sha256`` the client expects (hex).
    """
    name_key = "filename" if "filename" in pairs else "name"
    type_key = "filetype" if "filetype" in pairs else "type"
    raw_name = pairs.get(name_key)
    raw_type = pairs.get(type_key)
    return Description(
        filename=clean_filename(_text(raw_name, name_key)) if raw_name else None,
        content_type=clean_content_type(_text(raw_type, type_key)) if raw_type else None,
        md5=_digest(pairs, "md5"),
        sha256=_digest(pairs, "sha256"),
    )


def clean_filename(name: str, *, key: str = "filename") -> str:
    """A file name fit for display, or InvalidMetadata when it is a path or unprintable."""
    if len(name.encode("utf-8")) > MAX_FILENAME_BYTES:
        raise _invalid(f"{key} is longer than {MAX_FILENAME_BYTES} bytes in UTF-8", key=key)
    if any(unicodedata.category(char) == "Cc" for char in name):
        raise _invalid(f"{key} contains control characters (such as NUL)", key=key)
    if "/" in name or "\\" in name:
        raise _invalid(f"{key} must be a file name, not a path (no '/' or '\\')", key=key)
    display = unicodedata.normalize("NFC", name.translate(_BIDI_CONTROLS)).strip()
    if display in {"", ".", ".."}:
        raise _invalid(f"{key} {name!r} is not a file name", key=key)
    return display


def clean_content_type(value: str, *, key: str = "filetype") -> str:
    if len(value) > MAX_CONTENT_TYPE_CHARS or not _MEDIA_TYPE.fullmatch(value):
        raise _invalid(f"{key} must be a media type such as text/csv", key=key)
    return value.lower()


def _text(value: bytes | None, key: str) -> str:
    try:
        return (value or b"").decode("utf-8")
    except UnicodeDecodeError:
        raise _invalid(f"{key} is not UTF-8 text", key=key) from None


def _digest(pairs: dict[str, bytes], algorithm: str) -> str | None:
    if algorithm not in pairs:
        return None
    value = pairs[algorithm].decode("ascii", errors="replace")
    if not _HEX[algorithm].fullmatch(value):
        length = 32 if algorithm == "md5" else 64
        raise _invalid(f"{algorithm} must be {length} hexadecimal digits", key=algorithm)
    return value.lower()


def _invalid(message: str, *, key: str | None = None) -> InvalidMetadata:
    path = f"Upload-Metadata.{key}" if key else "Upload-Metadata"
    return InvalidMetadata(message, errors=[ErrorDetail(message=message, path=path)])
