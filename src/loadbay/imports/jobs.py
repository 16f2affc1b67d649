"""The import jobs as the executors see them: kinds mapped to pipeline functions.

The pipeline (polars, the validation engine) is imported when a job first runs, so a server
that only serves reads and uploads does not carry it in memory.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from loadbay.context import AppContext
from loadbay.imports.files import ANALYSE, COMMIT, VALIDATE
from loadbay.jobs.runner import JobControl, JobInterrupted, JobKind

Step = Callable[[AppContext, uuid.UUID, JobControl], None]


def import_job_kinds(context: AppContext) -> dict[str, JobKind]:
    def step(name: str) -> JobKind:
        def run(import_id: uuid.UUID, control: JobControl) -> None:
            from loadbay.imports import pipeline

            function: Step = getattr(pipeline, name)
            try:
                function(context, import_id, control)
            except JobInterrupted:
                raise  # the job runs again; the import stays where it is
            except Exception as exc:
                pipeline.fail_on_bug(context, import_id, exc)
                raise

        def abandon(import_id: uuid.UUID, reason: str) -> None:
            from loadbay.imports import pipeline

            pipeline.abandon(context, import_id, reason)

        return JobKind(run=run, abandon=abandon)

    return {ANALYSE: step("analyse"), VALIDATE: step("validate"), COMMIT: step("commit")}
