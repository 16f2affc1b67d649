"""Authentication, scopes, CSRF and Fetch-Metadata checks, applied in one middleware.

What a route needs follows from its method and path (``required_scope``), so the rule is the
same for every router and for the OpenAPI document (``loadbay.security.openapi``):

- ``/api/keys…``: admin; other ``/api/…`` and ``/metrics``: read for GET/HEAD, write otherwise;
- OPTIONS (CORS preflight, tus discovery), ``/api/session`` (sign-in), probes, the OpenAPI
  document and the page: public.

A request authenticates with an API key (``Authorization: Bearer`` or ``X-API-Key``), or with
the page's session cookie. ``LOADBAY_AUTH=required``: a protected route needs one of them,
with the scope. ``LOADBAY_AUTH=local``: a request with neither is served with every scope, and
``loadbay serve`` refuses any address but loopback (``bind_refusal``). A key or a session that
is sent is checked in both modes.

Requests without a key are what a browser sends, so unsafe ones must not come from another
site (``Sec-Fetch-Site: cross-site``, unless the Origin is in the CORS allow-list), and with a
session they need its CSRF token. Requests with a key are exempt: browsers never add one.
"""

from __future__ import annotations

import ipaddress
import logging
import uuid
from typing import Any

from anyio import to_thread
from starlette.requests import Request, cookie_parser
from starlette.types import ASGIApp, Receive, Scope, Send

from loadbay.api_errors import HTTPProblem
from loadbay.context import AppContext
from loadbay.security import actors
from loadbay.security.keys import Scope as KeyScope
from loadbay.security.keys import grants
from loadbay.security.service import Caller, authenticate, count_live_keys, live_caller
from loadbay.security.sessions import CSRF_HEADER, SESSION_COOKIE, Session, SessionSigner
from loadbay.settings import Settings

logger = logging.getLogger("loadbay.security")

# Keys and webhooks (whose secrets sign what loadbay sends) need the admin scope.
ADMIN_PREFIXES = ("/api/keys", "/api/webhooks")
SESSION_PATH = "/api/session"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def required_scope(method: str, path: str) -> KeyScope | None:
    """The scope a request needs, or None for a public one."""
    if method == "OPTIONS" or path == SESSION_PATH:
        return None
    if any(path == prefix or path.startswith(prefix + "/") for prefix in ADMIN_PREFIXES):
        return KeyScope.ADMIN
    if path.startswith("/api/") or path == "/metrics":
        return KeyScope.READ if method in SAFE_METHODS else KeyScope.WRITE
    return None


def presented_key(headers: dict[bytes, bytes]) -> str | None:
    """The key from ``Authorization: Bearer`` or else ``X-API-Key``; "" when malformed."""
    authorization = headers.get(b"authorization")
    if authorization is not None:
        scheme, _, credentials = authorization.decode("latin-1").partition(" ")
        return credentials.strip() if scheme.lower() == "bearer" else ""
    api_key = headers.get(b"x-api-key")
    return api_key.decode("latin-1").strip() if api_key is not None else None


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bind_refusal(host: str, settings: Settings) -> str | None:
    """Why the server must not listen on ``host``, or None when it may."""
    if settings.auth == "required" or is_loopback(host):
        return None
    return (
        f"refusing to listen on {host}: authentication is not configured "
        "(LOADBAY_AUTH=local serves every request without a key, so it binds only to "
        "loopback addresses). Create a key with `loadbay keys create --name NAME "
        "--scopes read,write,admin`, then start with LOADBAY_AUTH=required; "
        "see docs/security.md."
    )


def announce_auth_mode(context: AppContext) -> None:
    """Log at start how requests are authenticated, so nobody runs open by surprise."""
    if context.settings.auth == "local":
        logger.warning(
            "local mode (LOADBAY_AUTH=local): API requests without a key are accepted with "
            "every scope; listen on loopback only"
        )
        return
    with context.sessions() as session:
        live = count_live_keys(session)
    if live == 0 and context.settings.admin_password is None:
        logger.warning(
            "LOADBAY_AUTH=required and no API key exists: every API request will be refused; "
            "create one with `loadbay keys create`"
        )
    else:
        logger.info("API keys required (%d live key(s))", live)


