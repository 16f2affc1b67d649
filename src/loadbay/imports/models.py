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
    source: Mapped[str] = mapped_column(sa.String(16))  # "records" (inline JSON) or "upload"
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
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)
    # File imports (source "upload"); null for inline records.
    upload_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid, nullable=True, index=True)
    file_name: Mapped[str | None] = mapped_column(sa.Text, nullable=True)  # display only
    # The import whose failed rows this one re-imports (a fixed errors CSV).
    follow_up_of: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid, nullable=True)
    options: Mapped[str | None] = mapped_column(sa.Text, nullable=True)  # JSON: ImportOptions
    detected: Mapped[str | None] = mapped_column(sa.Text, nullable=True)  # JSON: formats.Detected
    proposal: Mapped[str | None] = mapped_column(sa.Text, nullable=True)  # JSON: MappingProposal
    mapping: Mapped[str | None] = mapped_column(sa.Text, nullable=True)  # JSON: {field: column}
    bytes_total: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    bytes_processed: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    rows_estimate: Mapped[int | None] = mapped_column(sa.BigInteger, nullable=True)
    rows_per_second: Mapped[float | None] = mapped_column(sa.Float, nullable=True)
    eta_seconds: Mapped[float | None] = mapped_column(sa.Float, nullable=True)
    # Who asked for it (security.actors): "key:<name>", "admin", "local" or "cli".
    created_by: Mapped[str | None] = mapped_column(sa.String(100), nullable=True)
    # Set by a cancel while a job runs; the job stops at its next batch and ends the import.
    cancel_requested: Mapped[bool] = mapped_column(sa.Boolean, default=False)


class ImportPatch(Base):
    """A person's edit of one cell of a file import, applied whenever the file is read."""

    __tablename__ = "import_patches"
    __table_args__ = (sa.UniqueConstraint("import_id", "row", "field"),)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    import_id: Mapped[uuid.UUID] = mapped_column(
        sa.Uuid, sa.ForeignKey("imports.id", ondelete="CASCADE"), index=True
    )
    row: Mapped[int] = mapped_column(sa.Integer)
    field: Mapped[str] = mapped_column(sa.Text)
    value: Mapped[str | None] = mapped_column(sa.Text, nullable=True)  # null: the cell is empty
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


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


class ImportRow(Base):
    """An invalid row of a file import as validated (patches applied), so a person can see and
    fix it without the file being read again. Kept for the first rows only (a setting)."""

    __tablename__ = "import_rows"
    __table_args__ = (sa.UniqueConstraint("import_id", "row"),)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    import_id: Mapped[uuid.UUID] = mapped_column(
        sa.Uuid, sa.ForeignKey("imports.id", ondelete="CASCADE"), index=True
    )
    row: Mapped[int] = mapped_column(sa.Integer)
    values: Mapped[str] = mapped_column(sa.Text)  # JSON: {field: text or null}
    kinds: Mapped[str | None] = mapped_column(sa.Text, nullable=True)  # JSON: {field: kind}
