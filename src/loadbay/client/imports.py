"""``client.imports``: inline and file imports, their errors, events and waiting for them."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from loadbay.client._http import HTTP
from loadbay.client.errors import (
    ImportFailed,
    LoadbayAPIError,
    LoadbayTransportError,
    WaitTimeout,
)
from loadbay.client.models import (
    FINAL_STATES,
    RESTING_STATES,
    CellEdit,
    CellError,
    Import,
    ImportEvent,
    ImportOptions,
    Mode,
    OnError,
    RowsPatchResult,
)
from loadbay.client.sse import iter_events

ProgressCallback = Callable[[Import], None]

# The server sends a keep-alive comment every 15 s on a quiet stream; a read that waits
# much longer than that means the connection is gone.
EVENTS_READ_TIMEOUT = 45.0


def _path(import_id: object, suffix: str = "") -> str:
    return f"/api/imports/{quote(str(import_id), safe='')}{suffix}"


def _dump(options: ImportOptions | Mapping[str, Any] | None) -> dict[str, Any] | None:
    if options is None:
        return None
    model = options if isinstance(options, ImportOptions) else ImportOptions(**options)
    return model.model_dump(mode="json", exclude_none=True)


class ImportsAPI:
    def __init__(self, http: HTTP) -> None:
        self._http = http

    # --- creating ------------------------------------------------------------------------

    def create_records(
        self,
        schema: str,
        records: Iterable[Mapping[str, Any]],
        mode: Mode = "insert",
        on_error: OnError = "abort",
        idempotency_key: str | None = None,
        *,
        schema_version: int | None = None,
        max_errors: int | None = None,
        max_error_ratio: float | None = None,
    ) -> Import:
        """Validate and load inline records in one request. The answer is the completed
        import; invalid records (with ``on_error="abort"``) raise ``LoadbayAPIError`` 422
        ``validation-failed`` whose ``errors`` list them and ``import_`` is the failed import."""
        body: dict[str, Any] = {
            "schema": schema,
            "records": [dict(record) for record in records],
            "mode": mode,
            "on_error": on_error,
        }
        optional = {
            "schema_version": schema_version,
            "max_errors": max_errors,
            "max_error_ratio": max_error_ratio,
        }
        body |= {key: value for key, value in optional.items() if value is not None}
        return self._create(body, idempotency_key)

    def create_from_upload(
        self,
        upload_id: str,
        schema: str,
        mapping: Mapping[str, str] | None = None,
        options: ImportOptions | Mapping[str, Any] | None = None,
        *,
        schema_version: int | None = None,
        follow_up_of: str | None = None,
        idempotency_key: str | None = None,
    ) -> Import:
        """Import a complete upload (``202``): analysis, validation and an optional
        ``auto_commit`` run as jobs; follow them with ``wait`` or ``events``."""
        body: dict[str, Any] = {"upload_id": str(upload_id), "schema": schema}
        optional: dict[str, Any] = {
            "mapping": dict(mapping) if mapping is not None else None,
            "options": _dump(options),
            "schema_version": schema_version,
            "follow_up_of": str(follow_up_of) if follow_up_of is not None else None,
        }
        body |= {key: value for key, value in optional.items() if value is not None}
        return self._create(body, idempotency_key)

    def _create(self, body: dict[str, Any], idempotency_key: str | None) -> Import:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        return Import.model_validate(
            self._http.json("POST", "/api/imports", json=body, headers=headers)
        )

    # --- reading -------------------------------------------------------------------------

    def get(self, import_id: str) -> Import:
        return Import.model_validate(self._http.json("GET", _path(import_id)))

    def list(
        self, *, state: str | None = None, schema: str | None = None, page_size: int = 50
    ) -> Iterator[Import]:
        """Every matching import, newest first, fetching page after page as it is iterated."""
        params: dict[str, Any] = {"limit": page_size}
        if state is not None:
            params["state"] = state
        if schema is not None:
            params["schema"] = schema
        while True:
            page = self._http.json("GET", "/api/imports", params=params)
            for item in page["items"]:
                yield Import.model_validate(item)
            if not page.get("next_cursor"):
                return
            params["cursor"] = page["next_cursor"]

    def errors(self, import_id: str, *, page_size: int = 1000) -> Iterator[CellError]:
        """Every stored cell error in row order, page after page."""
        params: dict[str, Any] = {"limit": page_size}
        while True:
            page = self._http.json("GET", _path(import_id, "/errors"), params=params)
            for item in page["items"]:
                yield CellError.model_validate(item)
            if not page.get("next_cursor"):
                return
            params["cursor"] = page["next_cursor"]

    def download_errors_csv(self, import_id: str, path: str | os.PathLike[str]) -> int:
        """Stream the errors CSV to ``path``: for a file import its failed rows (fields,
        ``_row``, ``_error``), for inline records the error list. Written to a side file
        and renamed, so ``path`` never holds half a download. Returns the bytes written."""
        target = Path(path)
        partial = target.with_name(target.name + ".part")
        written = 0
        try:
            with (
                self._http.stream(
                    "GET", _path(import_id, "/errors"), params={"format": "csv"}
                ) as response,
                partial.open("wb") as out,
            ):
                for chunk in response.iter_bytes():
                    out.write(chunk)
                    written += len(chunk)
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)
        return written

    def events(self, import_id: str, *, read_timeout: float | None = None) -> Iterator[ImportEvent]:
        """The import's Server-Sent Events: ``("state" | "progress", Import)``, the first one
        the import as it is now; the iterator ends after a final state."""
        timeout = self._http.timeout.as_dict() | {"read": read_timeout or EVENTS_READ_TIMEOUT}
        with self._http.stream(
            "GET",
            _path(import_id, "/events"),
            headers={"Accept": "text/event-stream", "Cache-Control": "no-cache"},
            timeout=httpx.Timeout(**timeout),
        ) as response:
            for event in iter_events(response.iter_lines()):
                if event.event in ("state", "progress"):
                    yield ImportEvent(event.event, Import.model_validate_json(event.data))

    # --- acting --------------------------------------------------------------------------

    def set_mapping(
        self, import_id: str, mapping: Mapping[str, str], remember: bool = True
    ) -> Import:
        """Confirm ``{schema field: source column}``; validation starts."""
        body = {"mapping": dict(mapping), "remember": remember}
        return Import.model_validate(
            self._http.json("PUT", _path(import_id, "/mapping"), json=body)
        )

    def commit(self, import_id: str, mode: Mode = "insert", on_error: OnError = "abort") -> Import:
        body = {"mode": mode, "on_error": on_error}
        return Import.model_validate(
            self._http.json("POST", _path(import_id, "/commit"), json=body)
        )

    def cancel(self, import_id: str) -> Import:
        return Import.model_validate(self._http.json("POST", _path(import_id, "/cancel")))

    def patch_rows(
        self, import_id: str, edits: Iterable[CellEdit | Mapping[str, Any]]
    ) -> RowsPatchResult:
        """Fix cells of a validated file import; the edited rows are validated again."""
        items = [
            (edit if isinstance(edit, CellEdit) else CellEdit.model_validate(edit)).model_dump(
                include={"row", "field", "value"}
            )
            for edit in edits
        ]
        body = self._http.json("PATCH", _path(import_id, "/rows"), json={"edits": items})
        return RowsPatchResult.model_validate(body)

    # --- waiting -------------------------------------------------------------------------

    def wait(
        self,
        import_id: str,
        *,
        until: Iterable[str] | None = None,
        on_progress: ProgressCallback | None = None,
        timeout: float | None = None,
        poll_interval: float = 0.5,
    ) -> Import:
        """Follow the import until its state is in ``until`` (default: any resting or final
        state) and return it; a final state outside ``until`` returns too, since nothing
        follows it. ``on_progress`` gets every update. Follows the event stream and falls
        back to polling ``GET`` when the stream fails. Raises ``ImportFailed`` when the
        import ends ``failed`` and ``WaitTimeout`` after ``timeout`` seconds."""
        targets = frozenset(until) if until is not None else RESTING_STATES | FINAL_STATES
        deadline = None if timeout is None else time.monotonic() + timeout

        def settled(item: Import) -> bool:
            if on_progress is not None:
                on_progress(item)
            if item.state == "failed":
                raise ImportFailed(item)
            return item.state in targets or item.state in FINAL_STATES

        def check_deadline(item: Import) -> None:
            if deadline is not None and timeout is not None and time.monotonic() >= deadline:
                raise WaitTimeout(item, timeout)

        read_timeout = EVENTS_READ_TIMEOUT
        if deadline is not None:
            # A quiet stream must not hold the caller past its deadline.
            read_timeout = max(0.1, min(read_timeout, deadline - time.monotonic()))
        try:
            for _, item in self.events(import_id, read_timeout=read_timeout):
                if settled(item):
                    return item
                check_deadline(item)
        except LoadbayTransportError:
            pass  # the stream broke: polling goes on from the current state
        except LoadbayAPIError as exc:
            if exc.status == 404:
                raise
        while True:
            item = self.get(import_id)
            if settled(item):
                return item
            check_deadline(item)
            pause = poll_interval
            if deadline is not None:
                pause = max(0.0, min(pause, deadline - time.monotonic()))
            time.sleep(pause)
