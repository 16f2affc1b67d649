"""The fetch job of URL and REST sources, as the executors see it."""

from __future__ import annotations

import uuid

from loadbay.context import AppContext
from loadbay.jobs.runner import JobControl, JobInterrupted, JobKind
from loadbay.sources import service
from loadbay.sources.auth import TokenCache


def source_job_kinds(context: AppContext) -> dict[str, JobKind]:
    # One token cache per process: later runs of an OAuth source reuse a token still valid.
    tokens = TokenCache()

    def run(import_id: uuid.UUID, control: JobControl) -> None:
        try:
            service.fetch(context, import_id, control, tokens=tokens)
        except JobInterrupted:
            raise  # the job runs again; the import stays created, its config kept
        except Exception:
            service.end_fetch(
                context,
                import_id,
                "internal-error",
                "fetching the source failed unexpectedly; the server log has the details",
            )
            raise

    def abandon(import_id: uuid.UUID, reason: str) -> None:
        service.end_fetch(context, import_id, "job-abandoned", reason)

    return {service.FETCH: JobKind(run=run, abandon=abandon)}
