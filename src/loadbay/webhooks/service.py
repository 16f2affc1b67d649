"""Webhook endpoints and their delivery log. Keyword-only functions; the caller owns the
transaction (``session``)."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Session

from loadbay.context import AppContext
from loadbay.db import older_than, utcnow
from loadbay.outbound import OutboundClient
from loadbay.webhooks import delivery as deliveries
from loadbay.webhooks import signing
from loadbay.webhooks.errors import DeliveryNotFound, WebhookNotFound
from loadbay.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint


def create_endpoint(
    session: Session,
    *,
    outbound: OutboundClient,
    url: str,
    events: list[str],
    description: str | None,
) -> WebhookEndpoint:
    """A new endpoint with a fresh secret. Its URL must pass the outbound guard now (a private
    address is refused unless allow-listed), not only at the first delivery."""
    outbound.check_target(url)
    endpoint = WebhookEndpoint(
        id=uuid.uuid4(),
        url=url,
        event_types=json.dumps(sorted(set(events))),
        description=description,
        secret=signing.new_secret(),
        enabled=True,
    )
    session.add(endpoint)
    session.flush()
    return endpoint


def list_endpoints(session: Session) -> list[WebhookEndpoint]:
    return list(
        session.scalars(
            sa.select(WebhookEndpoint)
            .where(WebhookEndpoint.deleted_at.is_(None))
            .order_by(WebhookEndpoint.created_at, WebhookEndpoint.id)
        )
    )


def get_endpoint(session: Session, *, endpoint_id: uuid.UUID) -> WebhookEndpoint:
    endpoint = session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None or endpoint.deleted_at is not None:
        raise WebhookNotFound(f"no webhook endpoint with id {endpoint_id}")
    return endpoint


def update_endpoint(
    session: Session,
    *,
    outbound: OutboundClient,
    endpoint_id: uuid.UUID,
    url: str | None = None,
    events: list[str] | None = None,
    description: str | None = None,
    enabled: bool | None = None,
) -> WebhookEndpoint:
    endpoint = get_endpoint(session, endpoint_id=endpoint_id)
    if url is not None:
        outbound.check_target(url)
        endpoint.url = url
    if events is not None:
        endpoint.event_types = json.dumps(sorted(set(events)))
    if description is not None:
        endpoint.description = description
    if enabled is not None:
        endpoint.enabled = enabled
        endpoint.disabled_reason = None if enabled else "disabled through the API"
    endpoint.updated_at = utcnow()
    return endpoint


def delete_endpoint(session: Session, *, endpoint_id: uuid.UUID) -> None:
    """Soft delete (the delivery log stays readable in the store); pending deliveries stop."""
    endpoint = get_endpoint(session, endpoint_id=endpoint_id)
    now = utcnow()
    endpoint.deleted_at = endpoint.updated_at = now
    endpoint.enabled = False
    session.execute(
        sa.update(WebhookDelivery)
        .where(WebhookDelivery.endpoint_id == endpoint_id, WebhookDelivery.state == "pending")
        .values(state="cancelled", finished_at=now, next_attempt_at=None)
    )


def rotate_secret(
    session: Session, *, endpoint_id: uuid.UUID, grace: dt.timedelta
) -> tuple[str, dt.datetime]:
    """A new secret; the old one keeps signing beside it for ``grace``."""
    endpoint = get_endpoint(session, endpoint_id=endpoint_id)
    expires = utcnow() + grace
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_expires_at = expires
    endpoint.secret = signing.new_secret()
    endpoint.updated_at = utcnow()
    return endpoint.secret, expires


def list_deliveries(
    session: Session,
    *,
    endpoint_id: uuid.UUID,
    limit: int,
    before: tuple[dt.datetime, uuid.UUID] | None = None,
) -> list[tuple[WebhookDelivery, list[WebhookAttempt]]]:
    """Newest first, each with its attempts in order."""
    get_endpoint(session, endpoint_id=endpoint_id)
    query = (
        sa.select(WebhookDelivery)
        .where(WebhookDelivery.endpoint_id == endpoint_id)
        .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc())
        .limit(limit)
    )
    if before is not None:
        query = query.where(older_than(WebhookDelivery.created_at, WebhookDelivery.id, before))
    found = list(session.scalars(query))
    attempts: dict[uuid.UUID, list[WebhookAttempt]] = {d.id: [] for d in found}
    if found:
        for attempt in session.scalars(
            sa.select(WebhookAttempt)
            .where(WebhookAttempt.delivery_id.in_(list(attempts)))
            .order_by(WebhookAttempt.number)
        ):
            attempts[attempt.delivery_id].append(attempt)
    return [(d, attempts[d.id]) for d in found]


def redeliver(
    context: AppContext, session: Session, *, endpoint_id: uuid.UUID, delivery_id: uuid.UUID
) -> WebhookDelivery:
    get_endpoint(session, endpoint_id=endpoint_id)
    delivery = session.get(WebhookDelivery, delivery_id)
    if delivery is None or delivery.endpoint_id != endpoint_id:
        raise DeliveryNotFound(f"no delivery {delivery_id} for webhook endpoint {endpoint_id}")
    deliveries.redeliver(context, session, delivery)
    return delivery
