"""Running one claimed job: heartbeat while it works, record how it ended.

Job functions are registered by kind (``JobKind``) by whoever builds the executor (the app
factory, the worker, the CLI), so this package knows nothing of imports. A job function must
be idempotent: after a crash it runs again from the start, with the same subject.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from loadbay.jobs import service
from loadbay.jobs.models import JobState
from loadbay.observability.metrics import observe_job

logger = logging.getLogger("loadbay.jobs")


class JobInterrupted(Exception):
    """The job must stop now: its lease was lost, or its executor is shutting down. Raised by
    ``JobControl.check``; the job goes back to the queue and runs again elsewhere."""


class JobControl:
    """What a running job polls between its steps (``check()`` after each batch)."""

    def __init__(self, stopping: threading.Event) -> None:
        self._stopping = stopping
        self._lost = threading.Event()

    def lose(self) -> None:
        self._lost.set()

    @property
    def interrupted(self) -> bool:
        return self._lost.is_set() or self._stopping.is_set()

    def check(self) -> None:
        if self._lost.is_set():
            raise JobInterrupted("the job's lease was lost")
        if self._stopping.is_set():
            raise JobInterrupted("the executor is shutting down")


@dataclass(frozen=True, slots=True)
class JobKind:
    """``run(subject_id, control)`` does the work; ``abandon(subject_id, reason)`` is called
    instead once a job has been attempted too often (each attempt died with its process)."""

    run: Callable[[uuid.UUID, JobControl], None]
    abandon: Callable[[uuid.UUID, str], None]


def owner_name() -> str:
    """Who holds a lease: host, process and a random part (a restarted process is new)."""
    return f"{socket.gethostname()[:32]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class JobRunner:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        kinds: Mapping[str, JobKind],
        *,
        lease: float,
        max_attempts: int,
        owner: str | None = None,
    ) -> None:
        self.sessions = sessions
        self.kinds = kinds
        self.lease = lease
        self.max_attempts = max_attempts
        self.owner = owner or owner_name()
        self.stopping = threading.Event()
        # Jobs claimed and not yet ended by this runner. The lease names the process, not the
        # thread: a job whose lease lapsed while this process still ran it (a stall longer
        # than the lease) must not be claimed again here, or two threads would run it under
        # one owner and neither heartbeat would ever notice.
        self._held: set[uuid.UUID] = set()
        self._held_lock = threading.Lock()

    def claim(self, job_id: uuid.UUID) -> service.Claimed | None:
        with self._held_lock:
            if job_id in self._held:
                return None
        claimed = service.claim(self.sessions, job_id=job_id, owner=self.owner, lease=self.lease)
        return self._hold(claimed)

    def claim_next(self) -> service.Claimed | None:
        with self._held_lock:
            held = frozenset(self._held)
        claimed = service.claim_next(self.sessions, owner=self.owner, lease=self.lease, skip=held)
        return self._hold(claimed)

    def _hold(self, claimed: service.Claimed | None) -> service.Claimed | None:
        if claimed is not None:
            with self._held_lock:
                self._held.add(claimed.id)
        return claimed

    def run(self, job: service.Claimed) -> None:
        """Run a claimed job to its end (or until interrupted), keeping its lease alive."""
        try:
            self._run(job)
        finally:
            with self._held_lock:
                self._held.discard(job.id)

    def _run(self, job: service.Claimed) -> None:
        kind = self.kinds.get(job.kind)
        if kind is None:
            self._finish(job, JobState.FAILED, f"no job function for kind {job.kind!r}")
            logger.error("job %s has unknown kind %r", job.id, job.kind)
            return
        if job.attempts > self.max_attempts:
            reason = f"gave up after {job.attempts - 1} attempts that did not finish"
            try:
                kind.abandon(job.subject_id, reason)
            except Exception:
                # Still end the job: left running, it would be abandoned again every lease.
                logger.exception("job %s (%s): abandoning its subject failed", job.id, job.kind)
            self._finish(job, JobState.FAILED, reason)
            logger.error("job %s (%s) abandoned: %s", job.id, job.kind, reason)
            return
        control = JobControl(self.stopping)
        beat_stop = threading.Event()
        beat = threading.Thread(
            target=self._heartbeat, args=(job, control, beat_stop), daemon=True, name="job-beat"
        )
        beat.start()
        logger.info("job %s (%s) started, attempt %d", job.id, job.kind, job.attempts)
        started = time.perf_counter()
        outcome = "failed"
        try:
            kind.run(job.subject_id, control)
            outcome = "succeeded"
        except JobInterrupted as exc:
            outcome = "interrupted"
            logger.warning("job %s (%s) interrupted: %s", job.id, job.kind, exc)
            service.release(self.sessions, job_id=job.id, owner=self.owner)
            return
        except Exception as exc:
            # The job function turns the failures it knows into its subject's state; what
            # reaches here is a bug or an outage: logged with its trace, the job failed.
            logger.exception("job %s (%s) failed", job.id, job.kind)
            self._finish(job, JobState.FAILED, f"{type(exc).__name__}: {exc}")
            return
        finally:
            beat_stop.set()
            beat.join()
            observe_job(kind=job.kind, outcome=outcome, seconds=time.perf_counter() - started)
        self._finish(job, JobState.SUCCEEDED, None)
        logger.info("job %s (%s) succeeded", job.id, job.kind)

    def _finish(self, job: service.Claimed, state: JobState, error: str | None) -> None:
        service.finish(self.sessions, job_id=job.id, owner=self.owner, state=state, error=error)

    def _heartbeat(self, job: service.Claimed, control: JobControl, stop: threading.Event) -> None:
        while not stop.wait(self.lease / 3):
            try:
                alive = service.heartbeat(
                    self.sessions, job_id=job.id, owner=self.owner, lease=self.lease
                )
            except Exception:
                # A store outage: keep trying; if it outlasts the lease, the job is lost.
                logger.exception("heartbeat of job %s failed", job.id)
                continue
            if not alive:
                control.lose()
                return
