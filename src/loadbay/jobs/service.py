"""The durable job queue: enqueue in the caller's transaction, claim with a lease, heartbeat,
finish. Every change is one guarded UPDATE, so two executors can never both hold a job.

Keyword-only functions; ``enqueue`` takes the caller's session (the job must commit with the
state change that asks for it), the rest open their own short transactions.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker

from loadbay.db import transaction, utcnow
from loadbay.jobs.models import Job, JobState

# Called with a job's id once the transaction that enqueued it has committed.
Notify = Callable[[uuid.UUID], None]


def enqueue(
    session: Session,
    *,
    kind: str,
    subject_id: uuid.UUID,
    notify: Notify,
    not_before: dt.datetime | None = None,
) -> uuid.UUID:
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
    job = Job(
        id=uuid.uuid4(),
        kind=kind,
        subject_id=subject_id,
        state=JobState.QUEUED,
        not_before=not_before,
    )
    session.add(job)
    job_id = job.id

    # The listeners live on the session, which may outlive this transaction: the first
    # outermost commit or rollback settles the job's fate, so a rolled-back job is never
    # announced by a later commit of the same session, and a savepoint released on the way is
    # not taken for the commit. (A listener cannot remove itself while it is being called:
    # like ``once=True`` would, it stays registered and does nothing more.)
    settled = False

    def committed(committed_session: Session) -> None:
        nonlocal settled
        if settled or committed_session.in_nested_transaction():
            return  # announced already, or a savepoint: not visible to an executor yet
        settled = True
        notify(job_id)

    def rolled_back(_session: Session, previous: SessionTransaction) -> None:
        nonlocal settled
        if previous.parent is None:  # the whole transaction, and the job row with it
            settled = True

    event.listen(session, "after_commit", committed)
    event.listen(session, "after_soft_rollback", rolled_back)
    return job_id


@dataclass(frozen=True, slots=True)
class Claimed:
    id: uuid.UUID
    kind: str
    subject_id: uuid.UUID
    attempts: int


def _claimable(now: dt.datetime) -> sa.ColumnElement[bool]:
    # Queued and due, or running under a lease that lapsed (its owner died or hung).
    return sa.or_(
        sa.and_(
            Job.state == JobState.QUEUED,
            sa.or_(Job.not_before.is_(None), Job.not_before <= now),
        ),
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


def claim_next(
    sessions: sessionmaker[Session],
    *,
    owner: str,
    lease: float,
    skip: Collection[uuid.UUID] = frozenset(),
) -> Claimed | None:
    """The oldest claimable job not in ``skip``, taken; None when there is none. Candidates
    are tried in order, so two executors racing for the same one both end up with a job."""
    for job_id in claimable_ids(sessions, limit=8 + len(skip)):
        if job_id in skip:
            continue
        claimed = claim(sessions, job_id=job_id, owner=owner, lease=lease)
        if claimed is not None:
            return claimed
    return None


def claimable_ids(
    sessions: sessionmaker[Session], *, limit: int, queued_for: float | None = None
) -> list[uuid.UUID]:
    """Claimable jobs, oldest first. With ``queued_for`` (seconds), a queued job counts only
    once it is that old: the Celery sweeper leaves new jobs to the message sent with them."""
    now = utcnow()
    condition = _claimable(now)
    if queued_for is not None:
        condition = sa.and_(
            condition,
            sa.or_(
                Job.state != JobState.QUEUED,
                Job.created_at < now - dt.timedelta(seconds=queued_for),
            ),
        )
    with sessions() as session:
        return list(
            session.scalars(
                sa.select(Job.id).where(condition).order_by(Job.created_at, Job.id).limit(limit)
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
    """For the metrics: jobs due and running, and how long the oldest due job has waited
    (a retry scheduled for later is not waiting yet: it counts from its ``not_before``)."""
    now = utcnow()
    due = sa.and_(
        Job.state == JobState.QUEUED, sa.or_(Job.not_before.is_(None), Job.not_before <= now)
    )
    with sessions() as session:
        queued = session.scalar(sa.select(sa.func.count()).where(due)) or 0
        running = (
            session.scalar(sa.select(sa.func.count()).where(Job.state == JobState.RUNNING)) or 0
        )
        oldest = session.scalar(
            sa.select(sa.func.min(sa.func.coalesce(Job.not_before, Job.created_at))).where(due)
        )
    if isinstance(oldest, str):  # SQLite hands coalesce() back as text
        oldest = dt.datetime.fromisoformat(oldest).replace(tzinfo=dt.UTC)
    age = max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0
    return QueueStats(queued, running, age)


def jobs_of(sessions: sessionmaker[Session], *, subject_id: uuid.UUID) -> list[Job]:
    with sessions() as session:
        return list(
            session.scalars(
                sa.select(Job).where(Job.subject_id == subject_id).order_by(Job.created_at)
            )
        )


def _rowcount(result: sa.Result[object]) -> int:
    return int(result.rowcount)  # type: ignore[attr-defined]


def bring_forward(session: Session, *, kind: str, subject_id: uuid.UUID) -> None:
    """Make queued jobs of this kind and subject due now (a scheduled retry asked for early)."""
    session.execute(
        sa.update(Job)
        .where(Job.kind == kind, Job.subject_id == subject_id, Job.state == JobState.QUEUED)
        .values(not_before=None)
    )
