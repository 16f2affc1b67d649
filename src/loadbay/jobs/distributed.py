"""The Celery executor (``LOADBAY_EXECUTOR=celery``, Redis broker at ``LOADBAY_REDIS_URL``).

A Celery message only says "run job <id>"; the jobs table stays the truth, so the guarantees
are the local executor's: the worker claims the row with a lease before working (a duplicate
or late message finds it taken or done and does nothing), and a sweeper in every process
re-sends jobs that were never picked up or whose worker died (lapsed lease). Celery itself is
set up not to lose messages either: late acks, requeue when a worker is lost, prefetch 1,
and a visibility timeout longer than the longest job.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid

from celery import Celery

from loadbay.jobs import service
from loadbay.jobs.runner import JobRunner
from loadbay.settings import Settings

logger = logging.getLogger("loadbay.jobs")

TASK_NAME = "loadbay.run_job"
QUEUE = "loadbay"


def celery_app(settings: Settings) -> Celery:
    if settings.redis_url is None:
        raise ValueError("LOADBAY_EXECUTOR=celery needs LOADBAY_REDIS_URL (the broker)")
    app = Celery("loadbay", broker=settings.redis_url, set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        broker_transport_options={"visibility_timeout": settings.celery_visibility_timeout},
        broker_connection_retry_on_startup=True,
        task_default_queue=QUEUE,
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
    )
    return app


class CeleryExecutor:
    def __init__(self, app: Celery, runner: JobRunner, *, poll_interval: float) -> None:
        self.app = app
        self.runner = runner
        self.poll_interval = poll_interval
        self._sent: dict[uuid.UUID, float] = {}
        self._stop = threading.Event()
        self._sweeper: threading.Thread | None = None

    def notify(self, job_id: uuid.UUID) -> None:
        try:
            self.app.send_task(TASK_NAME, args=[str(job_id)], queue=QUEUE)
        except Exception:
            # The row is committed: the sweeper sends it once the broker answers again.
            logger.exception("could not send job %s to the broker", job_id)
            return
        self._sent[job_id] = time.monotonic()

    def start(self) -> None:
        self._sweeper = threading.Thread(target=self._sweep, name="loadbay-job-sweep", daemon=True)
        self._sweeper.start()

    def stop(self) -> None:
        self._stop.set()
        self.runner.stopping.set()
        if self._sweeper is not None:
            self._sweeper.join(10)

    def register_task(self) -> None:
        """In a worker: the task that runs a job by id (claim first, so repeats are no-ops)."""

        @self.app.task(  # type: ignore[untyped-decorator]  # Celery ships no types
            name=TASK_NAME, acks_late=True, reject_on_worker_lost=True
        )
        def run_job(job_id: str) -> None:
            claimed = self.runner.claim(uuid.UUID(job_id))
            if claimed is None:
                logger.info("job %s is done or held by a live worker; nothing to do", job_id)
                return
            self.runner.run(claimed)

    def _sweep(self) -> None:
        """Re-send claimable jobs not sent for a lease period: never delivered (the broker was
        down), or their worker died and the lease lapsed."""
        while not self._stop.wait(self.poll_interval):
            try:
                ids = service.claimable_ids(self.runner.sessions, limit=100)
            except Exception:
                logger.exception("could not poll the job queue")
                continue
            now = time.monotonic()
            for job_id in ids:
                if now - self._sent.get(job_id, 0.0) >= self.runner.lease:
                    self.notify(job_id)
            live = set(ids)
            for job_id in [j for j in self._sent if j not in live]:
                del self._sent[job_id]
