"""When an outbound request is tried again, and how long to wait before it."""

from __future__ import annotations

import email.utils
import random
from datetime import UTC

import httpx

# RFC 9110 §9.2.2: repeating these has the same effect as sending them once.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"})

# Failures after which the remote may not have acted on the request, or acted and then the
# connection broke (reset, timeout reading the answer): only an idempotent request (or one
# with an Idempotency-Key) may be sent again after these.
RETRYABLE_ERRORS: tuple[type[httpx.TransportError], ...] = (
    httpx.ReadTimeout,
    httpx.ReadError,
    httpx.WriteError,
    httpx.RemoteProtocolError,
)
# Failures before a single byte of the request left: retrying cannot apply it twice, so
# every method may be retried after these.
CONNECT_ERRORS: tuple[type[httpx.TransportError], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
)


def is_retryable_status(status: int) -> bool:
    """408 Request Timeout, 429 Too Many Requests and every 5xx: the remote may answer
    differently later."""
    return status in (408, 429) or 500 <= status <= 599


def may_retry(method: str, headers: httpx.Headers) -> bool:
    """Whether a request may be sent again once it may have reached the remote."""
    return method.upper() in IDEMPOTENT_METHODS or "idempotency-key" in headers


def parse_retry_after(value: str | None, *, now: float) -> float | None:
    """Seconds a ``Retry-After`` value asks for (delay-seconds or an HTTP-date), or None.

    A date in the past gives a negative number; the caller's floor turns it into the
    minimum backoff. ``now`` is a POSIX timestamp.
    """
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT; "-0000" parses as naive
        when = when.replace(tzinfo=UTC)
    return when.timestamp() - now


def backoff_wait(
    attempt: int,
    retry_after: float | None,
    *,
    base: float,
    cap: float,
    rng: random.Random | None = None,
) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based).

    Without Retry-After: full jitter, uniform in [0, min(cap, base * 2**(attempt - 1))],
    so many clients failing together do not come back together. With Retry-After: what the
    server asked for, at least ``base`` (a "0" or a past date must not turn the retries
    into a tight loop) and at most ``cap`` (a server cannot park a job for an hour).
    """
    if retry_after is not None:
        return min(cap, max(retry_after, base))
    # The exponent is bounded so that huge attempt counts cannot overflow the float.
    ceiling = min(cap, base * 2.0 ** min(attempt - 1, 64))
    return (rng or random).uniform(0.0, ceiling)
