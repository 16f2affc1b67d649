"""Tables of the import aggregate: the import and its stored cell errors."""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from loadbay.db import Base, UTCDateTime, utcnow


class ImportRecord(Base):
    __tablename__ = "imports"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    schema_name: Mapped[str] = mapped_column(sa.String(63), index=True)
    schema_version: Mapped[int] = mapped_column(sa.Integer)
    table_name: Mapped[str] = mapped_column(sa.String(63))
    source: Mapped[str] = mapped_column(sa.String(16))  # "records" (inline JSON), later "upload"…
    state: Mapped[str] = mapped_column(sa.String(20), index=True)
    mode: Mapped[str] = mapped_column(sa.String(10))
    on_error: Mapped[str] = mapped_column(sa.String(10))
    rows_total: Mapped[int] = mapped_column(sa.Integer, default=0)
    rows_valid: Mapped[int] = mapped_column(sa.Integer, default=0)
    rows_invalid: Mapped[int] = mapped_column(sa.Integer, default=0)
    rows_loaded: Mapped[int] = mapped_column(sa.Integer, default=0)
    errors_total: Mapped[int] = mapped_column(sa.Integer, default=0)
    errors_stored: Mapped[int] = mapped_column(sa.Integer, default=0)
    budget_exceeded: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    progress: Mapped[float] = mapped_column(sa.Float, default=0.0)
    failure: Mapped[str | None] = mapped_column(sa.Text, nullable=True)  # why it failed
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ImportError_(Base):
    """One stored cell error (``column`` is null for row-level errors)."""

    __tablename__ = "import_errors"

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    import_id: Mapped[uuid.UUID] = mapped_column(
        sa.Uuid, sa.ForeignKey("imports.id", ondelete="CASCADE"), index=True
    )
    row: Mapped[int] = mapped_column(sa.Integer)
    column: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    value: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    rule: Mapped[str] = mapped_column(sa.String(32))
    message: Mapped[str] = mapped_column(sa.Text)
