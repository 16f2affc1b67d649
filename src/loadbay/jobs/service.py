"""The durable job queue: enqueue in the caller's transaction, claim with a lease, heartbeat,
finish. Every change is one guarded UPDATE, so two executors can never both hold a job.

Keyword-only functions; ``enqueue`` takes the caller's session (the job must commit with the
state change that asks for it), the rest open their own short transactions.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from loadbay.db import transaction, utcnow
from loadbay.jobs.models import Job, JobState

# Called with a job's id once the transaction that enqueued it has committed.
Notify = Callable[[uuid.UUID], None]


def enqueue(session: Session, *, kind: str, subject_id: uuid.UUID, notify: Notify) -> uuid.UUID:
    """Add a queued job in ``session``'s transaction; ``notify`` runs after it commits.

    A job of the same kind and subject still queued is reused rather than doubled (a client
    retrying a commit request must not queue two commits)."""
    existing = session.scalar(
        sa.select(Job.id).where(
            Job.kind == kind, Job.subject_id == subject_id, Job.state == JobState.QUEUED
        )
    )
    if existing is not None:
        return existing
    job = Job(id=uuid.uuid4(), kind=kind, subject_id=subject_id, state=JobState.QUEUED)
    session.add(job)
    job_id = job.id
    event.listen(session, "after_commit", lambda _session: notify(job_id), once=True)
    return job_id


@dataclass(frozen=True, slots=True)
class Claimed:
    id: uuid.UUID
    kind: str
    subject_id: uuid.UUID
    attempts: int


def _claimable(now: dt.datetime) -> sa.ColumnElement[bool]:
    # Queued, or running under a lease that lapsed (its owner died or hung).
    return sa.or_(
        Job.state == JobState.QUEUED,
        sa.and_(Job.state == JobState.RUNNING, Job.lease_expires_at < now),
    )


def claim(
    sessions: sessionmaker[Session], *, job_id: uuid.UUID, owner: str, lease: float
) -> Claimed | None:
    """Take ``job_id`` if it is claimable; None when someone else holds it or it is done."""
    now = utcnow()
    with transaction(sessions) as session:
        result = session.execute(
            sa.update(Job)
            .where(Job.id == job_id, _claimable(now))
            .values(
                state=JobState.RUNNING,
                lease_owner=owner,
                lease_expires_at=now + dt.timedelta(seconds=lease),
                attempts=Job.attempts + 1,
                started_at=now,
            )
        )
        if _rowcount(result) != 1:
            return None
        job = session.get_one(Job, job_id)
        return Claimed(job.id, job.kind, job.subject_id, job.attempts)


def claim_next(sessions: sessionmaker[Session], *, owner: str, lease: float) -> Claimed | None:
    """The oldest claimable job, taken; None when there is none. Candidates are tried in
    order, so two executors racing for the same one both end up with a job."""
    for job_id in claimable_ids(sessions, limit=8):
        claimed = claim(sessions, job_id=job_id, owner=owner, lease=lease)
        if claimed is not None:
            return claimed
    return None


def claimable_ids(sessions: sessionmaker[Session], *, limit: int) -> list[uuid.UUID]:
    with sessions() as session:
        return list(
            session.scalars(
                sa.select(Job.id)
                .where(_claimable(utcnow()))
                .order_by(Job.created_at, Job.id)
                .limit(limit)
            )
        )


def heartbeat(
    sessions: sessionmaker[Session], *, job_id: uuid.UUID, owner: str, lease: float
) -> bool:
    """Extend the lease; False when it is no longer ours (it lapsed and was taken)."""
    with transaction(sessions) as session:
        result = session.execute(
            sa.update(Job)
            .where(Job.id == job_id, Job.lease_owner == owner, Job.state == JobState.RUNNING)
            .values(lease_expires_at=utcnow() + dt.timedelta(seconds=lease))
        )
        return _rowcount(result) == 1


def finish(
    sessions: sessionmaker[Session],
    *,
    job_id: uuid.UUID,
    owner: str,
    state: JobState,
    error: str | None = None,
) -> bool:
    with transaction(sessions) as session:
        result = session.execute(
            sa.update(Job)
            .where(Job.id == job_id, Job.lease_owner == owner, Job.state == JobState.RUNNING)
            .values(state=state, finished_at=utcnow(), lease_expires_at=None, error=error)
        )
        return _rowcount(result) == 1


def release(sessions: sessionmaker[Session], *, job_id: uuid.UUID, owner: str) -> None:
    """Give a job back to the queue (an executor shutting down mid-job)."""
    with transaction(sessions) as session:
        session.execute(
            sa.update(Job)
            .where(Job.id == job_id, Job.lease_owner == owner, Job.state == JobState.RUNNING)
            .values(state=JobState.QUEUED, lease_owner=None, lease_expires_at=None)
        )


@dataclass(frozen=True, slots=True)
class QueueStats:
    queued: int
    running: int
    oldest_queued_seconds: float


def queue_stats(sessions: sessionmaker[Session]) -> QueueStats:
    """For the metrics: depth of the queue and age of its oldest job."""
    with sessions() as session:
        counts = dict(
            session.execute(
                sa.select(Job.state, sa.func.count())
                .where(Job.state.in_([JobState.QUEUED, JobState.RUNNING]))
                .group_by(Job.state)
            ).all()
        )
        oldest = session.scalar(
            sa.select(sa.func.min(Job.created_at)).where(Job.state == JobState.QUEUED)
        )
    age = (utcnow() - oldest).total_seconds() if oldest is not None else 0.0
    return QueueStats(counts.get(JobState.QUEUED, 0), counts.get(JobState.RUNNING, 0), age)


def jobs_of(sessions: sessionmaker[Session], *, subject_id: uuid.UUID) -> list[Job]:
    with sessions() as session:
        return list(
            session.scalars(
                sa.select(Job).where(Job.subject_id == subject_id).order_by(Job.created_at)
            )
        )


def _rowcount(result: sa.Result[object]) -> int:
    return int(result.rowcount)  # type: ignore[attr-defined]
