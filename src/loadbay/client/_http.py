"""One httpx.Client with loadbay's conventions: explicit timeouts, the API key sent only to
the server's own origin, problems raised as ``LoadbayAPIError``, transport errors wrapped."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from loadbay import __version__
from loadbay.client.errors import LoadbayAPIError, LoadbayTransportError

DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)


class BearerAuth(httpx.Auth):
    """``Authorization: Bearer <key>`` for requests to ``origin`` only: an upload URL taken
    from a ``Location`` header could name another host, which must not get the key."""

    def __init__(self, api_key: str, origin: tuple[bytes, bytes, int | None]) -> None:
        self._header = f"Bearer {api_key}"
        self._origin = origin

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if _origin(request.url) == self._origin:
            request.headers["Authorization"] = self._header
        yield request


def _origin(url: httpx.URL) -> tuple[bytes, bytes, int | None]:
    return url.raw_scheme, url.raw_host, url.port


class HTTP:
    """What the resource APIs share: the connection pool and the error mapping."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        *,
        timeout: httpx.Timeout | float,
        transport: httpx.BaseTransport | None,
    ) -> None:
        base = httpx.URL(base_url.rstrip("/") + "/")
        self.base_url = base
        self.timeout = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
        self.client = httpx.Client(
            base_url=base,
            timeout=self.timeout,
            transport=transport,
            auth=BearerAuth(api_key, _origin(base)) if api_key else None,
            headers={"User-Agent": f"loadbay-client/{__version__}"},
            follow_redirects=False,
        )

    def url(self, path: str) -> httpx.URL:
        """An absolute URL: ``path`` relative to the base URL (a leading ``/`` is kept
        below the base's own path, so a server mounted under a prefix works)."""
        return self.base_url.join(path.lstrip("/"))

    def request(self, method: str, url: str | httpx.URL, **kwargs: Any) -> httpx.Response:
        """The response of a 1xx-3xx answer; ``LoadbayAPIError`` for 4xx/5xx."""
        target = self.url(url) if isinstance(url, str) else url
        try:
            response = self.client.request(method, target, **kwargs)
        except httpx.TransportError as exc:
            raise LoadbayTransportError(method, str(target), exc) from exc
        if response.status_code >= 400:
            raise LoadbayAPIError.from_response(response)
        return response

    @contextmanager
    def stream(self, method: str, url: str, **kwargs: Any) -> Iterator[httpx.Response]:
        """A streamed response (the body not read yet); errors raised as by ``request``."""
        target = self.url(url)
        try:
            with self.client.stream(method, target, **kwargs) as response:
                if response.status_code >= 400:
                    response.read()
                    raise LoadbayAPIError.from_response(response)
                yield response
        except httpx.TransportError as exc:
            raise LoadbayTransportError(method, str(target), exc) from exc

    def json(self, method: str, url: str | httpx.URL, **kwargs: Any) -> Any:
        return self.request(method, url, **kwargs).json()

    def close(self) -> None:
        self.client.close()
