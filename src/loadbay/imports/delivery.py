"""An import's valid rows to its schema's HTTP destination: resumable, with row errors.

Every batch the endpoint answers is recorded (``destination_batches``) in the transaction
that stores its rejected records as row errors and counts them, so a run that starts again
after a crash skips what was acknowledged and never counts or stores it twice. Used by both
inline JSON imports and the file-import commit job.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

import polars as pl
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from loadbay.context import AppContext
from loadbay.db import transaction
from loadbay.destinations.errors import (
    DestinationFailed,
    DestinationRejected,
    DestinationSecretMissing,
)
from loadbay.destinations.http import (
    Ack,
    Acknowledged,
    HttpDestination,
    OnError,
    delivered_summary,
)
from loadbay.destinations.models import DeliveredBatch
from loadbay.imports.models import ImportRecord
from loadbay.imports.service import fail_import, store_errors, transition, update
from loadbay.imports.states import ImportState
from loadbay.outbound import OutboundRefused
from loadbay.schemas.model import TableSchema

logger = logging.getLogger("loadbay.imports")


@dataclass(frozen=True, slots=True)
class Delivered:
    """Records the endpoint accepted and rejected, over every run of this import's delivery;
    ``ended``: the delivery ended the import (failed or cancelled), the caller stops."""

    accepted: int
    rejected: int
    ended: bool = False


class _Stopped(Exception):
    """The import was cancelled, or moved on, while it delivered."""

    def __init__(self, *, cancelled: bool) -> None:
        super().__init__("cancelled" if cancelled else "moved on")
        self.cancelled = cancelled


def acknowledged(session: Session, import_id: uuid.UUID) -> dict[str, Acknowledged]:
    rows = session.execute(
        sa.select(DeliveredBatch.key, DeliveredBatch.accepted, DeliveredBatch.rejected).where(
            DeliveredBatch.import_id == import_id
        )
    )
    return {key: Acknowledged(accepted, rejected) for key, accepted, rejected in rows}


def delivered_batches(context: AppContext, import_id: uuid.UUID) -> dict[str, Acknowledged]:
    with context.sessions() as session:
        return acknowledged(session, import_id)


def deliver(
    context: AppContext,
    *,
    import_id: uuid.UUID,
    schema: TableSchema,
    batches: Iterable[pl.DataFrame],
    on_error: OnError,
    state: ImportState,
) -> Delivered:
    """Deliver ``batches`` to ``schema``'s destination while the import is ``state``.

    A refused, failed or (on_error=abort) rejecting delivery fails the import, a cancel
    cancels it; both answer ``ended``. Whatever ``batches`` raises propagates.
    """
    config = schema.x_loadbay.destination
    assert config is not None, "deliver() needs a schema with an HTTP destination"
    limit = context.settings.max_stored_errors

    def acknowledge(ack: Ack) -> None:
        try:
            with transaction(context.sessions) as session:
                session.add(
                    DeliveredBatch(
                        import_id=import_id,
                        key=ack.key,
                        accepted=ack.accepted,
                        rejected=ack.rejected,
                        status=ack.status,
                    )
                )
                session.flush()
                stored = session.scalar(
                    sa.select(ImportRecord.errors_stored).where(ImportRecord.id == import_id)
                )
                room = max(0, limit - (stored or 0))
                store_errors(session, import_id, ack.errors, room)
                moved_on = not update(
                    session,
                    import_id,
                    state,
                    rows_loaded=ImportRecord.rows_loaded + ack.accepted,
                    errors_total=ImportRecord.errors_total + len(ack.errors),
                    errors_stored=ImportRecord.errors_stored + min(len(ack.errors), room),
                )
                cancelled = bool(
                    session.scalar(
                        sa.select(ImportRecord.cancel_requested).where(ImportRecord.id == import_id)
                    )
                )
                if moved_on:
                    # Nothing of this batch is recorded for an import that is no longer ours.
                    raise _Stopped(cancelled=False)
        except IntegrityError:
            # Another attempt of this job (a lapsed lease) recorded the same batch: the
            # endpoint saw one key twice, and the errors and counts are that attempt's.
            logger.info("import %s: batch %s was recorded by another attempt", import_id, ack.key)
            return
        if cancelled:
            raise _Stopped(cancelled=True)  # between batches, after this one is recorded

    try:
        destination = HttpDestination(
            config, outbound=context.outbound, secrets=context.settings.destination_secrets
        )
        destination.deliver(
            schema,
            batches,
            import_id=import_id,
            on_error=on_error,
            done=delivered_batches(context, import_id),
            acknowledge=acknowledge,
        )
    except _Stopped as stop:
        if stop.cancelled:
            with transaction(context.sessions) as session:
                transition(session, import_id, state, ImportState.CANCELLED, eta_seconds=None)
            logger.info("import %s cancelled while delivering", import_id)
        return _totals(context, import_id, ended=True)
    except (
        DestinationFailed,
        DestinationRejected,
        DestinationSecretMissing,
        OutboundRefused,
    ) as exc:
        logger.warning("import %s: delivery failed: %s", import_id, exc.detail)
        fail_import(context, import_id, state, exc.slug, exc.detail)
        return _totals(context, import_id, ended=True)
    return _totals(context, import_id, ended=False)


def _totals(context: AppContext, import_id: uuid.UUID, *, ended: bool) -> Delivered:
    done = delivered_batches(context, import_id).values()
    return Delivered(
        accepted=sum(a.accepted for a in done), rejected=sum(a.rejected for a in done), ended=ended
    )


def delivery_note(context: AppContext, import_id: uuid.UUID) -> str:
    """For a failure after some batches went out: they are at the endpoint for good."""
    done = delivered_batches(context, import_id)
    return f" {delivered_summary(done)}" if done else ""
