"""Rate limits per API key (or client address without one), with a policy per route group.

Counters use the ``limits`` library's sliding-window counter: in process memory by default,
in Redis when ``LOADBAY_REDIS_URL`` is set so that every server process shares them.
Responses carry the IETF ``RateLimit-Policy`` and ``RateLimit`` fields
(draft-ietf-httpapi-ratelimit-headers); a refusal is ``429 quota-exceeded`` with
``Retry-After``.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.errors import StorageError
from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from loadbay.api_errors import problem_response
from loadbay.observability.metrics import count_rate_limit_unavailable, count_rate_limited
from loadbay.security.clients import client_address
from loadbay.settings import Settings

logger = logging.getLogger("loadbay.security")

NAMESPACE = "loadbay"
# A policy named "<group>-bytes" (e.g. "uploads-bytes": "10737418240/hour") counts the
# declared body size of that group's requests instead of the requests themselves.
BYTES_SUFFIX = "-bytes"
# Longest prefix first; paths outside these (probes, docs, the page) are not limited.
GROUPS: tuple[tuple[str, str], ...] = (
    ("/api/uploads", "uploads"),
    ("/api/imports", "imports"),
    ("/api/schemas", "schemas"),
    ("/api/keys", "keys"),
    ("/api/webhooks", "webhooks"),
    ("/api/stats", "operations"),
    ("/metrics", "operations"),
    ("/api/", "api"),
)


def route_group(path: str) -> str | None:
    for prefix, group in GROUPS:
        if path == prefix or path.startswith(prefix if prefix.endswith("/") else prefix + "/"):
            return group
    return None


@dataclass(frozen=True, slots=True)
class Quota:
    """One limit of a policy and what is left of it for one caller."""

    name: str
    item: RateLimitItem
    remaining: int
    reset_seconds: int

    def policy_field(self) -> str:
        return f'"{self.name}";q={self.item.amount};w={self.item.get_expiry()}'

    def state_field(self) -> str:
        return f'"{self.name}";r={self.remaining};t={self.reset_seconds}'


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    quotas: tuple[Quota, ...]
    refused_by: str | None = None  # the quota that refused the request

    def headers(self) -> list[tuple[bytes, bytes]]:
        # RateLimit shows the quota closest to running out (the refused one on a refusal),
        # as a share of its size: request and byte quotas are not in the same units.
        tightest = self._refusing or min(
            self.quotas, key=lambda q: (q.remaining / q.item.amount, q.remaining, -q.reset_seconds)
        )
        policy = ", ".join(q.policy_field() for q in self.quotas)
        return [
            (b"ratelimit-policy", policy.encode()),
            (b"ratelimit", tightest.state_field().encode()),
        ]

    @property
    def _refusing(self) -> Quota | None:
        return next((q for q in self.quotas if q.name == self.refused_by), None)

    @property
    def retry_after(self) -> int:
        # A cost larger than what is left can fail with some quota remaining: wait for
        # the refusing window to reset.
        return max(1, self._refusing.reset_seconds if self._refusing else 1)


def storage_for(redis_url: str | None) -> Storage:
    if redis_url is None:
        return MemoryStorage()
    # limits' asyncio Redis storage, through redis-py (already a dependency).
    return RedisStorage(f"async+{redis_url}", implementation="redispy")


class RateLimiter:
    def __init__(self, storage: Storage, default: str, per_group: dict[str, str]) -> None:
        self._strategy = SlidingWindowCounterRateLimiter(storage)
        self._default = self._named("default", parse_many(default))
        self._policies = {
            group: self._named(group, parse_many(policy)) for group, policy in per_group.items()
        }

    @classmethod
    def from_settings(cls, settings: Settings) -> RateLimiter:
        return cls(
            storage_for(settings.redis_url), settings.rate_limit_default, settings.rate_limits
        )

    @staticmethod
    def _named(name: str, items: Sequence[RateLimitItem]) -> tuple[tuple[str, RateLimitItem], ...]:
        ordered = sorted(items, key=lambda item: item.get_expiry())
        if len(ordered) == 1:
            return ((name, ordered[0]),)
        return tuple((f"{name}-{item.get_expiry()}s", item) for item in ordered)

    def counts_bytes(self, group: str) -> bool:
        """Whether ``group`` has a policy counted in body bytes (``<group>-bytes``)."""
        return group + BYTES_SUFFIX in self._policies

    async def hit(self, group: str, caller: str, *, cost: int = 1) -> Decision:
        """Count one request (or ``cost`` units) of ``caller`` against the group's policy."""
        policy = self._policies.get(group, self._default)
        identifiers = (NAMESPACE, group, caller)
        quotas = []
        allowed = True
        refused_by = None
        for name, item in policy:
            # Stop counting at the first refusal: a refused request spends no other quota.
            if allowed and not await self._strategy.hit(item, *identifiers, cost=cost):
                allowed, refused_by = False, name
            stats = await self._strategy.get_window_stats(item, *identifiers)
            reset = max(0, math.ceil(stats.reset_time - time.time()))
            quotas.append(Quota(name, item, stats.remaining, reset))
        return Decision(allowed, tuple(quotas), refused_by)


class RateLimitMiddleware:
    """Applies the limiter to every request of a limited route group.

    Runs after authentication, which leaves the caller's key id in the request state.
    """

    def __init__(self, app: ASGIApp, limiter: RateLimiter, trust_proxy: bool) -> None:
        self.app = app
        self.limiter = limiter
        self.trust_proxy = trust_proxy
        self._quiet_until = 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        group = route_group(scope.get("path", "")) if scope["type"] == "http" else None
        if group is None or scope["method"] == "OPTIONS":
            await self.app(scope, receive, send)
            return
        caller = self._caller(scope)
        try:
            decision = await self.limiter.hit(group, caller)
            size = _declared_size(scope)
            if decision.allowed and size and self.limiter.counts_bytes(group):
                group += BYTES_SUFFIX
                by_size = await self.limiter.hit(group, caller, cost=size)
                decision = Decision(
                    by_size.allowed, decision.quotas + by_size.quotas, by_size.refused_by
                )
        except (RedisError, StorageError, OSError) as exc:
            # The counters' store (Redis) is down: serve unlimited rather than fail every
            # request; said in the log (once a minute) and counted for alerting.
            self._complain(exc)
            await self.app(scope, receive, send)
            return
        headers = decision.headers()
        if not decision.allowed:
            count_rate_limited(group)
            response = problem_response(
                Request(scope),
                status=429,
                slug="quota-exceeded",
                title="Too many requests",
                detail=f"The {group} rate limit is used up; retry in {decision.retry_after} s.",
                headers={
                    "Retry-After": str(decision.retry_after),
                    **{k.decode(): v.decode() for k, v in headers},
                },
            )
            await response(scope, receive, send)
            return

        async def send_with_fields(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *headers]
            await send(message)

        await self.app(scope, receive, send_with_fields)

    def _complain(self, exc: Exception) -> None:
        count_rate_limit_unavailable()
        now = time.monotonic()
        if now >= self._quiet_until:
            logger.warning("rate limits not applied: their store is unavailable (%s)", exc)
            self._quiet_until = now + 60

    def _caller(self, scope: Scope) -> str:
        key_id = scope.get("state", {}).get("api_key_id")
        if key_id is not None:
            return f"key:{key_id}"
        return f"ip:{client_address(scope, trust_proxy=self.trust_proxy)}"


def _declared_size(scope: Scope) -> int:
    """The body size a request declares (``Content-Length``); 0 when it declares none.

    A body sent without a length is bounded by the route's own size limits instead.
    """
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else 0
    return 0
