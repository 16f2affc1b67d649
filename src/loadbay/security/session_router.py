"""``/api/session``: the page signs in with a key (or the admin password) and gets cookies."""

from __future__ import annotations

import datetime as dt
import hmac
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy.orm import Session as DbSession

from loadbay.api_errors import HTTPProblem, problem_responses
from loadbay.context import get_context, get_session
from loadbay.security import service
from loadbay.security.auth import SESSION_PATH
from loadbay.security.keys import Scope
from loadbay.security.sessions import CSRF_COOKIE, SESSION_COOKIE, Session, SessionSigner

router = APIRouter(prefix=SESSION_PATH, tags=["session"])
Db = Annotated[DbSession, Depends(get_session)]


class SignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str | None = Field(default=None, max_length=200, description="An API key.")
    password: str | None = Field(
        default=None, max_length=1000, description="LOADBAY_ADMIN_PASSWORD, when configured."
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> SignIn:
        if (self.key is None) == (self.password is None):
            raise ValueError("send either key or password")
        return self


class SessionOut(BaseModel):
    scopes: list[Scope]
    expires_at: dt.datetime
    csrf_token: str = Field(description="Send it as X-CSRF-Token on unsafe requests.")


def _signer(request: Request) -> SessionSigner:
    signer: SessionSigner = request.app.state.session_signer
    return signer


def _out(signer: SessionSigner, session: Session, scopes: frozenset[Scope]) -> SessionOut:
    return SessionOut(
        scopes=sorted(scopes, key=lambda s: s.rank),
        expires_at=dt.datetime.fromtimestamp(session.expires, dt.UTC),
        csrf_token=signer.csrf_token(session),
    )


def _secure(request: Request) -> bool:
    if request.url.scheme == "https":
        return True
    forwarded = request.headers.get("x-forwarded-proto", "")
    return get_context(request).settings.trust_proxy and forwarded.lower() == "https"


def _not_signed_in(detail: str) -> HTTPProblem:
    return HTTPProblem(401, "unauthorized", "Unauthorized", detail)


@router.post(
    "",
    summary="Sign in: sets the session cookie (HttpOnly) and the CSRF cookie",
    responses=problem_responses(
        {400: "The body is not valid JSON.", 401: "The key or the password is wrong."}
    ),
)
def sign_in(body: SignIn, request: Request, response: Response, db: Db) -> SessionOut:
    settings = get_context(request).settings
    if body.key is not None:
        caller = service.authenticate(db, secret=body.key)
        if caller is None:
            raise _not_signed_in("the API key is unknown, revoked or malformed")
        scopes, key_id = caller.scopes, caller.key_id
    else:
        expected = settings.admin_password
        given = (body.password or "").encode()
        if expected is None or not hmac.compare_digest(given, expected.get_secret_value().encode()):
            raise _not_signed_in("wrong password, or no LOADBAY_ADMIN_PASSWORD configured")
        scopes, key_id = frozenset({Scope.ADMIN}), None
    signer = _signer(request)
    cookie, session = signer.issue(scopes=scopes, key_id=key_id)
    secure = _secure(request)
    response.set_cookie(
        SESSION_COOKIE, cookie, max_age=signer.ttl, httponly=True, samesite="lax", secure=secure
    )
    response.set_cookie(
        CSRF_COOKIE,
        signer.csrf_token(session),
        max_age=signer.ttl,
        httponly=False,  # the page reads it to send X-CSRF-Token
        samesite="lax",
        secure=secure,
    )
    response.headers["Cache-Control"] = "no-store"
    return _out(signer, session, scopes)


@router.get(
    "",
    summary="The current page session",
    responses=problem_responses({401: "No session, or an expired or revoked one."}),
)
def current(request: Request, db: Db) -> SessionOut:
    signer = _signer(request)
    cookie = request.cookies.get(SESSION_COOKIE)
    session = signer.read(cookie) if cookie else None
    if session is None:
        raise _not_signed_in("no session, or an expired one")
    scopes = session.scopes
    if session.key_id is not None:
        caller = service.live_caller(db, key_id=session.key_id)
        if caller is None:
            raise _not_signed_in("the session's API key is revoked")
        scopes = caller.scopes
    return _out(signer, session, scopes)


@router.delete("", status_code=204, summary="Sign out: clears the session cookies")
def sign_out() -> Response:
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="lax")
    response.delete_cookie(CSRF_COOKIE, samesite="lax")
    return response
