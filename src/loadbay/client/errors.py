"""Errors raised by the client: the API's problems, failed imports, transport failures."""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import ValidationError

from loadbay.client.models import Failure, Import

PROBLEM_JSON = "application/problem+json"


class LoadbayClientError(Exception):
    """Base of every error the client raises."""


class LoadbayTransportError(LoadbayClientError):
    """The request did not get an answer (connection refused, timeout, dropped stream)."""

    def __init__(self, method: str, url: str, cause: httpx.TransportError) -> None:
        reason = str(cause) or type(cause).__name__
        super().__init__(f"{method} {url}: {reason}")
        self.method = method
        self.url = url
        self.cause = cause


class LoadbayAPIError(LoadbayClientError):
    """A 4xx/5xx answer. For an ``application/problem+json`` body (RFC 9457) the problem's
    members are attributes; for any other body ``type`` is ``about:blank`` and ``detail``
    quotes the start of the body."""

    def __init__(
        self,
        *,
        status: int,
        type: str,
        title: str,
        detail: str,
        method: str,
        url: str,
        errors: list[dict[str, Any]] | None = None,
        body: Any = None,
        headers: httpx.Headers | None = None,
    ) -> None:
        super().__init__(f"{status} {title}: {detail} ({method} {url})")
        self.status = status
        self.type = type
        self.title = title
        self.detail = detail
        self.method = method
        self.url = url
        self.errors = errors or []
        self.body = body
        self.headers = headers or httpx.Headers()

    @property
    def slug(self) -> str:
        """The problem type without its ``/problems/`` prefix, e.g. ``validation-failed``."""
        return self.type.rsplit("/", 1)[-1]

    @property
    def request_id(self) -> str | None:
        if isinstance(self.body, dict) and isinstance(self.body.get("request_id"), str):
            return str(self.body["request_id"])
        header: str | None = self.headers.get("x-request-id")
        return header

    @property
    def import_(self) -> Import | None:
        """The failed import a ``validation-failed`` (or load conflict) problem carries."""
        if not isinstance(self.body, dict) or not isinstance(self.body.get("import"), dict):
            return None
        try:
            return Import.model_validate(self.body["import"])
        except ValidationError:
            return None

    @classmethod
    def from_response(cls, response: httpx.Response) -> LoadbayAPIError:
        """Built from a response whose body has been read."""
        method, url = response.request.method, str(response.request.url)
        media_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
        body: Any = None
        if media_type in (PROBLEM_JSON, "application/json"):
            try:
                body = response.json()
            except ValueError:
                body = None
        if isinstance(body, dict) and isinstance(body.get("title"), str):
            listed = body.get("errors")
            errors = [e for e in listed if isinstance(e, dict)] if isinstance(listed, list) else []
            return cls(
                status=response.status_code,
                type=str(body.get("type", "about:blank")),
                title=body["title"],
                detail=str(body.get("detail", "")),
                method=method,
                url=url,
                errors=errors,
                body=body,
                headers=response.headers,
            )
        text = response.text
        return cls(
            status=response.status_code,
            type="about:blank",
            title=response.reason_phrase or f"HTTP {response.status_code}",
            detail=text[:500] if text else "(empty body)",
            method=method,
            url=url,
            body=body if body is not None else text,
            headers=response.headers,
        )


class ImportFailed(LoadbayClientError):
    """``wait()`` saw the import end ``failed``; ``failure`` says why."""

    def __init__(self, import_: Import) -> None:
        failure = import_.failure or Failure(type="unknown", detail="no reason was recorded")
        super().__init__(f"import {import_.id} failed: {failure.type}: {failure.detail}")
        self.import_ = import_
        self.failure = failure


class WaitTimeout(LoadbayClientError, TimeoutError):
    """``wait()`` ran out of time; ``import_`` is the last state seen."""

    def __init__(self, import_: Import, timeout: float) -> None:
        super().__init__(f"import {import_.id} is still {import_.state} after {timeout:g} s")
        self.import_ = import_
