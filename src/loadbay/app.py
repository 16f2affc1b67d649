"""``create_app(settings)``: the FastAPI application with its routers and middleware."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from loadbay import __version__
from loadbay.api_errors import install_error_handlers, install_problem_openapi
from loadbay.context import AppContext
from loadbay.db import transaction
from loadbay.gc_tuning import freeze_startup_objects
from loadbay.imports.router import router as imports_router
from loadbay.job_kinds import all_job_kinds
from loadbay.jobs.executor import build_executor
from loadbay.observability.logs import configure_logging
from loadbay.observability.middleware import ObservabilityMiddleware
from loadbay.observability.router import router as observability_router
from loadbay.observability.stats import RequestStats, SharedSeconds, flush_every_second
from loadbay.request_id import RequestIdMiddleware
from loadbay.schemas.router import router as schemas_router
from loadbay.schemas.service import load_directory
from loadbay.security.auth import AuthMiddleware, announce_auth_mode
from loadbay.security.body_limits import BodyLimitMiddleware
from loadbay.security.deadline import ReceiveDeadlineMiddleware
from loadbay.security.openapi import install_security_openapi
from loadbay.security.ratelimit import RateLimiter, RateLimitMiddleware
from loadbay.security.router import router as keys_router
from loadbay.security.session_router import router as session_router
from loadbay.security.sessions import SessionSigner
from loadbay.settings import Settings
from loadbay.uploads.cors import install_cors
from loadbay.uploads.router import router as uploads_router
from loadbay.uploads.service import sweep_periodically
from loadbay.uploads.store import UploadStore
from loadbay.uploads.tus import TusMiddleware
from loadbay.web.serve import install_page
from loadbay.webhooks.router import router as webhooks_router

logger = logging.getLogger("loadbay")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    configure_logging(level=settings.log_level, fmt=settings.log_format)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        context = AppContext.build(settings)
        context.start()
        announce_auth_mode(context)
        if settings.schemas_dir is not None:
            with transaction(context.sessions) as session:
                names = load_directory(session, settings.schemas_dir)
            logger.info("registered %d schema(s) from %s", len(names), settings.schemas_dir)
        app.state.context = context
        app.state.upload_store = store = UploadStore.at(settings.data_dir)
        context.executor = executor = build_executor(
            settings, context.sessions, all_job_kinds(context)
        )
        executor.start()
        sweeper = asyncio.create_task(sweep_periodically(context, store), name="upload-sweep")
        flusher = (
            asyncio.create_task(flush_every_second(stats), name="stats-flush")
            if stats.shared is not None
            else None
        )
        # Last: everything start-up made is built; keep full collections from walking it.
        freeze_startup_objects()
        try:
            yield
        finally:
            await asyncio.to_thread(executor.stop)
            for task in (sweeper, flusher):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            stats.flush()  # the last seconds of this worker still count for the others
            context.close()

    app = FastAPI(
        title="loadbay",
        version=__version__,
        summary="Self-hosted data import service",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.request_stats = stats = RequestStats(shared=SharedSeconds.from_environment())
    app.state.session_signer = SessionSigner.from_settings(settings)
    # Middleware, innermost first (each add_middleware wraps the ones added before it).
    # Body limits innermost: a request refused by auth or a rate limit is refused first.
    app.add_middleware(BodyLimitMiddleware, settings=settings)
    app.add_middleware(
        RateLimitMiddleware,
        limiter=RateLimiter.from_settings(settings),
        trust_proxy=settings.trust_proxy,
    )
    app.add_middleware(AuthMiddleware, settings=settings, sessions=app.state.session_signer)
    app.add_middleware(ReceiveDeadlineMiddleware, idle_seconds=settings.receive_timeout)
    install_cors(app, settings.cors_origins)
    app.add_middleware(TusMiddleware)
    app.add_middleware(ObservabilityMiddleware, stats=stats)
    app.add_middleware(RequestIdMiddleware)
    install_error_handlers(app)
    install_problem_openapi(app)
    install_security_openapi(app, settings)
    app.include_router(schemas_router)
    app.include_router(imports_router)
    app.include_router(uploads_router)
    app.include_router(observability_router)
    app.include_router(keys_router)
    app.include_router(session_router)
    app.include_router(webhooks_router)
    install_page(app)
    return app
