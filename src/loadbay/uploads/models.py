"""The ``uploads`` table: one row per upload, live or tombstone."""

from __future__ import annotations

import datetime as dt
import enum
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from loadbay.db import Base, UTCDateTime, utcnow


class UploadState(enum.StrEnum):
    UPLOADING = "uploading"
    COMPLETE = "complete"
    # Complete, but the whole-file digest differs from the one the client declared.
    CORRUPT = "corrupt"
    # Tombstones: the data is deleted; the row stays a while so that clients get 410, not 404.
    TERMINATED = "terminated"
    EXPIRED = "expired"


LIVE_STATES = (UploadState.UPLOADING, UploadState.COMPLETE, UploadState.CORRUPT)
GONE_STATES = (UploadState.TERMINATED, UploadState.EXPIRED)


class UploadKind(enum.StrEnum):
    SINGLE = "single"
    # tus concatenation: partial uploads are assembled into a final one by the server.
    PARTIAL = "partial"
    FINAL = "final"


class Upload(Base):
    __tablename__ = "uploads"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    kind: Mapped[str] = mapped_column(sa.String(8))
    state: Mapped[str] = mapped_column(sa.String(12), index=True)
    length: Mapped[int | None] = mapped_column(sa.BigInteger, nullable=True)  # null: deferred
    offset: Mapped[int] = mapped_column(sa.BigInteger, default=0)  # bytes durably stored
    upload_metadata: Mapped[str | None] = mapped_column(sa.Text, nullable=True)  # as received
    filename: Mapped[str | None] = mapped_column(sa.Text, nullable=True)  # cleaned, display only
    content_type: Mapped[str | None] = mapped_column(sa.String(255), nullable=True)
    expected_md5: Mapped[str | None] = mapped_column(sa.String(32), nullable=True)
    expected_sha256: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    md5: Mapped[str | None] = mapped_column(sa.String(32), nullable=True)
    sha256: Mapped[str | None] = mapped_column(sa.String(64), nullable=True, index=True)
    parts: Mapped[str | None] = mapped_column(sa.Text, nullable=True)  # final: partial ids
    problem: Mapped[str | None] = mapped_column(sa.Text, nullable=True)  # why it is corrupt
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    completed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)

    @property
    def part_ids(self) -> list[uuid.UUID]:
        return [uuid.UUID(part) for part in (self.parts or "").split()]

    @property
    def is_finished(self) -> bool:
        return self.length is not None and self.offset == self.length
