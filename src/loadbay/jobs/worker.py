"""``loadbay worker``: one Celery worker process that runs loadbay's jobs.

The worker is Celery's own (``app.Worker``), run in this process with the threads pool: the
jobs run in the process that holds their leases, so killing it (``kill -9``, out of memory)
kills its jobs too, and their lapsed leases let the sweeper send them to another worker. Jobs
that a job queues (analysis queues validation) are sent through the broker as well, because
the context's executor is this worker's ``CeleryExecutor``.

The job kinds are given by the caller (the CLI passes every kind: imports, webhooks), so this
package still knows nothing of what the jobs do.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Mapping
from typing import Any

from celery import signals

from loadbay.context import AppContext
from loadbay.jobs.distributed import CeleryExecutor, celery_app
from loadbay.jobs.executor import build_runner
from loadbay.jobs.runner import JobKind
from loadbay.observability.logs import configure_logging
from loadbay.settings import Settings

logger = logging.getLogger("loadbay.jobs")

KindsFactory = Callable[[AppContext], Mapping[str, JobKind]]


def worker_refusal(settings: Settings) -> str | None:
    """Why a worker cannot run with these settings; None when it can."""
    if settings.executor != "celery":
        return (
            "loadbay worker runs the jobs that servers send through Celery: set "
            "LOADBAY_EXECUTOR=celery (and LOADBAY_REDIS_URL) for the worker and every server; "
            "with the local executor the servers run jobs themselves"
        )
    if not settings.redis_url:
        return "loadbay worker needs the Celery broker: set LOADBAY_REDIS_URL (redis://host:6379/0)"
    return None


class JobWorker:
    """The context, executor and task of a worker; ``run()`` consumes until shutdown."""

    def __init__(self, settings: Settings, kinds: KindsFactory) -> None:
        refusal = worker_refusal(settings)
        if refusal is not None:
            raise ValueError(refusal)
        self.settings = settings
        self.context = AppContext.build(settings)
        self.context.start()  # migrations: a worker may be the first process on a new store
        runner = build_runner(settings, self.context.sessions, kinds(self.context))
        self.executor = CeleryExecutor(
            celery_app(settings),
            runner,
            poll_interval=settings.job_poll_interval,
            queue=settings.celery_queue,
        )
        self.context.executor = self.executor
        self.executor.register_task()
        # Unique per process: several workers on one host are distinct Celery nodes.
        self.hostname = f"loadbay-{os.getpid()}@{socket.gethostname()}"

    def run(self) -> int:
        """Run the Celery worker in this process until it shuts down; its exit code."""
        settings = self.settings
        _connect_signals(self)
        self.executor.start()
        logger.info(
            "celery worker %s consuming queue %r with %d thread(s)",
            self.hostname,
            settings.celery_queue,
            settings.job_workers,
        )
        try:
            worker = self.executor.app.Worker(
                hostname=self.hostname,
                pool_cls="threads",
                concurrency=settings.job_workers,
                queues=[settings.celery_queue],
                loglevel=settings.log_level.upper(),
                quiet=True,  # no banner: stdout carries JSON log lines only
                # Gossip, mingle and worker heartbeats keep Celery nodes informed of each
                # other; loadbay coordinates through the jobs table and needs none of them.
                without_gossip=True,
                without_mingle=True,
                without_heartbeat=True,
            )
            worker.start()
            return int(worker.exitcode or 0)
        finally:
            self.executor.stop()
            self.context.close()


def _connect_signals(job_worker: JobWorker) -> None:
    settings = job_worker.settings

    def setup_logging(**_: Any) -> None:
        # A receiver of this signal tells Celery to leave logging alone: its lines then go
        # through loadbay's handlers (ECS JSON) like every other.
        configure_logging(level=settings.log_level, fmt=settings.log_format)

    def shutting_down(**_: Any) -> None:
        # Warm shutdown (SIGTERM, Ctrl+C): running jobs stop at their next check and go back
        # to the queue for another worker, as with the local executor, rather than keep the
        # process alive for as long as the longest job.
        job_worker.executor.runner.stopping.set()

    # weak=False: the receivers are closures that nothing else keeps alive.
    signals.setup_logging.connect(setup_logging, weak=False, dispatch_uid="loadbay-logging")
    signals.worker_shutting_down.connect(shutting_down, weak=False, dispatch_uid="loadbay-shutdown")


def run_worker(settings: Settings, kinds: KindsFactory) -> int:
    """Build and run a worker (the ``loadbay worker`` command); its exit code."""
    configure_logging(level=settings.log_level, fmt=settings.log_format)
    return JobWorker(settings, kinds).run()
