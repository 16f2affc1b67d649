"""Tables of the destinations: the batches an HTTP endpoint acknowledged, per import."""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from loadbay.db import Base, UTCDateTime, utcnow


class DeliveredBatch(Base):
    """One batch (or part of a split batch) the endpoint answered for good: written in the
    transaction that stores its rejected records as row errors, so a commit that runs again
    after a crash skips it and never stores its errors twice."""

    __tablename__ = "destination_batches"

    import_id: Mapped[uuid.UUID] = mapped_column(
        sa.Uuid, sa.ForeignKey("imports.id", ondelete="CASCADE"), primary_key=True
    )
    # The batch's part of the Idempotency-Key: "3", or "3.2.1" for a part of a split batch.
    key: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    accepted: Mapped[int] = mapped_column(sa.Integer)
    rejected: Mapped[int] = mapped_column(sa.Integer)
    status: Mapped[int] = mapped_column(sa.Integer)  # the endpoint's HTTP status
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
