"""Pydantic I/O models of the webhooks API."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field

EventType = Literal[
    "upload.completed",
    "import.awaiting_mapping",
    "import.validated",
    "import.completed",
    "import.failed",
]


class EndpointIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: AnyHttpUrl = Field(description="Where events are POSTed (http or https).")
    events: list[EventType] = Field(min_length=1, description="Event types to receive.")
    description: str | None = Field(default=None, max_length=500)


class EndpointPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: AnyHttpUrl | None = None
    events: list[EventType] | None = Field(default=None, min_length=1)
    description: str | None = Field(default=None, max_length=500)
    enabled: bool | None = Field(default=None, description="Re-enable after a 410, or pause.")


class EndpointOut(BaseModel):
    id: uuid.UUID
    url: str
    events: list[str]
    description: str | None
    enabled: bool
    disabled_reason: str | None
    previous_secret_expires_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime
    links: dict[str, str]


class EndpointCreated(EndpointOut):
    secret: str = Field(description="The signing secret (whsec_…), shown this once only.")


class SecretRotated(BaseModel):
    secret: str = Field(description="The new signing secret, shown this once only.")
    previous_secret_expires_at: dt.datetime = Field(
        description="Until then deliveries carry a second signature made with the old secret."
    )


class EndpointList(BaseModel):
    items: list[EndpointOut]


class AttemptOut(BaseModel):
    number: int
    started_at: dt.datetime
    duration_ms: float
    status: int | None
    error: str | None
    response_excerpt: str | None


class DeliveryOut(BaseModel):
    id: uuid.UUID
    message_id: str
    event_type: str
    state: str
    attempts: int
    next_attempt_at: dt.datetime | None
    last_status: int | None
    last_error: str | None
    created_at: dt.datetime
    finished_at: dt.datetime | None
    attempt_log: list[AttemptOut]
    links: dict[str, str]


class DeliveryPage(BaseModel):
    items: list[DeliveryOut]
    next_cursor: str | None