def _unauthorized(detail: str, challenge: str = 'Bearer error="invalid_token"') -> HTTPProblem:
    return HTTPProblem(
        401, "unauthorized", "Unauthorized", detail, headers={"WWW-Authenticate": challenge}
    )


class AuthMiddleware:
    def __init__(self, app: ASGIApp, settings: Settings, sessions: SessionSigner) -> None:
        self.app = app
        self.local = settings.auth == "local"
        self.sessions = sessions
        self.trusted_origins = frozenset(o for o in settings.cors_origins if o != "*")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            key_id, actor = await self._authorise(scope)
        except HTTPProblem as refusal:
            await self._refuse(scope, receive, send, refusal)
            return
        state = scope.setdefault("state", {})
        if key_id is not None:
            state["api_key_id"] = str(key_id)
        if actor is not None:
            state["actor"] = actor
        await self.app(scope, receive, send)

    async def _authorise(self, scope: Scope) -> tuple[uuid.UUID | None, str | None]:
        """Raise HTTPProblem, or return the caller's key id (None: no key involved) and who
        the caller is (``security.actors``; None on public routes)."""
        method: str = scope["method"]
        needed = required_scope(method, scope["path"])
        headers = dict(scope["headers"])
        secret = presented_key(headers)
        if secret is not None:
            if needed is None:
                return None, None
            caller = (
                await self._run(scope, lambda s: authenticate(s, secret=secret)) if secret else None
            )
            if caller is None:
                raise _unauthorized("the API key is unknown, revoked or malformed")
            self._check_scope(caller.scopes, needed)
            return caller.key_id, actors.key(caller.name)
        unsafe = method not in SAFE_METHODS
        if unsafe and self._cross_site(headers):
            raise HTTPProblem(
                403,
                "cross-site-request",
                "Cross-site request",
                "unsafe requests from another site are refused (Sec-Fetch-Site: cross-site)",
            )
        if needed is None:
            return None, None
        session = self._session(headers)
        if session is None:
            if self.local:
                return None, actors.LOCAL
            raise _unauthorized(
                "an API key is required: send Authorization: Bearer <key> or X-API-Key", "Bearer"
            )
        scopes = session.scopes
        actor = actors.ADMIN  # a session signed in with LOADBAY_ADMIN_PASSWORD
        if session.key_id is not None:
            key_id = session.key_id
            caller = await self._run(scope, lambda s: live_caller(s, key_id=key_id))
            if caller is None:
                raise _unauthorized("the session's API key is revoked", "Bearer")
            scopes = caller.scopes
            actor = actors.key(caller.name)
        if unsafe and not self._csrf_ok(session, headers):
            raise HTTPProblem(
                403,
                "csrf-failed",
                "CSRF check failed",
                "send the session's CSRF token (the loadbay_csrf cookie) as X-CSRF-Token",
            )
        self._check_scope(scopes, needed)
        return session.key_id, actor

    @staticmethod
    def _check_scope(scopes: frozenset[KeyScope], needed: KeyScope) -> None:
        if not grants(scopes, needed):
            raise HTTPProblem(
                403,
                "insufficient-scope",
                "Insufficient scope",
                f"this request needs the {needed.value} scope",
                headers={
                    "WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{needed.value}"'
                },
                required_scope=needed.value,
            )

    def _cross_site(self, headers: dict[bytes, bytes]) -> bool:
        if headers.get(b"sec-fetch-site") != b"cross-site":
            return False
        return headers.get(b"origin", b"").decode("latin-1") not in self.trusted_origins

    def _session(self, headers: dict[bytes, bytes]) -> Session | None:
        cookies = cookie_parser(headers.get(b"cookie", b"").decode("latin-1"))
        cookie = cookies.get(SESSION_COOKIE)
        return self.sessions.read(cookie) if cookie else None

    def _csrf_ok(self, session: Session, headers: dict[bytes, bytes]) -> bool:
        token = headers.get(CSRF_HEADER)
        return token is not None and self.sessions.csrf_valid(session, token.decode("latin-1"))

    @staticmethod
    async def _run(scope: Scope, query: Any) -> Caller | None:
        context: AppContext = scope["app"].state.context

        def lookup() -> Caller | None:
            with context.sessions() as session:
                result: Caller | None = query(session)
                return result

        return await to_thread.run_sync(lookup)

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, refusal: HTTPProblem) -> None:
        response = refusal.response(Request(scope))
        await response(scope, receive, send)
