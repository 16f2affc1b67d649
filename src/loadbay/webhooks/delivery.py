"""One delivery attempt (a job), and the schedule of the next.

Attempts follow Standard Webhooks' suggested schedule: at once, then after 5 s, 5 min,
30 min, 2 h, 5 h, 10 h and 10 h, each wait with ±10 % jitter so endpoints that failed
together are not retried together. A 2xx ends the delivery; a 410 Gone disables the
endpoint (its pending deliveries are cancelled); anything else, or no answer, schedules the
next attempt, until the last. Each attempt is a row numbered per delivery (unique), so an
attempt run twice (a job re-run after a crash just after sending) is recorded once.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from loadbay.context import AppContext
from loadbay.db import transaction, utcnow
from loadbay.jobs import service as jobs
from loadbay.jobs.runner import JobControl
from loadbay.observability.metrics import count_webhook_attempt
from loadbay.webhooks import signing
from loadbay.webhooks.events import DELIVER
from loadbay.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint

logger = logging.getLogger("loadbay.webhooks")

# Seconds to wait before attempt n+1 after attempt n failed (n = 1…7); 8 attempts in all.
RETRY_WAITS: tuple[float, ...] = (5, 300, 1800, 7200, 18000, 36000, 36000)
JITTER = 0.1
EXCERPT_CHARS = 500


@dataclass(frozen=True, slots=True)
class Answer:
    """What an endpoint answered: a status, or ``error`` when nothing came back."""

    status: int | None
    excerpt: str | None = None
    error: str | None = None


# Sends one signed POST and returns the answer; never raises for network failures.
Send = Callable[[str, dict[str, str], bytes], Answer]


def wait_before(attempt: int, rng: random.Random | None = None) -> float:
    """Seconds before attempt ``attempt + 1`` (``attempt`` >= 1), jittered."""
    base = RETRY_WAITS[attempt - 1]
    return base * (1 + (rng or random).uniform(-JITTER, JITTER))


def deliver(context: AppContext, delivery_id: uuid.UUID, control: JobControl, send: Send) -> None:
    with transaction(context.sessions) as session:
        delivery = session.get(WebhookDelivery, delivery_id)
        if delivery is None or delivery.state != "pending":
            return
        endpoint = session.get_one(WebhookEndpoint, delivery.endpoint_id)
        if not endpoint.enabled or endpoint.deleted_at is not None:
            _end(delivery, "cancelled", "the endpoint was disabled or deleted")
            return
        number = delivery.attempts + 1
        now = utcnow()
        keys = [endpoint.secret]
        if endpoint.previous_secret and (endpoint.previous_secret_expires_at or now) > now:
            keys.append(endpoint.previous_secret)
        headers = signing.headers(
            message_id=delivery.message_id,
            timestamp=now,
            body=delivery.payload,
            signing_secrets=keys,
        ) | {"content-type": "application/json"}
        url, body = endpoint.url, delivery.payload.encode()
    control.check()
    started = time.perf_counter()
    answer = send(url, headers, body)
    elapsed_ms = (time.perf_counter() - started) * 1000
    with transaction(context.sessions) as session:
        delivery = session.get_one(WebhookDelivery, delivery_id)
        if delivery.attempts >= number or delivery.state != "pending":
            return  # this attempt was recorded by an earlier run of the same job
        session.add(
            WebhookAttempt(
                delivery_id=delivery_id,
                number=number,
                started_at=now,
                duration_ms=round(elapsed_ms, 1),
                status=answer.status,
                error=answer.error,
                response_excerpt=answer.excerpt,
            )
        )
        delivery.attempts = number
        count_webhook_attempt(answer.status)
        delivery.last_status = answer.status
        delivery.last_error = answer.error
        _settle(context, session, delivery, answer, number)
    logger.info(
        "webhook %s attempt %d to %s: %s",
        delivery.message_id,
        number,
        url,
        answer.status if answer.status is not None else answer.error,
    )


def _settle(
    context: AppContext, session: Session, delivery: WebhookDelivery, answer: Answer, number: int
) -> None:
    status = answer.status
    if status is not None and 200 <= status < 300:
        _end(delivery, "succeeded", None)
    elif status == 410:
        endpoint = session.get_one(WebhookEndpoint, delivery.endpoint_id)
        endpoint.enabled = False
        endpoint.disabled_reason = "the endpoint answered 410 Gone"
        endpoint.updated_at = utcnow()
        _end(delivery, "failed", "410 Gone: the endpoint was disabled")
        session.execute(
            sa.update(WebhookDelivery)
            .where(
                WebhookDelivery.endpoint_id == endpoint.id,
                WebhookDelivery.state == "pending",
                WebhookDelivery.id != delivery.id,
            )
            .values(state="cancelled", finished_at=utcnow(), next_attempt_at=None)
        )
    elif number > len(RETRY_WAITS):
        _end(delivery, "failed", f"no success after {number} attempts")
    else:
        due = utcnow() + dt.timedelta(seconds=wait_before(number))
        delivery.next_attempt_at = due
        jobs.enqueue(
            session,
            kind=DELIVER,
            subject_id=delivery.id,
            notify=lambda _job: None,
            not_before=due,
        )


def _end(delivery: WebhookDelivery, state: str, reason: str | None) -> None:
    delivery.state = state
    delivery.finished_at = utcnow()
    delivery.next_attempt_at = None
    if reason:
        delivery.last_error = reason


def give_up(context: AppContext, delivery_id: uuid.UUID, reason: str) -> None:
    """An attempt whose process kept dying: the delivery fails (a person may redeliver)."""
    with transaction(context.sessions) as session:
        delivery = session.get(WebhookDelivery, delivery_id)
        if delivery is not None and delivery.state == "pending":
            _end(delivery, "failed", reason)


def redeliver(context: AppContext, session: Session, delivery: WebhookDelivery) -> None:
    """Try a delivery once more now, whatever became of it (a person asked)."""
    delivery.state = "pending"
    delivery.finished_at = None
    delivery.next_attempt_at = utcnow()
    # A retry may be queued for hours from now: bring it forward instead of adding another.
    jobs.bring_forward(session, kind=DELIVER, subject_id=delivery.id)
    context.enqueue(session, kind=DELIVER, subject_id=delivery.id)
