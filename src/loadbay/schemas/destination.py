"""The ``x-loadbay.destination`` block of a schema: deliver valid rows to an HTTP endpoint.

Only the shape is checked here (at schema creation, with JSON paths like every schema
problem); whether the endpoint may be reached (the SSRF guard) and whether the named secret
is configured are checked when an import delivers, since both depend on the server's
settings, not on the document. See docs/api.md, "HTTP destinations".
"""

from __future__ import annotations

import re
from typing import Literal, Self

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from loadbay.outbound.errors import OutboundRefused
from loadbay.outbound.ssrf import check_url

DEFAULT_BATCH_SIZE = 500
MAX_BATCH_SIZE = 100_000

# RFC 9110 field-name token characters.
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$")
# Set by loadbay for every batch; a schema may not override them (authentication goes in
# ``auth``, whose secret is kept out of the document).
RESERVED_HEADERS = frozenset(
    {
        "authorization",
        "content-length",
        "content-type",
        "host",
        "idempotency-key",
        "transfer-encoding",
        "connection",
        "cookie",
        "proxy-authorization",
    }
)


def _check_header_name(name: str) -> str:
    if not _HEADER_NAME.fullmatch(name):
        raise ValueError(f"{name[:40]!r} is not a valid HTTP header name")
    if name.lower() in RESERVED_HEADERS:
        raise ValueError(f"header {name!r} is set by loadbay and cannot be configured")
    return name


class DestinationAuth(BaseModel):
    """How batches authenticate. ``secret`` names an entry of LOADBAY_DESTINATION_SECRETS:
    schemas are readable by every API client, so the secret itself never is in one."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["bearer", "basic", "api_key"]
    secret: str = Field(min_length=1, max_length=128)
    # basic: the user name sent with the secret as password.
    username: str | None = Field(default=None, min_length=1, max_length=256)
    # api_key: the header carrying the secret.
    header: str | None = None

    @field_validator("header")
    @classmethod
    def _header_is_a_name(cls, value: str | None) -> str | None:
        return None if value is None else _check_header_name(value)

    @model_validator(mode="after")
    def _fits_the_type(self) -> Self:
        if self.type == "basic" and self.username is None:
            raise ValueError("basic auth needs a username")
        if self.type != "basic" and self.username is not None:
            raise ValueError(f"username is only for basic auth, not {self.type}")
        if self.type == "api_key" and self.header is None:
            raise ValueError("api_key auth needs the header that carries the key")
        if self.type != "api_key" and self.header is not None:
            raise ValueError(f"header is only for api_key auth, not {self.type}")
        return self


class HttpDestinationConfig(BaseModel):
    """Where and how valid rows are delivered, in batches."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["http"]
    url: str = Field(max_length=2048)
    method: Literal["POST", "PUT"] = "POST"
    auth: DestinationAuth | None = None
    headers: dict[str, str] = Field(default_factory=dict, max_length=32)
    batch_size: int = Field(default=DEFAULT_BATCH_SIZE, ge=1, le=MAX_BATCH_SIZE)
    format: Literal["json", "ndjson"] = "json"
    # False: the endpoint replaces the table, which is not written.
    also_table: bool = False

    @field_validator("url")
    @classmethod
    def _url_is_http(cls, value: str) -> str:
        try:
            check_url(httpx.URL(value))
        except httpx.InvalidURL as exc:
            raise ValueError(f"invalid URL: {exc}") from None
        except OutboundRefused as exc:
            raise ValueError(exc.detail) from None
        return value

    @field_validator("headers")
    @classmethod
    def _headers_are_plain(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            _check_header_name(name)
            # CR/LF would let a value start a header of its own.
            if any(ch in text for ch in "\r\n\0") or len(text) > 4096:
                raise ValueError(f"header {name!r}: the value must be one line of text")
        return value
