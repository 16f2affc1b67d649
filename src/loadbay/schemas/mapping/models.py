"""Mapping memory: header rows a person mapped for a schema, and the mapping confirmed."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from loadbay.db import Base, UTCDateTime, utcnow


class MappingMemory(Base):
    __tablename__ = "mapping_memory"
    __table_args__ = (sa.UniqueConstraint("schema_name", "header_fingerprint"),)

    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=True)
    # By name, not version: a new schema version usually keeps most fields, and the
    # remembered pairs of fields it dropped are ignored when applied.
    schema_name: Mapped[str] = mapped_column(sa.String(63), index=True)
    # sha256 of the sorted normalised header set: one memory per schema and header set.
    header_fingerprint: Mapped[str] = mapped_column(sa.String(64))
    normalised_headers: Mapped[str] = mapped_column(sa.Text)  # JSON list, sorted
    mapping: Mapped[str] = mapped_column(sa.Text)  # JSON {field: column}
    confirmed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    uses: Mapped[int] = mapped_column(sa.Integer, default=1)  # times a person confirmed it
