"""Credentials of REST sources: basic, bearer, API key (header or query), and OAuth 2.0
client credentials with a cached token that is renewed before it expires and again when
the API answers 401 mid-run (a token revoked or expired early).
"""

from __future__ import annotations

import hashlib
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass

from loadbay.outbound import OutboundClient
from loadbay.outbound.errors import redact_url
from loadbay.sources.config import (
    ApiKeyAuth,
    Auth,
    BasicAuth,
    BearerAuth,
    OAuth2ClientCredentials,
)
from loadbay.sources.errors import SourceAuthFailed

# A token is renewed this long before the expiry its endpoint announced (at most a tenth of
# its lifetime), so a request never leaves with a token that expires on the way.
EXPIRY_MARGIN = 30.0


@dataclass(frozen=True, slots=True)
class _Token:
    value: str
    expires_at: float | None  # monotonic clock; None: the endpoint gave no lifetime


class TokenCache:
    """OAuth tokens by client (token URL, client id, secret, scope), shared by the fetches
    of one process, so that repeated runs of a source do not ask for a token each time."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._tokens: dict[str, _Token] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _key(auth: OAuth2ClientCredentials) -> str:
        # The secret is part of the key (hashed): a changed secret must not reuse a token
        # obtained with the old one.
        parts = (auth.token_url, auth.client_id, auth.client_secret.get_secret_value())
        return hashlib.sha256("\0".join((*parts, auth.scope or "")).encode()).hexdigest()

    def get(self, client: OutboundClient, auth: OAuth2ClientCredentials) -> str:
        key = self._key(auth)
        with self._lock:
            token = self._tokens.get(key)
        if token is not None and (token.expires_at is None or self._clock() < token.expires_at):
            return token.value
        token = self._request(client, auth)
        with self._lock:
            self._tokens[key] = token
        return token.value

    def invalidate(self, auth: OAuth2ClientCredentials, value: str) -> None:
        """Forget ``value`` (refused by the API); a newer token someone else got stays."""
        key = self._key(auth)
        with self._lock:
            if key in self._tokens and self._tokens[key].value == value:
                del self._tokens[key]

    def _request(self, client: OutboundClient, auth: OAuth2ClientCredentials) -> _Token:
        form = {"grant_type": "client_credentials"}
        if auth.scope:
            form["scope"] = auth.scope
        basic: tuple[str, str] | None = None
        secret = auth.client_secret.get_secret_value()
        if auth.client_auth == "basic":
            # RFC 6749 §2.3.1: id and secret are form-encoded before they go into Basic.
            basic = (urllib.parse.quote(auth.client_id), urllib.parse.quote(secret))
        else:
            form |= {"client_id": auth.client_id, "client_secret": secret}
        started = self._clock()
        response = client.request(
            "POST",
            auth.token_url,
            content=urllib.parse.urlencode(form),
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept": "application/json",
            },
            auth=basic,
            # A client-credentials grant has no effect but a new token (RFC 6749 §4.4): safe
            # to send again after a 5xx or a lost answer, like any GET.
            repeatable=True,
        )
        shown = redact_url(auth.token_url)
        try:
            body = response.json()
        except ValueError:
            body = None
        if not response.is_success:
            # The OAuth error code (RFC 6749 §5.2) says what is wrong; the rest of the body
            # is not shown, in case the endpoint echoes what it was sent.
            code = body.get("error") if isinstance(body, dict) else None
            why = f" ({code})" if isinstance(code, str) else ""
            raise SourceAuthFailed(
                f"the token endpoint {shown} answered {response.status_code} "
                f"{response.reason_phrase}{why}".rstrip()
            )
        value = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(value, str) or not value:
            raise SourceAuthFailed(f"the token endpoint {shown} answered without an access_token")
        lifetime = body.get("expires_in")
        expires_at = None
        if isinstance(lifetime, int | float) and not isinstance(lifetime, bool):
            expires_at = started + max(0.0, lifetime - min(EXPIRY_MARGIN, lifetime / 10))
        return _Token(value, expires_at)


class Authenticator:
    """Adds a source's credentials to each request."""

    def __init__(self, client: OutboundClient, auth: Auth | None, tokens: TokenCache) -> None:
        self._client = client
        self._auth = auth
        self._tokens = tokens
        self._token: str | None = None  # the OAuth token the last request carried

    def apply(self, headers: dict[str, str], params: dict[str, str]) -> tuple[str, str] | None:
        """Set the credentials in ``headers``/``params``; returns Basic credentials for the
        client (which drops them on a redirect to another origin)."""
        match self._auth:
            case BasicAuth():
                return self._auth.username, self._auth.password.get_secret_value()
            case BearerAuth():
                headers["Authorization"] = f"Bearer {self._auth.token.get_secret_value()}"
            case ApiKeyAuth(in_="header"):
                headers[self._auth.name] = self._auth.value.get_secret_value()
            case ApiKeyAuth():
                params[self._auth.name] = self._auth.value.get_secret_value()
            case OAuth2ClientCredentials():
                self._token = self._tokens.get(self._client, self._auth)
                headers["Authorization"] = f"Bearer {self._token}"
            case None:
                pass
        return None

    def renew(self) -> bool:
        """After a 401: drop the token so the next ``apply`` gets a new one. False when a new
        attempt cannot help (no OAuth)."""
        if not isinstance(self._auth, OAuth2ClientCredentials) or self._token is None:
            return False
        self._tokens.invalidate(self._auth, self._token)
        self._token = None
        return True
