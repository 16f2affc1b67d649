"""Every job kind the executors run, for the app, the worker and the CLI alike."""

from __future__ import annotations

from loadbay.context import AppContext
from loadbay.imports.jobs import import_job_kinds
from loadbay.jobs.runner import JobKind
from loadbay.sources.jobs import source_job_kinds
from loadbay.webhooks.jobs import webhook_job_kinds
from loadbay.webhooks.sender import http_sender


def all_job_kinds(context: AppContext) -> dict[str, JobKind]:
    return (
        import_job_kinds(context)
        | source_job_kinds(context)
        | webhook_job_kinds(context, http_sender(context.outbound))
    )
