"""The one outbound HTTP client: timeouts, pooled connections, retries, redirects, SSRF guard.

Sources, HTTP destinations and webhooks all call remote servers through an
:class:`OutboundClient`; build one per process (it holds the connection pool, and httpx
clients are safe to share between the job threads) and ``close()`` it at shutdown.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from types import TracebackType
from typing import Any

import httpcore
import httpx
import tenacity

from loadbay import __version__
from loadbay.outbound.errors import OutboundError, OutboundRefused, redact_url
from loadbay.outbound.retry import (
    CONNECT_ERRORS,
    RETRYABLE_ERRORS,
    backoff_wait,
    is_retryable_status,
    may_retry,
    parse_retry_after,
)
from loadbay.outbound.ssrf import AddressGuard, GuardedTransport, check_url
from loadbay.settings import Settings

logger = logging.getLogger("loadbay.outbound")

USER_AGENT = f"loadbay/{__version__}"

QueryParams = Mapping[str, str | int | float | bool]

# Headers that authenticate the sender to one origin; a redirect elsewhere must not carry
# them (the same rule browsers and httpx's own redirect handling apply).
_CREDENTIAL_HEADERS = ("authorization", "proxy-authorization", "cookie")
_BODY_HEADERS = ("content-length", "content-type", "transfer-encoding")


class _RedactURLs(logging.Filter):
    """httpx logs each request's full URL at INFO ("HTTP Request: GET …"); query strings are
    where API keys and signed-URL tokens live, so its URLs are logged redacted."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                redact_url(arg) if isinstance(arg, httpx.URL) else arg for arg in record.args
            )
        return True


_HTTPX_LOGGER = logging.getLogger("httpx")
if not any(isinstance(f, _RedactURLs) for f in _HTTPX_LOGGER.filters):
    _HTTPX_LOGGER.addFilter(_RedactURLs())


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    default_port = {"http": 80, "https": 443}.get(url.scheme)
    return url.scheme, url.host, url.port or default_port


