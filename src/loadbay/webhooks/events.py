"""Emitting an event: one delivery row and one job per endpoint that listens, written in the
caller's transaction (an outbox: the event exists exactly when the change that caused it
does)."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.orm import Session

from loadbay.db import utcnow
from loadbay.jobs import service as jobs
from loadbay.webhooks.models import WebhookDelivery, WebhookEndpoint

EVENT_TYPES: Final = (
    "upload.completed",
    "import.awaiting_mapping",
    "import.validated",
    "import.completed",
    "import.failed",
)
DELIVER: Final = "webhook.deliver"


def _nobody(_job_id: uuid.UUID) -> None:
    """Deliveries need no wake-up call: executors poll the queue every job_poll_interval."""


def emit(session: Session, *, event_type: str, data: dict[str, Any]) -> int:
    """Queue ``event_type`` for every enabled endpoint that subscribed to it; returns how
    many deliveries were queued. The body is fixed now, so every attempt sends (and signs)
    the same bytes."""
    assert event_type in EVENT_TYPES, event_type
    endpoints = session.scalars(
        sa.select(WebhookEndpoint).where(
            WebhookEndpoint.enabled.is_(True), WebhookEndpoint.deleted_at.is_(None)
        )
    ).all()
    listening = [e for e in endpoints if event_type in json.loads(e.event_types)]
    if not listening:
        return 0
    now = utcnow()
    message_id = f"msg_{uuid.uuid4().hex}"
    body = payload(event_type, now, data)
    for endpoint in listening:
        delivery = WebhookDelivery(
            id=uuid.uuid4(),
            endpoint_id=endpoint.id,
            event_type=event_type,
            message_id=message_id,
            payload=body,
            state="pending",
            next_attempt_at=now,
        )
        session.add(delivery)
        session.flush()
        jobs.enqueue(session, kind=DELIVER, subject_id=delivery.id, notify=_nobody)
    return len(listening)


def payload(event_type: str, at: dt.datetime, data: dict[str, Any]) -> str:
    """The Standard Webhooks payload shape: ``{type, timestamp, data}``."""
    return json.dumps(
        {"type": event_type, "timestamp": at.isoformat(), "data": data},
        separators=(",", ":"),
        default=str,
    )
