"""Sending one delivery attempt through the outbound client (SSRF guard, timeouts).

One attempt only: the delivery schedule is the retry policy, so the request carries no
Idempotency-Key (the outbound client retries POSTs only with one; a refused connection,
where nothing was sent, it still tries again at once). Redirects are not followed: a
receiver that moved must be updated, not chased.
"""

from __future__ import annotations

from loadbay.outbound import OutboundClient, OutboundError, OutboundRefused
from loadbay.webhooks.delivery import EXCERPT_CHARS, Answer, Send


def http_sender(client: OutboundClient) -> Send:
    def send(url: str, headers: dict[str, str], body: bytes) -> Answer:
        try:
            with client.stream(
                "POST", url, headers=headers, content=body, follow_redirects=False
            ) as response:
                excerpt = b""
                for chunk in response.iter_bytes():
                    excerpt += chunk
                    if len(excerpt) >= EXCERPT_CHARS:
                        break  # the rest of a large answer is not worth reading
                return Answer(
                    status=response.status_code,
                    excerpt=excerpt[:EXCERPT_CHARS].decode("utf-8", "replace"),
                )
        except OutboundRefused as exc:
            return Answer(status=None, error=exc.detail)
        except OutboundError as exc:
            return Answer(status=exc.status, error=exc.reason)

    return send
