"""The default executor: a pool of threads in the server process, fed by the jobs table.

Durable because the queue is the table: a job enqueued before a crash, or one whose process
died mid-run (its lease lapses), is claimed by the next executor that polls, in this process
after a restart or in any other process sharing the store.
"""

from __future__ import annotations

import logging
import threading
import uuid

from loadbay.jobs.runner import JobRunner

logger = logging.getLogger("loadbay.jobs")


class LocalExecutor:
    def __init__(self, runner: JobRunner, *, workers: int, poll_interval: float) -> None:
        self.runner = runner
        self.workers = workers
        self.poll_interval = poll_interval
        self._wake = threading.Condition()
        self._pending = 0
        self._threads: list[threading.Thread] = []

    def notify(self, job_id: uuid.UUID) -> None:
        with self._wake:
            self._pending += 1
            self._wake.notify()

    def start(self) -> None:
        for n in range(self.workers):
            thread = threading.Thread(target=self._work, name=f"loadbay-job-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)
        logger.info("local job executor started with %d worker(s)", self.workers)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop taking jobs; running ones stop at their next check and go back to the queue."""
        self.runner.stopping.set()
        with self._wake:
            self._wake.notify_all()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()

    def _work(self) -> None:
        while not self.runner.stopping.is_set():
            try:
                job = self.runner.claim_next()
            except Exception:
                logger.exception("could not poll the job queue")
                job = None
            if job is None:
                with self._wake:
                    if self._pending == 0:
                        self._wake.wait(self.poll_interval)
                    self._pending = max(0, self._pending - 1)
                continue
            try:
                self.runner.run(job)
            except Exception:
                # The runner records every end of a job; what escapes it is the store failing
                # under that record. The worker lives on: the job's lease lapses and it runs
                # again, here or in another process.
                logger.exception("job %s: how it ended could not be recorded", job.id)
