from __future__ import annotations

from loadbay.errors import InvalidInput, NotFound


class WebhookNotFound(NotFound):
    slug = "webhook-not-found"
    title = "Webhook not found"


class DeliveryNotFound(NotFound):
    slug = "webhook-delivery-not-found"
    title = "Webhook delivery not found"


class InvalidWebhook(InvalidInput):
    slug = "invalid-webhook"
    title = "Invalid webhook"
