"""Page sessions: a signed, stateless cookie and a CSRF token bound to it.

The session cookie (HttpOnly, SameSite=Lax, Secure over https) holds who signed in, the
scopes, an expiry and a random nonce, signed with HMAC-SHA256. The CSRF token is
HMAC(secret, nonce): the page reads it from the ``loadbay_csrf`` cookie (not HttpOnly) and
sends it back as ``X-CSRF-Token`` on unsafe requests — a signed double submit, so a token
planted by a sibling subdomain cannot match a session it did not see.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
import uuid
from dataclasses import dataclass

from loadbay.security.keys import Scope, decode_scopes, encode_scopes
from loadbay.settings import Settings

SESSION_COOKIE = "loadbay_session"
CSRF_COOKIE = "loadbay_csrf"
CSRF_HEADER = b"x-csrf-token"


@dataclass(frozen=True, slots=True)
class Session:
    nonce: str
    scopes: frozenset[Scope]
    expires: int  # Unix seconds
    key_id: uuid.UUID | None  # None: signed in with the admin password


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SessionSigner:
    def __init__(self, secret: bytes, ttl: int) -> None:
        self._secret = secret
        self.ttl = ttl

    @classmethod
    def from_settings(cls, settings: Settings) -> SessionSigner:
        secret = settings.session_secret
        # Without a configured secret each process makes its own: sessions then end at
        # restart and hold on one process only (documented).
        raw = secret.get_secret_value().encode() if secret else secrets.token_bytes(32)
        return cls(raw, settings.session_ttl)

    def _mac(self, purpose: str, payload: str) -> str:
        message = f"{purpose}:{payload}".encode()
        return _b64(hmac.new(self._secret, message, hashlib.sha256).digest())

    def issue(self, *, scopes: frozenset[Scope], key_id: uuid.UUID | None) -> tuple[str, Session]:
        session = Session(
            nonce=secrets.token_urlsafe(16),
            scopes=scopes,
            expires=int(time.time()) + self.ttl,
            key_id=key_id,
        )
        body = {
            "n": session.nonce,
            "s": encode_scopes(scopes),
            "e": session.expires,
            "k": str(key_id) if key_id else None,
        }
        payload = _b64(json.dumps(body, separators=(",", ":")).encode())
        return f"{payload}.{self._mac('session', payload)}", session

    def read(self, cookie: str) -> Session | None:
        """The session a cookie holds, or None when it is forged, malformed or expired."""
        payload, _, mac = cookie.partition(".")
        if not hmac.compare_digest(mac.encode(), self._mac("session", payload).encode()):
            return None
        try:
            body = json.loads(_unb64(payload))
            session = Session(
                nonce=str(body["n"]),
                scopes=decode_scopes(str(body["s"])),
                expires=int(body["e"]),
                key_id=uuid.UUID(body["k"]) if body["k"] else None,
            )
        except (ValueError, KeyError, TypeError, binascii.Error):
            return None
        return session if session.expires > time.time() else None

    def csrf_token(self, session: Session) -> str:
        return self._mac("csrf", session.nonce)

    def csrf_valid(self, session: Session, token: str) -> bool:
        return hmac.compare_digest(token.encode(), self.csrf_token(session).encode())
