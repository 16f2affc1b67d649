"""Webhooks: endpoints, Standard Webhooks signing, durable deliveries retried by the jobs."""
