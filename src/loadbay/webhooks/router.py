"""HTTP routes of webhooks (admin scope). Thin: parse, call the service, shape the answer."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from sqlalchemy.orm import Session

from loadbay import cursors
from loadbay.api_errors import problem_responses
from loadbay.context import AppContext, get_context, get_session
from loadbay.webhooks import service
from loadbay.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from loadbay.webhooks.schemas import (
    AttemptOut,
    DeliveryOut,
    DeliveryPage,
    EndpointCreated,
    EndpointIn,
    EndpointList,
    EndpointOut,
    EndpointPatch,
    SecretRotated,
)

router = APIRouter(prefix="/api/webhooks", tags=["webhooks"])
DbSession = Annotated[Session, Depends(get_session)]
Context = Annotated[AppContext, Depends(get_context)]


def _out(endpoint: WebhookEndpoint) -> EndpointOut:
    base = f"/api/webhooks/{endpoint.id}"
    return EndpointOut(
        id=endpoint.id,
        url=endpoint.url,
        events=json.loads(endpoint.event_types),
        description=endpoint.description,
        enabled=endpoint.enabled,
        disabled_reason=endpoint.disabled_reason,
        previous_secret_expires_at=endpoint.previous_secret_expires_at,
        created_at=endpoint.created_at,
        updated_at=endpoint.updated_at,
        links={"self": base, "deliveries": f"{base}/deliveries", "rotate": f"{base}/rotate-secret"},
    )


def _delivery_out(delivery: WebhookDelivery, attempts: list[WebhookAttempt]) -> DeliveryOut:
    base = f"/api/webhooks/{delivery.endpoint_id}/deliveries/{delivery.id}"
    return DeliveryOut(
        id=delivery.id,
        message_id=delivery.message_id,
        event_type=delivery.event_type,
        state=delivery.state,
        attempts=delivery.attempts,
        next_attempt_at=delivery.next_attempt_at,
        last_status=delivery.last_status,
        last_error=delivery.last_error,
        created_at=delivery.created_at,
        finished_at=delivery.finished_at,
        attempt_log=[
            AttemptOut(
                number=a.number,
                started_at=a.started_at,
                duration_ms=a.duration_ms,
                status=a.status,
                error=a.error,
                response_excerpt=a.response_excerpt,
            )
            for a in attempts
        ],
        links={"redeliver": f"{base}/redeliver"},
    )


@router.post(
    "",
    status_code=201,
    response_model=EndpointCreated,
    summary="Add an endpoint; the answer shows its signing secret once",
    responses=problem_responses(
        {400: "The body is not valid JSON", 422: "Invalid endpoint, or an address refused"}
    ),
)
def create_endpoint(
    body: EndpointIn, session: DbSession, context: Context, response: Response
) -> EndpointCreated:
    with session.begin():
        endpoint = service.create_endpoint(
            session,
            outbound=context.outbound,
            url=str(body.url),
            events=list(body.events),
            description=body.description,
        )
        out = EndpointCreated(**_out(endpoint).model_dump(), secret=endpoint.secret)
    response.headers["Location"] = out.links["self"]
    return out


@router.get("", response_model=EndpointList, summary="The endpoints (secrets never shown)")
def list_endpoints(session: DbSession) -> EndpointList:
    return EndpointList(items=[_out(e) for e in service.list_endpoints(session)])


@router.get(
    "/{endpoint_id}",
    response_model=EndpointOut,
    summary="One endpoint",
    responses=problem_responses({404: "Unknown endpoint"}),
)
def get_endpoint(endpoint_id: uuid.UUID, session: DbSession) -> EndpointOut:
    return _out(service.get_endpoint(session, endpoint_id=endpoint_id))


@router.patch(
    "/{endpoint_id}",
    response_model=EndpointOut,
    summary="Change an endpoint's URL, events or description; enable or disable it",
    responses=problem_responses(
        {400: "The body is not valid JSON", 404: "Unknown endpoint", 422: "Invalid change"}
    ),
)
def patch_endpoint(
    endpoint_id: uuid.UUID, body: EndpointPatch, session: DbSession, context: Context
) -> EndpointOut:
    with session.begin():
        endpoint = service.update_endpoint(
            session,
            outbound=context.outbound,
            endpoint_id=endpoint_id,
            url=None if body.url is None else str(body.url),
            events=None if body.events is None else list(body.events),
            description=body.description,
            enabled=body.enabled,
        )
        return _out(endpoint)


@router.delete(
    "/{endpoint_id}",
    status_code=204,
    summary="Delete an endpoint; its pending deliveries stop",
    responses=problem_responses({404: "Unknown endpoint"}),
)
def delete_endpoint(endpoint_id: uuid.UUID, session: DbSession) -> Response:
    with session.begin():
        service.delete_endpoint(session, endpoint_id=endpoint_id)
    return Response(status_code=204)


@router.post(
    "/{endpoint_id}/rotate-secret",
    response_model=SecretRotated,
    summary="A new signing secret; the old one keeps signing for the grace period",
    responses=problem_responses({404: "Unknown endpoint"}),
)
def rotate_secret(endpoint_id: uuid.UUID, session: DbSession, context: Context) -> SecretRotated:
    grace = dt.timedelta(seconds=context.settings.webhook_secret_grace)
    with session.begin():
        secret, expires = service.rotate_secret(session, endpoint_id=endpoint_id, grace=grace)
    return SecretRotated(secret=secret, previous_secret_expires_at=expires)


@router.get(
    "/{endpoint_id}/deliveries",
    response_model=DeliveryPage,
    summary="The delivery log, newest first, each delivery with its attempts",
    responses=problem_responses({400: "Invalid cursor", 404: "Unknown endpoint"}),
)
def list_deliveries(
    endpoint_id: uuid.UUID,
    session: DbSession,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: str | None = None,
) -> DeliveryPage:
    found = service.list_deliveries(
        session,
        endpoint_id=endpoint_id,
        limit=limit + 1,
        before=cursors.decode(cursor) if cursor else None,
    )
    page, more = found[:limit], len(found) > limit
    return DeliveryPage(
        items=[_delivery_out(d, attempts) for d, attempts in page],
        next_cursor=cursors.encode(page[-1][0].created_at, page[-1][0].id) if more else None,
    )


@router.post(
    "/{endpoint_id}/deliveries/{delivery_id}/redeliver",
    status_code=202,
    response_model=DeliveryOut,
    summary="Send a delivery again now (one more attempt, then the schedule as before)",
    responses=problem_responses({404: "Unknown endpoint or delivery"}),
)
def redeliver(
    endpoint_id: uuid.UUID, delivery_id: uuid.UUID, session: DbSession, context: Context
) -> DeliveryOut:
    with session.begin():
        delivery = service.redeliver(
            context, session, endpoint_id=endpoint_id, delivery_id=delivery_id
        )
        return _delivery_out(delivery, [])
