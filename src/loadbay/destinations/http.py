"""Delivering validated rows to an HTTP endpoint, in batches (docs/api.md, "HTTP destinations").

Rows are regrouped into batches of ``batch_size`` records, numbered from 1 in row order, so
an import read again (a commit run again after a crash) makes the same batches. Each batch is
sent with ``Idempotency-Key: <import id>:<batch>`` through the outbound client, which retries
it on connection errors, 408, 429 and 5xx. A 413 splits a batch in halves, sent as
``<batch>.1`` and ``<batch>.2`` (and so on down to one record). Every batch the endpoint
answered for good is handed to ``acknowledge`` (which records it durably); batches given in
``done`` were acknowledged by an earlier run and are not sent again.

The endpoint cannot be rolled back: a failure leaves the batches before it delivered, and
the errors raised here say which.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import httpx
import polars as pl
from pydantic import SecretStr

from loadbay.destinations.errors import (
    DestinationFailed,
    DestinationRejected,
    DestinationSecretMissing,
)
from loadbay.destinations.frames import ROW_COLUMN
from loadbay.errors import ErrorDetail
from loadbay.observability.metrics import BatchOutcome, observe_destination_batch
from loadbay.outbound import OutboundClient, OutboundError, OutboundRefused
from loadbay.outbound.errors import redact_url
from loadbay.schemas.destination import HttpDestinationConfig
from loadbay.schemas.errors import printable
from loadbay.schemas.model import TableSchema

__all__ = ["Ack", "Acknowledged", "HttpDestination"]

logger = logging.getLogger("loadbay.destinations")

OnError = Literal["abort", "skip"]

CONTENT_TYPES = {"json": "application/json", "ndjson": "application/x-ndjson"}
# The rule of the row errors an endpoint's per-record answers become.
RULE = "destination"
_MESSAGE_CHARS = 500
_EXCERPT_CHARS = 200


@dataclass(frozen=True, slots=True)
class Ack:
    """The endpoint's final answer to one batch (or part): ``accepted`` records and the row
    errors of the ``rejected`` ones (several errors may name one record)."""

    key: str
    status: int
    accepted: int
    rejected: int
    errors: list[ErrorDetail]


@dataclass(frozen=True, slots=True)
class Acknowledged:
    """A batch an earlier run delivered, as recorded."""

    accepted: int
    rejected: int


class HttpDestination:
    """One schema's endpoint, with its credentials resolved from the settings' secrets."""

    def __init__(
        self,
        config: HttpDestinationConfig,
        *,
        outbound: OutboundClient,
        secrets: Mapping[str, SecretStr],
    ) -> None:
        """Raises ``DestinationSecretMissing`` when the named secret is not configured."""
        self._config = config
        self._outbound = outbound
        self._headers = dict(config.headers) | {"Content-Type": CONTENT_TYPES[config.format]}
        self._auth: tuple[str, str] | None = None
        auth = config.auth
        if auth is not None:
            secret = secrets.get(auth.secret)
            if secret is None:
                raise DestinationSecretMissing(auth.secret)
            value = secret.get_secret_value()
            if auth.type == "bearer":
                self._headers["Authorization"] = f"Bearer {value}"
            elif auth.type == "basic":
                assert auth.username is not None  # the schema model requires it
                self._auth = (auth.username, value)
            else:
                assert auth.header is not None
                self._headers[auth.header] = value

    @property
    def shown_url(self) -> str:
        return redact_url(self._config.url)

    def deliver(
        self,
        schema: TableSchema,
        batches: Iterable[pl.DataFrame],
        *,
        import_id: uuid.UUID,
        on_error: OnError,
        done: Mapping[str, Acknowledged],
        acknowledge: Callable[[Ack], None],
    ) -> None:
        """Send every row of ``batches`` (the schema's fields and ``_loadbay_row``).

        Raises ``DestinationRejected`` (on_error=abort, once the batch with rejected records
        is acknowledged), ``DestinationFailed`` (an error answer, or no answer after the
        retries) and ``OutboundRefused`` (the SSRF guard); whatever ``batches`` or
        ``acknowledge`` raise propagates, between two batches.
        """
        run = _Run(self, schema, import_id, on_error, dict(done), acknowledge)
        for number, frame in enumerate(_rebatch(batches, self._config.batch_size), start=1):
            run.send(str(number), frame)

    def post(self, key: str, body: bytes, import_id: uuid.UUID) -> httpx.Response:
        # Redirects are not followed: a batch re-sent to another origin would carry an
        # api_key header there, and a moved endpoint is better configured than guessed.
        return self._outbound.request(
            self._config.method,
            self._config.url,
            headers=self._headers,
            content=body,
            idempotency_key=f"{import_id}:{key}",
            auth=self._auth,
            follow_redirects=False,
        )

    def body(self, frame: pl.DataFrame, schema: TableSchema) -> bytes:
        records = frame.select(schema.field_names)
        text = records.write_json() if self._config.format == "json" else records.write_ndjson()
        return text.encode()


class _Run:
    """The state of one delivery: what was acknowledged, so far and by earlier runs."""

    def __init__(
        self,
        destination: HttpDestination,
        schema: TableSchema,
        import_id: uuid.UUID,
        on_error: OnError,
        done: dict[str, Acknowledged],
        acknowledge: Callable[[Ack], None],
    ) -> None:
        self.destination = destination
        self.schema = schema
        self.import_id = import_id
        self.on_error = on_error
        self.done = done
        self.acknowledge = acknowledge

    def send(self, key: str, frame: pl.DataFrame) -> None:
        earlier = self.done.get(key)
        if earlier is not None:
            if earlier.rejected and self.on_error == "abort":
                # The earlier run stopped here but died before ending the import.
                raise self._rejected(key, earlier.rejected)
            return
        if any(k.startswith(f"{key}.") for k in self.done):
            # An earlier run split this batch: send the same parts, never the whole again
            # (a receiver honouring the parts' keys would apply those records twice).
            self._split(key, frame)
            return
        started = time.perf_counter()
        try:
            response = self.destination.post(
                key, self.destination.body(frame, self.schema), self.import_id
            )
        except OutboundRefused:
            self._observe("failed", started)
            raise
        except OutboundError as exc:
            self._observe("failed", started)
            raise self._failed(key, exc.status, f"batch {key}: {exc.detail}") from None
        status = response.status_code
        if status == 413 and frame.height > 1:
            self._observe("split", started)
            logger.info(
                "import %s: %s answered 413 to batch %s (%d records); splitting it",
                self.import_id,
                self.destination.shown_url,
                key,
                frame.height,
            )
            self._split(key, frame)
            return
        if status == 413:
            errors = [self._error(frame, 0, "the record is too large for the endpoint (HTTP 413)")]
        elif 200 <= status < 300 or status == 422:
            found = self._record_errors(response, frame)
            if not found and status == 422:  # an error answer that names no record
                raise self._failed(key, status, self._answer(key, response), started)
            errors = found or []
        else:
            raise self._failed(key, status, self._answer(key, response), started)
        rejected = len({e.row for e in errors})
        accepted = frame.height - rejected
        outcome: BatchOutcome = (
            "accepted" if not rejected else "partial" if accepted else "rejected"
        )
        self._observe(outcome, started, accepted=accepted, rejected=rejected)
        self.acknowledge(Ack(key, status, accepted, rejected, errors))
        self.done[key] = Acknowledged(accepted, rejected)
        if rejected and self.on_error == "abort":
            raise self._rejected(key, rejected)

    def _split(self, key: str, frame: pl.DataFrame) -> None:
        half = (frame.height + 1) // 2
        self.send(f"{key}.1", frame.slice(0, half))
        self.send(f"{key}.2", frame.slice(half))

    def _observe(
        self, outcome: BatchOutcome, started: float, *, accepted: int = 0, rejected: int = 0
    ) -> None:
        observe_destination_batch(
            outcome=outcome,
            seconds=time.perf_counter() - started,
            accepted=accepted,
            rejected=rejected,
        )

    def _record_errors(
        self, response: httpx.Response, frame: pl.DataFrame
    ) -> list[ErrorDetail] | None:
        """The row errors of a per-record answer ``{"errors": [{"index", "message",
        "field"?}]}``; None when the body is not one."""
        try:
            body: Any = response.json()
        except ValueError:
            return None
        if not isinstance(body, dict) or not isinstance(body.get("errors"), list):
            return None
        errors: list[ErrorDetail] = []
        ignored = 0
        for item in body["errors"]:
            index = item.get("index") if isinstance(item, dict) else None
            if (
                not isinstance(index, int)
                or isinstance(index, bool)
                or not 0 <= index < frame.height
            ):
                ignored += 1
                continue
            message = item.get("message")
            text = message if isinstance(message, str) and message.strip() else "rejected"
            field = item.get("field")
            column = field if isinstance(field, str) and field in self.schema.field_names else None
            errors.append(self._error(frame, index, text, column))
        if ignored:
            logger.warning(
                "import %s: %s named %d record error(s) without a valid index; ignored",
                self.import_id,
                self.destination.shown_url,
                ignored,
            )
        return errors

    def _error(
        self, frame: pl.DataFrame, index: int, message: str, column: str | None = None
    ) -> ErrorDetail:
        value = None if column is None else frame[column][index]
        reason = printable(message[:_MESSAGE_CHARS])
        return ErrorDetail(
            message=f"the HTTP destination rejected the record: {reason}",
            row=int(frame[ROW_COLUMN][index]),
            column=column,
            value=None if value is None else str(value),
            rule=RULE,
        )

    def _answer(self, key: str, response: httpx.Response) -> str:
        excerpt = printable(response.text[:_EXCERPT_CHARS]).strip()
        reason = f"HTTP {response.status_code} {response.reason_phrase}".rstrip()
        detail = f"{self.destination.shown_url} answered batch {key} with {reason}"
        return f"{detail}: {excerpt}" if excerpt else detail

    def _failed(
        self, key: str, status: int | None, what: str, started: float | None = None
    ) -> DestinationFailed:
        if started is not None:
            self._observe("failed", started)
        delivered = delivered_summary(self.done)
        return DestinationFailed(
            f"{what}; delivery stopped. {delivered}",
            batch=key,
            status=status,
            delivered=delivered,
        )

    def _rejected(self, key: str, rejected: int) -> DestinationRejected:
        delivered = delivered_summary(self.done)
        return DestinationRejected(
            f"the HTTP destination rejected {rejected} record(s) of batch {key} "
            f"(on_error=abort); delivery stopped. {delivered}",
            batch=key,
            rejected=rejected,
            delivered=delivered,
        )


def delivered_summary(done: Iterable[str]) -> str:
    """Which batches the endpoint has, for a failure: they cannot be taken back."""
    whole: set[int] = set()
    parts: set[int] = set()
    for key in done:
        number, _, rest = key.partition(".")
        (parts if rest else whole).add(int(number))
    parts -= whole
    if not whole and not parts:
        return "No batch was delivered."
    text = []
    if whole:
        text.append(f"batch(es) {_ranges(sorted(whole))}")
    if parts:
        text.append(f"part of batch(es) {_ranges(sorted(parts))}")
    return (
        f"The endpoint accepted {' and '.join(text)} before; delivered batches cannot be "
        "rolled back."
    )


def _ranges(numbers: list[int]) -> str:
    spans: list[list[int]] = []
    for n in numbers:
        if spans and spans[-1][1] == n - 1:
            spans[-1][1] = n
        else:
            spans.append([n, n])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in spans)


def _rebatch(batches: Iterable[pl.DataFrame], size: int) -> Iterator[pl.DataFrame]:
    """``batches`` regrouped into frames of ``size`` rows (the last one may be smaller)."""
    pending: list[pl.DataFrame] = []
    count = 0
    for frame in batches:
        while frame.height:
            take = min(size - count, frame.height)
            pending.append(frame.slice(0, take))
            count += take
            frame = frame.slice(take)
            if count == size:
                yield pl.concat(pending)
                pending, count = [], 0
    if count:
        yield pl.concat(pending)
