"""``/healthz``, ``/readyz``, ``/metrics`` and ``GET /api/stats``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from loadbay.api_errors import problem_response, problem_responses
from loadbay.context import AppContext, get_context
from loadbay.jobs.service import queue_stats
from loadbay.observability.health import (
    CheckOut,
    ReadinessOut,
    check_broker,
    check_redis,
    check_storage,
    check_store,
)
from loadbay.observability.metrics import exposition, queue_exposition
from loadbay.observability.stats import RequestStats, StatsOut, imported_rows

router = APIRouter(tags=["operations"])
Context = Annotated[AppContext, Depends(get_context)]


@router.get("/healthz", summary="Liveness: the process answers")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    response_model=ReadinessOut,
    summary="Readiness: store reachable, storage writable, Redis reachable when configured",
    responses=problem_responses({503: "Not ready: the problem's checks say why."}),
)
async def readyz(request: Request, context: Context) -> ReadinessOut | JSONResponse:
    reasons = {
        "store": await run_in_threadpool(check_store, context.engine),
        "storage": await run_in_threadpool(check_storage, context.settings.data_dir),
    }
    if context.settings.redis_url:
        reasons["redis"] = await check_redis(context.settings.redis_url)
    if context.settings.executor == "celery":
        reasons["broker"] = await check_broker(context.settings.redis_url)
    out = ReadinessOut(
        ready=all(reason is None for reason in reasons.values()),
        checks={
            name: CheckOut(ok=reason is None, reason=reason) for name, reason in reasons.items()
        },
    )
    if out.ready:
        return out
    failed = ", ".join(f"{name}: {reason}" for name, reason in reasons.items() if reason)
    return problem_response(
        request,
        status=503,
        slug="not-ready",
        title="Not ready",
        detail=failed,
        extra={"checks": out.model_dump()["checks"]},
    )


@router.get(
    "/metrics",
    summary="Prometheus metrics (text exposition format)",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
def metrics(context: Context) -> Response:
    body, content_type = exposition()
    queue = queue_stats(context.sessions)
    body += queue_exposition(
        queued=queue.queued,
        running=queue.running,
        oldest_queued_seconds=queue.oldest_queued_seconds,
    )
    return Response(body, media_type=content_type)


@router.get(
    "/api/stats",
    summary="Latency percentiles, error shares, QPS and rows imported (1/5/15 min), "
    "and a 15-minute series for charts",
)
def stats(request: Request, context: Context) -> StatsOut:
    ring: RequestStats = request.app.state.request_stats
    return ring.snapshot(imported_rows(context.sessions))
