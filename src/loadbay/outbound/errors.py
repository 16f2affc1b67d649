"""Domain errors of outbound HTTP. They carry no HTTP status: api_errors.py maps them."""

from __future__ import annotations

import httpx

from loadbay.errors import InvalidInput, LoadbayError


def redact_url(url: httpx.URL | str) -> str:
    """``url`` fit for errors and logs: no userinfo, no query values, no fragment.

    Query strings and userinfo are where API keys and signed-URL tokens live; the scheme,
    host, port and path are what an operator needs to tell which request failed.
    """
    try:
        parsed = url if isinstance(url, httpx.URL) else httpx.URL(url)
    except httpx.InvalidURL:
        return "<invalid URL>"
    shown = parsed.copy_with(username=None, password=None, query=None, fragment=None)
    text = str(shown)
    if parsed.query:
        names = sorted({name for name, _ in parsed.params.multi_items()})
        text += "?" + "&".join(f"{name}=[redacted]" for name in names)
    return text


class OutboundRefused(InvalidInput):
    """The URL or the address it resolves to may not be called (SSRF guard); nothing was sent."""

    slug = "outbound-refused"
    title = "Outbound request refused"

    def __init__(
        self, detail: str, *, url: str, host: str | None, address: str | None, reason: str
    ) -> None:
        super().__init__(detail, url=url, host=host, address=address, reason=reason)
        self.url = url
        self.host = host
        self.address = address
        self.reason = reason


class OutboundError(LoadbayError):
    """An outbound request failed for good: retries exhausted, not retryable, or too many
    redirects. ``status`` is the last HTTP status, None when no response came."""

    slug = "outbound-failed"
    title = "Outbound request failed"

    def __init__(
        self, *, method: str, url: str, reason: str, attempts: int, status: int | None = None
    ) -> None:
        noun = "attempt" if attempts == 1 else "attempts"
        super().__init__(
            f"{method} {url} failed after {attempts} {noun}: {reason}",
            method=method,
            url=url,
            # Not "status": the problem body's own status is the API's answer, not the remote's.
            upstream_status=status,
            attempts=attempts,
            reason=reason,
        )
        self.method = method
        self.url = url
        self.reason = reason
        self.attempts = attempts
        self.status = status
