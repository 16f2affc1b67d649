"""Prometheus metrics: defined once per process, recorded by small functions.

With ``PROMETHEUS_MULTIPROC_DIR`` set (several uvicorn or gunicorn workers), prometheus-client
writes every value to memory-mapped files in that directory and ``/metrics`` aggregates the
files of all workers, so any worker answers for the whole server. The variable must be set
before the process starts (prometheus-client reads it at import) and the directory emptied
between runs, as prometheus-client documents.
"""

from __future__ import annotations

import os
from typing import Literal

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# Seconds; dense below 100 ms where API latency lives, sparse up to the slow imports.
LATENCY_BUCKETS = (
    0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.075,
    0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
)  # fmt: skip

REQUEST_DURATION = Histogram(
    "http_request_duration_seconds",
    "Time from receiving a request to sending its last body byte.",
    ("route", "method", "status"),
    buckets=LATENCY_BUCKETS,
)
REQUESTS_IN_FLIGHT = Gauge(
    "http_requests_in_flight",
    "Requests being served right now.",
    multiprocess_mode="livesum",
)
ROWS_IMPORTED = Counter(
    "loadbay_rows_imported",
    "Rows handled by imports, by outcome (loaded, invalid, rejected).",
    ("outcome",),
)
BYTES_UPLOADED = Counter(
    "loadbay_uploaded_bytes",
    "Bytes received and stored by uploads (tus and multipart).",
)
RATE_LIMITED = Counter(
    "loadbay_rate_limited_requests",
    "Requests refused with 429 by the rate limiter, by route group.",
    ("group",),
)

JOB_DURATION = Histogram(
    "loadbay_job_duration_seconds",
    "Run time of one attempt of a job, by kind and outcome (succeeded, failed, interrupted).",
    ("kind", "outcome"),
    buckets=LATENCY_BUCKETS,
)
IMPORT_DURATION = Histogram(
    "loadbay_import_duration_seconds",
    "Time from an import's creation to its end, by source and final state.",
    ("source", "state"),
    buckets=LATENCY_BUCKETS,
)

RATE_LIMIT_UNAVAILABLE = Counter(
    "loadbay_rate_limit_unavailable",
    "Requests served without rate limiting because the counters' store (Redis) failed.",
)
WEBHOOK_ATTEMPTS = Counter(
    "loadbay_webhook_attempts",
    "Webhook delivery attempts by outcome: succeeded (2xx), gone (410), failed (another "
    "status or no answer).",
    ("outcome",),
)

DESTINATION_HTTP_BATCHES = Counter(
    "loadbay_destination_http_batches",
    "Batches sent to HTTP destinations, by outcome: accepted (every record), partial (some "
    "records rejected), rejected (every record), split (413: sent again in halves), failed.",
    ("outcome",),
)
DESTINATION_HTTP_RECORDS = Counter(
    "loadbay_destination_http_records",
    "Records sent to HTTP destinations, by outcome (accepted, rejected).",
    ("outcome",),
)
DESTINATION_HTTP_DURATION = Histogram(
    "loadbay_destination_http_delivery_seconds",
    "Time to deliver one batch to an HTTP destination, retries and their waits included.",
    buckets=LATENCY_BUCKETS,
)

RowOutcome = Literal["loaded", "invalid", "rejected"]
BatchOutcome = Literal["accepted", "partial", "rejected", "split", "failed"]


def observe_request(*, route: str, method: str, status: int, seconds: float) -> None:
    REQUEST_DURATION.labels(route=route, method=method, status=str(status)).observe(seconds)


def count_imported_rows(*, loaded: int = 0, invalid: int = 0, rejected: int = 0) -> None:
    """Called by the import service when an import ends: ``loaded`` rows reached the target,
    ``invalid`` rows broke the schema, ``rejected`` valid rows were not loaded because the
    import failed as a whole."""
    for outcome, count in (("loaded", loaded), ("invalid", invalid), ("rejected", rejected)):
        if count:
            ROWS_IMPORTED.labels(outcome=outcome).inc(count)


def count_uploaded_bytes(count: int) -> None:
    """Called by the uploads package for every chunk made durable."""
    if count > 0:
        BYTES_UPLOADED.inc(count)


def count_rate_limited(group: str) -> None:
    RATE_LIMITED.labels(group=group).inc()


def count_rate_limit_unavailable() -> None:
    RATE_LIMIT_UNAVAILABLE.inc()


def observe_job(*, kind: str, outcome: str, seconds: float) -> None:
    JOB_DURATION.labels(kind=kind, outcome=outcome).observe(seconds)


def observe_import(*, source: str, state: str, seconds: float) -> None:
    IMPORT_DURATION.labels(source=source, state=state).observe(seconds)


def count_webhook_attempt(status: int | None) -> None:
    if status is not None and 200 <= status < 300:
        outcome = "succeeded"
    elif status == 410:
        outcome = "gone"
    else:
        outcome = "failed"
    WEBHOOK_ATTEMPTS.labels(outcome=outcome).inc()


def observe_destination_batch(
    *, outcome: BatchOutcome, seconds: float, accepted: int = 0, rejected: int = 0
) -> None:
    """One answered (or given up) batch of an HTTP destination and its records."""
    DESTINATION_HTTP_BATCHES.labels(outcome=outcome).inc()
    DESTINATION_HTTP_DURATION.observe(seconds)
    if accepted:
        DESTINATION_HTTP_RECORDS.labels(outcome="accepted").inc(accepted)
    if rejected:
        DESTINATION_HTTP_RECORDS.labels(outcome="rejected").inc(rejected)


def queue_exposition(*, queued: int, running: int, oldest_queued_seconds: float) -> bytes:
    """The job queue's gauges, read from the jobs table at scrape time: the table is shared
    by every process, so any process reports the same truth (no per-process gauge to
    aggregate)."""
    lines = [
        "# HELP loadbay_jobs Jobs in the durable queue, by state.",
        "# TYPE loadbay_jobs gauge",
        f'loadbay_jobs{{state="queued"}} {queued}',
        f'loadbay_jobs{{state="running"}} {running}',
        "# HELP loadbay_job_queue_oldest_seconds Age of the oldest queued job (0: none).",
        "# TYPE loadbay_job_queue_oldest_seconds gauge",
        f"loadbay_job_queue_oldest_seconds {oldest_queued_seconds:.3f}",
    ]
    return ("\n".join(lines) + "\n").encode()


def exposition() -> tuple[bytes, str]:
    """The text format of every metric, aggregated over workers in multiprocess mode."""
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
