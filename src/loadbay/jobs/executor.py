"""One executor protocol, two executors (``local``, ``celery``), the same job functions."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Protocol

from sqlalchemy.orm import Session, sessionmaker

from loadbay.jobs.runner import JobKind, JobRunner
from loadbay.settings import Settings


class Executor(Protocol):
    def notify(self, job_id: uuid.UUID) -> None:
        """A job was committed to the queue: run it soon (hint only; the table is the truth)."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


def build_runner(
    settings: Settings, sessions: sessionmaker[Session], kinds: Mapping[str, JobKind]
) -> JobRunner:
    return JobRunner(
        sessions, kinds, lease=settings.job_lease_seconds, max_attempts=settings.job_max_attempts
    )


def build_executor(
    settings: Settings, sessions: sessionmaker[Session], kinds: Mapping[str, JobKind]
) -> Executor:
    runner = build_runner(settings, sessions, kinds)
    if settings.executor == "celery":
        # Imported here: Celery is only loaded by deployments that use it.
        from loadbay.jobs.distributed import CeleryExecutor, celery_app

        return CeleryExecutor(
            celery_app(settings),
            runner,
            poll_interval=settings.job_poll_interval,
            queue=settings.celery_queue,
        )
    from loadbay.jobs.local import LocalExecutor

    return LocalExecutor(
        runner, workers=settings.job_workers, poll_interval=settings.job_poll_interval
    )
