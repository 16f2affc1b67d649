"""The webhook job kind as the executors see it."""

from __future__ import annotations

import uuid

from loadbay.context import AppContext
from loadbay.jobs.runner import JobControl, JobKind
from loadbay.webhooks.delivery import Send, deliver, give_up
from loadbay.webhooks.events import DELIVER


def webhook_job_kinds(context: AppContext, send: Send) -> dict[str, JobKind]:
    def run(delivery_id: uuid.UUID, control: JobControl) -> None:
        deliver(context, delivery_id, control, send)

    def abandon(delivery_id: uuid.UUID, reason: str) -> None:
        give_up(context, delivery_id, reason)

    return {DELIVER: JobKind(run=run, abandon=abandon)}
