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

# A job the sweeper finds claimable again and again is most likely waiting in the broker
# behind busy workers: re-sending it every lease period would only pile up no-op messages,
# so the wait between re-sends doubles, up to this many lease periods.
_MAX_BACKOFF = 64


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
        # Sending happens after the job's row committed, often in a request: fail fast and
        # leave the retrying to the sweeper rather than hold the request for long.
        broker_connection_timeout=2.0,
        task_publish_retry_policy={
            "max_retries": 1,
            "interval_start": 0,
            "interval_step": 0.2,
            "interval_max": 0.2,
        },
        task_default_queue=settings.celery_queue,
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        worker_hijack_root_logger=False,
        # Celery would replace sys.stdout with a logger whose lines our stdout handler writes
        # to sys.stdout again: every print would loop. Logs go through logging anyway.
        worker_redirect_stdouts=False,
        worker_send_task_events=False,
    )
    return app


class CeleryExecutor:
    def __init__(self, app: Celery, runner: JobRunner, *, poll_interval: float, queue: str) -> None:
        self.app = app
        self.runner = runner
        self.poll_interval = poll_interval
        self.queue = queue
        # job id -> (when last sent, how many sends): written by request threads (notify
        # after a commit) and by the sweeper, hence the lock.
        self._sent: dict[uuid.UUID, tuple[float, int]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._sweeper: threading.Thread | None = None

    def notify(self, job_id: uuid.UUID) -> None:
        try:
            self.app.send_task(TASK_NAME, args=[str(job_id)], queue=self.queue)
        except Exception:
            # The row is committed: the sweeper sends it once the broker answers again.
            logger.exception("could not send job %s to the broker", job_id)
            return
        with self._lock:
            _, sends = self._sent.get(job_id, (0.0, 0))
            self._sent[job_id] = (time.monotonic(), sends + 1)

    def start(self) -> None:
        self._stop.clear()
        self._sweeper = threading.Thread(target=self._sweep, name="loadbay-job-sweep", daemon=True)
        self._sweeper.start()

    def stop(self) -> None:
        self._stop.set()
        self.runner.stopping.set()
        if self._sweeper is not None:
            self._sweeper.join(10)
        self.app.close()  # the broker connections of the pool that sent the tasks

    def register_task(self) -> None:
        """In a worker: the task that runs a job by id (claim first, so repeats are no-ops)."""

        # shared=False: a shared task is added to every Celery app the process creates later,
        # and the first one registered under a name wins, so a second executor in the same
        # process (tests, an app rebuilt) would run its jobs with the first one's runner.
        @self.app.task(  # type: ignore[untyped-decorator]  # Celery ships no types
            name=TASK_NAME, acks_late=True, reject_on_worker_lost=True, shared=False
        )
        def run_job(job_id: str) -> None:
            if self.runner.stopping.is_set():
                # A worker shutting down takes no new job (it would only be interrupted);
                # the job stays queued in the table and the sweepers send it again.
                logger.info("job %s left in the queue: this worker is stopping", job_id)
                return
            claimed = self.runner.claim(uuid.UUID(job_id))
            if claimed is None:
                logger.info("job %s is done or held by a live worker; nothing to do", job_id)
                return
            self.runner.run(claimed)

    def sweep_once(self) -> None:
        """Re-send claimable jobs not sent lately: queued for a lease period and still not
        taken (the broker was down, or lost the message), or their worker died and the
        lease lapsed. A job that was running drops out of the claimable set, so once its
        lease lapses it is re-sent at the next sweep, by every process that sweeps."""
        lease = self.runner.lease
        ids = service.claimable_ids(self.runner.sessions, limit=100, queued_for=lease)
        now = time.monotonic()
        with self._lock:
            due = [
                job_id
                for job_id in ids
                if now - self._sent.get(job_id, (0.0, 0))[0] >= self._backoff(job_id)
            ]
            live = set(ids)
            for job_id in [j for j in self._sent if j not in live]:
                del self._sent[job_id]
        for job_id in due:
            self.notify(job_id)

    def _backoff(self, job_id: uuid.UUID) -> float:
        sends = self._sent.get(job_id, (0.0, 0))[1]
        return float(self.runner.lease * min(2 ** max(sends - 1, 0), _MAX_BACKOFF))

    def _sweep(self) -> None:
        while not self._stop.wait(self.poll_interval):
            try:
                self.sweep_once()
            except Exception:
                logger.exception("could not poll the job queue")
