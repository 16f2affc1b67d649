"""The ``jobs`` table: the durable queue both executors share.

A job is a row first and a message second: it is inserted in the same transaction as the
state change that asks for it, so a crash can never lose one, and whoever runs it holds a
lease (``lease_owner``, ``lease_expires_at``) that its heartbeat keeps extending. A job whose
lease lapsed (its process died) is claimed again by the next executor that looks.
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from loadbay.db import Base, UTCDateTime, utcnow


class JobState(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (sa.Index("ix_jobs_state_created_at", "state", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    kind: Mapped[str] = mapped_column(sa.String(32))
    subject_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, index=True)  # e.g. the import
    state: Mapped[str] = mapped_column(sa.String(12))
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    lease_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Not claimable before this moment (a retry scheduled for later); null: at once.
    not_before: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    error: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