class OutboundClient:
    """Sync HTTP client for calls to other servers; see docs/security.md for the guard.

    ``sleep`` is what waits between attempts (tests pass a recorder); ``rng`` draws the
    jitter.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self._settings = settings
        self._sleep = sleep
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not a secret
        limits = httpx.Limits(
            max_connections=settings.outbound_max_connections,
            max_keepalive_connections=settings.outbound_max_keepalive,
        )
        self._guard = AddressGuard(settings.outbound_allow)
        self._client = httpx.Client(
            transport=GuardedTransport(self._guard, limits=limits),
            timeout=httpx.Timeout(
                connect=settings.outbound_connect_timeout,
                read=settings.outbound_read_timeout,
                write=settings.outbound_write_timeout,
                pool=settings.outbound_pool_timeout,
            ),
            headers={"User-Agent": USER_AGENT},
            # Redirects are followed by _exchange, so that each hop's URL is checked and
            # credentials are dropped when the origin changes.
            follow_redirects=False,
            # No proxies, .netrc or SSL_* from the environment: an HTTP(S)_PROXY would make
            # the proxy's address the only one the guard sees.
            trust_env=False,
        )

    def check_target(self, url: str) -> None:
        """Refuse now (OutboundRefused) a URL the guard would refuse when called: for
        settings saved for later, such as webhook endpoints. Sending checks again, since
        what a name resolves to can change."""
        parsed = httpx.URL(url)
        check_url(parsed)
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        try:
            self._guard.resolve(parsed.host, port)
        except httpcore.ConnectError:
            return  # a name that does not resolve yet is not a refusal; sending will tell

    def request(
        self,
        method: str,
        url: str | httpx.URL,
        *,
        headers: Mapping[str, str] | None = None,
        params: QueryParams | None = None,
        json: Any = None,
        content: bytes | str | None = None,
        idempotency_key: str | None = None,
        auth: tuple[str, str] | None = None,
        follow_redirects: bool = True,
        repeatable: bool = False,
    ) -> httpx.Response:
        """Send a request and read the whole answer.

        Returns the response for any status except a retryable one (408, 429, 5xx) that
        is still the answer after the last allowed attempt: that raises OutboundError, as
        do transport failures. OutboundRefused: the SSRF guard refused a URL or address
        (nothing was sent to it). A request that may have reached the remote is sent again
        only when its method is idempotent, it carries an Idempotency-Key, or the caller
        says it is ``repeatable`` (a POST with no effect but its answer, such as a token
        grant).
        """
        return self._exchange(
            method,
            url,
            headers=headers,
            params=params,
            json=json,
            content=content,
            idempotency_key=idempotency_key,
            auth=auth,
            follow_redirects=follow_redirects,
            read=True,
            repeatable=repeatable,
        )

    @contextmanager
    def stream(
        self,
        method: str,
        url: str | httpx.URL,
        *,
        headers: Mapping[str, str] | None = None,
        params: QueryParams | None = None,
        json: Any = None,
        content: bytes | str | None = None,
        idempotency_key: str | None = None,
        auth: tuple[str, str] | None = None,
        follow_redirects: bool = True,
    ) -> Iterator[httpx.Response]:
        """Like :meth:`request`, for large answers: the body is not read; iterate it with
        ``iter_bytes()``. Retries cover getting the status and headers; a failure while the
        caller reads the body is not retried (only the caller knows what it has consumed)
        and raises OutboundError."""
        response = self._exchange(
            method,
            url,
            headers=headers,
            params=params,
            json=json,
            content=content,
            idempotency_key=idempotency_key,
            auth=auth,
            follow_redirects=follow_redirects,
            read=False,
            repeatable=False,
        )
        try:
            yield response
        except httpx.TransportError as exc:
            raise OutboundError(
                method=response.request.method,
                url=redact_url(response.request.url),
                reason=f"reading the response body: {_describe(exc)}",
                attempts=1,
                status=response.status_code,
            ) from exc
        finally:
            response.close()

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> OutboundClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _exchange(
        self,
        method: str,
        url: str | httpx.URL,
        *,
        headers: Mapping[str, str] | None,
        params: QueryParams | None,
        json: Any,
        content: bytes | str | None,
        idempotency_key: str | None,
        auth: tuple[str, str] | None,
        follow_redirects: bool,
        read: bool,
        repeatable: bool,
    ) -> httpx.Response:
        merged = httpx.Headers(headers)
        if idempotency_key is not None:
            merged["Idempotency-Key"] = idempotency_key
        try:
            target = httpx.URL(url)
        except httpx.InvalidURL as exc:
            shown = redact_url(str(url))
            raise OutboundRefused(
                f"{shown}: invalid URL: {exc}",
                url=shown,
                host=None,
                address=None,
                reason="invalid URL",
            ) from None
        # Checked before build_request: httpx treats a URL without a host ("file:///x") as
        # relative and would quietly turn it into "/x".
        check_url(target, auth_given=auth is not None)
        if params is not None:
            # Added to the URL's own query: httpx would replace that query with them.
            target = target.copy_merge_params(params)
        request = self._client.build_request(
            method.upper(), target, headers=merged, json=json, content=content
        )
        redirects = 0
        while True:
            response = self._send(
                request, auth=auth, read=read, redirected=redirects > 0, repeatable=repeatable
            )
            if not (follow_redirects and response.has_redirect_location):
                return response
            response.close()
            if redirects >= self._settings.outbound_max_redirects:
                raise OutboundError(
                    method=request.method,
                    url=redact_url(request.url),
                    reason=f"more than {self._settings.outbound_max_redirects} redirects",
                    attempts=1,
                    status=response.status_code,
                )
            redirects += 1
            next_request = self._redirect_request(request, response)
            if _origin(next_request.url) != _origin(request.url):
                auth = None
            request = next_request

    def _redirect_request(self, request: httpx.Request, response: httpx.Response) -> httpx.Request:
        location = response.headers["Location"]
        try:
            url = request.url.join(location)
        except httpx.InvalidURL as exc:
            raise OutboundError(
                method=request.method,
                url=redact_url(request.url),
                reason=f"invalid redirect Location: {exc}",
                attempts=1,
                status=response.status_code,
            ) from None
        check_url(url)
        method = request.method
        # RFC 9110 §15.4: 303 means "GET the result"; 301/302 after POST are turned into a
        # GET by every client in practice. 307/308 repeat the request as it was.
        if (response.status_code == 303 and method != "HEAD") or (
            response.status_code in (301, 302) and method == "POST"
        ):
            method = "GET"
        headers = httpx.Headers(request.headers)
        del headers["Host"]  # rebuilt for the new URL by build_request
        content: bytes | None = request.content
        if method != request.method:
            content = None
            for name in _BODY_HEADERS:
                headers.pop(name, None)
        if _origin(url) != _origin(request.url):
            for name in _CREDENTIAL_HEADERS:
                headers.pop(name, None)
        return self._client.build_request(method, url, headers=headers, content=content)

    def _send(
        self,
        request: httpx.Request,
        *,
        auth: tuple[str, str] | None,
        read: bool,
        redirected: bool,
        repeatable: bool,
    ) -> httpx.Response:
        """One hop, with retries; returns a response that is not a retryable failure."""
        settings = self._settings
        repeatable = repeatable or may_retry(request.method, request.headers)
        shown = redact_url(request.url)
        attempts = 0

        def attempt() -> httpx.Response:
            nonlocal attempts
            attempts += 1
            response = self._client.send(
                request, auth=httpx.BasicAuth(*auth) if auth else None, stream=True
            )
            if read:
                try:
                    response.read()
                except BaseException:
                    response.close()
                    raise
            return response

        def should_retry(state: tenacity.RetryCallState) -> bool:
            outcome = state.outcome
            assert outcome is not None
            if outcome.failed:
                error = outcome.exception()
                return isinstance(error, CONNECT_ERRORS) or (
                    repeatable and isinstance(error, RETRYABLE_ERRORS)
                )
            response: httpx.Response = outcome.result()
            return repeatable and is_retryable_status(response.status_code)

        def wait(state: tenacity.RetryCallState) -> float:
            outcome = state.outcome
            retry_after = None
            if outcome is not None and not outcome.failed:
                retry_after = parse_retry_after(
                    outcome.result().headers.get("Retry-After"), now=time.time()
                )
            return backoff_wait(
                state.attempt_number,
                retry_after,
                base=settings.outbound_retry_base,
                cap=settings.outbound_retry_max_wait,
                rng=self._rng,
            )

        def before_sleep(state: tenacity.RetryCallState) -> None:
            outcome = state.outcome
            assert outcome is not None
            if outcome.failed:
                what = _describe(outcome.exception())
            else:
                response = outcome.result()
                response.close()  # discarded: give its connection back
                what = f"HTTP {response.status_code}"
            logger.warning(
                "outbound %s %s: %s; attempt %d of %d, retrying in %.2f s",
                request.method,
                shown,
                what,
                state.attempt_number,
                settings.outbound_retry_attempts,
                state.upcoming_sleep,
            )

        def give_up(state: tenacity.RetryCallState) -> httpx.Response:
            outcome = state.outcome
            assert outcome is not None
            result: httpx.Response = outcome.result()  # re-raises the last error, if any
            return result

        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(settings.outbound_retry_attempts),
            wait=wait,
            retry=should_retry,
            before_sleep=before_sleep,
            sleep=self._sleep,
            retry_error_callback=give_up,
        )
        try:
            response: httpx.Response = retrying(attempt)
        except OutboundRefused as exc:
            # Raised where the socket would have connected, which does not know the URL.
            where = f"redirect to {shown}" if redirected else shown
            raise OutboundRefused(
                f"{where}: {exc.detail}",
                url=shown,
                host=exc.host,
                address=exc.address,
                reason=exc.reason,
            ) from None
        except httpx.TransportError as exc:
            raise OutboundError(
                method=request.method,
                url=shown,
                reason=_describe(exc),
                attempts=attempts,
            ) from exc
        if is_retryable_status(response.status_code):
            response.close()
            reason = f"HTTP {response.status_code} {response.reason_phrase}".rstrip()
            if not repeatable:
                reason += f" (not retried: {request.method} without an Idempotency-Key)"
            raise OutboundError(
                method=request.method,
                url=shown,
                reason=reason,
                attempts=attempts,
                status=response.status_code,
            )
        return response


def _describe(error: BaseException | None) -> str:
    if error is None:
        return "unknown error"
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
