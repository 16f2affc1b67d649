"""Tables of the schema registry: a name, and its immutable numbered versions."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from loadbay.db import Base, UTCDateTime, utcnow


class SchemaRecord(Base):
    __tablename__ = "schemas"

    name: Mapped[str] = mapped_column(sa.String(63), primary_key=True)
    latest_version: Mapped[int] = mapped_column(sa.Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Deleting a schema hides it; its versions stay because imports pin them.
    deleted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class SchemaVersion(Base):
    __tablename__ = "schema_versions"

    name: Mapped[str] = mapped_column(
        sa.String(63), sa.ForeignKey("schemas.name"), primary_key=True
    )
    version: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    document: Mapped[str] = mapped_column(sa.Text)  # canonical JSON of the TableSchema
    fingerprint: Mapped[str] = mapped_column(sa.String(64))  # sha256 of the canonical JSON
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
