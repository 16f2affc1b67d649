"""``Client``: the entry point of the Python SDK."""

from __future__ import annotations

from collections.abc import Iterable
from types import TracebackType

import httpx

from loadbay.client._http import DEFAULT_TIMEOUT, HTTP
from loadbay.client.imports import ImportsAPI, ProgressCallback
from loadbay.client.models import Import
from loadbay.client.schemas import SchemasAPI
from loadbay.client.uploads import UploadsAPI


class Client:
    """A loadbay server's API over one connection pool.

    >>> with Client("http://127.0.0.1:8000", api_key="lb_…") as client:
    ...     upload = client.uploads.upload("customers.csv")
    ...     started = client.imports.create_from_upload(upload.id, "customers")
    ...     done = client.wait(started.id)

    ``timeout`` is seconds (or an ``httpx.Timeout``) for every request; the event stream
    reads with a longer timeout of its own. ``transport`` replaces httpx's (tests, proxies).
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._http = HTTP(base_url, api_key, timeout=timeout, transport=transport)
        self.schemas = SchemasAPI(self._http)
        self.imports = ImportsAPI(self._http)
        self.uploads = UploadsAPI(self._http)

    @property
    def base_url(self) -> str:
        return str(self._http.base_url)

    def wait(
        self,
        import_id: str,
        *,
        until: Iterable[str] | None = None,
        on_progress: ProgressCallback | None = None,
        timeout: float | None = None,
        poll_interval: float = 0.5,
    ) -> Import:
        """``imports.wait``: follow an import until it rests or ends (see there)."""
        return self.imports.wait(
            import_id,
            until=until,
            on_progress=on_progress,
            timeout=timeout,
            poll_interval=poll_interval,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
