"""What a source of ``POST /api/imports`` may say: the URL source and the declarative REST
source, as Pydantic models (their validation errors become 422 ``invalid-request`` with
``errors[].path``).

Secrets (passwords, tokens, API key values, client secrets) are ``SecretStr``: they print
and serialise as ``**********`` unless revealed on purpose (``stored_json``), so a config
that reaches a log line or a response by mistake shows no secret.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Annotated, Any, Literal

import httpx
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveFloat,
    PositiveInt,
    SecretStr,
    TypeAdapter,
    field_validator,
    model_validator,
)

from loadbay.outbound.errors import redact_url

REDACTED = "[redacted]"
# Header and query parameter names whose values are credentials in practice; their values
# are redacted when a source is shown, although they were given as plain headers/params.
_SENSITIVE_NAME = re.compile(
    r"auth|token|secret|passw|api[-_]?key|apikey|signature|session|cookie|credential",
    re.IGNORECASE,
)

# The SecretStr fields of the auth models.
_SECRET_FIELDS = frozenset({"password", "token", "value", "client_secret"})

Scalar = str | int | float | bool


def _absolute_http_url(value: str) -> str:
    try:
        url = httpx.URL(value)
    except httpx.InvalidURL as exc:
        raise ValueError(f"not a valid URL: {exc}") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError("must be an absolute http:// or https:// URL")
    if url.userinfo:
        # They would end up in logs and in the import resource; auth keeps them secret.
        raise ValueError("credentials in the URL are refused; give them as auth")
    return value


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


# --- auth ----------------------------------------------------------------------------------


class BasicAuth(_Model):
    type: Literal["basic"]
    username: str
    password: SecretStr


class BearerAuth(_Model):
    type: Literal["bearer"]
    token: SecretStr = Field(min_length=1)


class ApiKeyAuth(_Model):
    type: Literal["api_key"]
    name: str = Field(min_length=1, max_length=255, description="Header or query parameter.")
    value: SecretStr = Field(min_length=1)
    in_: Literal["header", "query"] = Field(default="header", alias="in")


class OAuth2ClientCredentials(_Model):
    """OAuth 2.0 client credentials grant (RFC 6749 §4.4)."""

    type: Literal["oauth2_client_credentials"]
    token_url: str
    client_id: str = Field(min_length=1)
    client_secret: SecretStr
    scope: str | None = None
    client_auth: Literal["basic", "body"] = Field(
        default="basic",
        description="How the client authenticates to the token endpoint: HTTP Basic (what "
        "RFC 6749 requires servers to support) or client_id/client_secret in the form body.",
    )

    _check_url = field_validator("token_url")(_absolute_http_url)


Auth = Annotated[
    BasicAuth | BearerAuth | ApiKeyAuth | OAuth2ClientCredentials, Field(discriminator="type")
]


# --- pagination ----------------------------------------------------------------------------


class _Stops(_Model):
    """Stop conditions every pagination style shares (checked after each page)."""

    max_pages: PositiveInt | None = Field(default=None, description="Fetch at most this many.")
    total_path: str | None = Field(
        default=None, description="Dotted path to the total record count: stop once reached."
    )
    has_more_path: str | None = Field(
        default=None, description="Dotted path to a boolean: stop when it is false."
    )
    stop_on_empty: bool = Field(default=True, description="Stop at a page without records.")


class AutoPagination(_Stops):
    """Chosen from the first answer: a ``Link: rel="next"`` header, a ``next``/``next_url``
    link in the body, a ``next_cursor``/``cursor`` value, else one page."""

    type: Literal["auto"]


class SinglePage(_Stops):
    type: Literal["single_page"]


class OffsetPagination(_Stops):
    type: Literal["offset"]
    offset_param: str = "offset"
    limit_param: str = "limit"
    limit: PositiveInt = 100
    start: int = Field(default=0, ge=0)


class PageNumberPagination(_Stops):
    type: Literal["page_number"]
    page_param: str = "page"
    start: int = Field(default=1, ge=0)
    size_param: str | None = None
    size: PositiveInt | None = None

    @model_validator(mode="after")
    def _size_together(self) -> PageNumberPagination:
        if (self.size_param is None) != (self.size is None):
            raise ValueError("size_param and size go together")
        return self


class CursorPagination(_Stops):
    type: Literal["cursor"]
    cursor_path: str = Field(default="next_cursor", min_length=1)
    cursor_param: str = Field(default="cursor", min_length=1)


class JsonLinkPagination(_Stops):
    type: Literal["json_link"]
    next_path: str = Field(default="next", min_length=1)


class HeaderLinkPagination(_Stops):
    """RFC 8288 ``Link: <…>; rel="next"``."""

    type: Literal["header_link"]


Pagination = Annotated[
    AutoPagination
    | SinglePage
    | OffsetPagination
    | PageNumberPagination
    | CursorPagination
    | JsonLinkPagination
    | HeaderLinkPagination,
    Field(discriminator="type"),
]


# --- the sources ---------------------------------------------------------------------------


class Incremental(_Model):
    cursor_path: str = Field(min_length=1, description="Dotted path in each record.")
    param: str = Field(min_length=1, description="Query parameter the value is sent in.")
    initial_value: str | int | float | None = Field(
        default=None, description="Sent on the first run; none: the first run fetches all."
    )


class RateLimit(_Model):
    requests_per_second: PositiveFloat


class RestSource(_Model):
    type: Literal["rest"]
    name: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$",
        description="Identifies the source across runs (its incremental cursor); default: "
        "a hash of base_url, path and params.",
    )
    base_url: str
    path: str = ""
    params: dict[str, Scalar] = Field(default_factory=dict)
    headers: dict[str, str] = Field(default_factory=dict)
    auth: Auth | None = None
    records_path: str | None = Field(
        default=None, description="Dotted path to the records; empty: the body is the array."
    )
    pagination: Pagination = Field(default_factory=lambda: AutoPagination(type="auto"))
    incremental: Incremental | None = None
    rate_limit: RateLimit | None = None

    _check_url = field_validator("base_url")(_absolute_http_url)

    @field_validator("headers")
    @classmethod
    def _no_authorization_header(cls, value: dict[str, str]) -> dict[str, str]:
        if any(name.lower() == "authorization" for name in value):
            # Plain headers are not secret-typed; auth keeps the credential redacted.
            raise ValueError("give credentials as auth, not as an Authorization header")
        return value

    @property
    def url(self) -> str:
        if not self.path:
            return self.base_url
        return self.base_url.rstrip("/") + "/" + self.path.lstrip("/")

    def source_key(self) -> str:
        """Identifies the source across runs: its name, else a hash of what it fetches."""
        if self.name is not None:
            return self.name
        stable = json.dumps(
            {"url": self.url, "params": self.params}, sort_keys=True, separators=(",", ":")
        )
        return "sha256:" + hashlib.sha256(stable.encode()).hexdigest()[:57]


class UrlSource(_Model):
    type: Literal["url"]
    url: str

    _check_url = field_validator("url")(_absolute_http_url)


SourceConfig = Annotated[UrlSource | RestSource, Field(discriminator="type")]
_SOURCE = TypeAdapter[UrlSource | RestSource](SourceConfig)


def stored_json(config: UrlSource | RestSource) -> str:
    """The config as JSON with its secrets revealed: for the fetch job only, never shown."""

    def reveal(value: Any) -> Any:
        if isinstance(value, SecretStr):
            return value.get_secret_value()
        raise TypeError(f"{type(value).__name__} is not JSON serialisable")

    return json.dumps(config.model_dump(mode="python", by_alias=True), default=reveal)


def load_stored(text: str) -> UrlSource | RestSource:
    return _SOURCE.validate_json(text)


def shown(config: UrlSource | RestSource) -> dict[str, Any]:
    """The config as the import resource shows it: secrets and credential-like header and
    parameter values redacted, query strings of URLs reduced to their names."""
    out: dict[str, Any] = config.model_dump(mode="json", by_alias=True, exclude_none=True)
    for key in ("url", "base_url"):
        if key in out:
            out[key] = redact_url(out[key])
    if isinstance(config, RestSource):
        for key in ("headers", "params"):
            out[key] = {
                name: REDACTED if _SENSITIVE_NAME.search(name) else value
                for name, value in out[key].items()
            }
        if "auth" in out:
            out["auth"] = {
                name: REDACTED if name in _SECRET_FIELDS else value
                for name, value in out["auth"].items()
            }
            if isinstance(config.auth, OAuth2ClientCredentials):
                out["auth"]["token_url"] = redact_url(config.auth.token_url)
    return out
