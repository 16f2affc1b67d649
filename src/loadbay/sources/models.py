"""The ``import_sources`` table: where an import's file came from, and how far it got.

One row per import made from a URL or a REST source. ``config`` holds the source as given,
secrets included, only as long as a fetch may still need it: it is cleared when the fetch
ends, however it ends. ``shown`` is the redacted copy the API returns.

The incremental cursor of a source is not a table of its own: the value to send next is the
``cursor_to`` of the source's last *completed* import (``service.last_cursor``). So a run that
fails, is cancelled or is reverted later never moves the cursor, and nothing has to be
updated when an import completes.
"""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from loadbay.db import Base, UTCDateTime, utcnow


class ImportSource(Base):
    __tablename__ = "import_sources"
    __table_args__ = (sa.Index("ix_import_sources_key_created", "source_key", "created_at"),)

    import_id: Mapped[uuid.UUID] = mapped_column(
        sa.Uuid, sa.ForeignKey("imports.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(sa.String(8))  # "url" or "rest"
    # REST sources: identifies the source across runs (its explicit name, or a hash).
    source_key: Mapped[str | None] = mapped_column(sa.String(64), nullable=True)
    config: Mapped[str | None] = mapped_column(sa.Text, nullable=True)  # JSON, with secrets
    shown: Mapped[str] = mapped_column(sa.Text)  # JSON, secrets redacted
    # Incremental REST sources: the value sent (JSON; null on a first run) and the highest
    # value seen in this run's records (JSON; the value sent when no record had a higher one).
    cursor_from: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    cursor_to: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    pages: Mapped[int] = mapped_column(sa.Integer, default=0)
    records: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    bytes_fetched: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
