"""Readiness checks: each returns ``None`` when fine or the reason it is not."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import redis.asyncio as redis_asyncio
import sqlalchemy as sa
from pydantic import BaseModel, Field
from sqlalchemy.engine import Engine

CHECK_TIMEOUT = 2.0  # seconds; a probe must answer before the orchestrator gives up


class CheckOut(BaseModel):
    ok: bool
    reason: str | None = Field(default=None, description="Why the check failed.")


class ReadinessOut(BaseModel):
    ready: bool
    checks: dict[str, CheckOut] = Field(
        description="Keyed by check: store, storage, redis, broker."
    )


def check_store(engine: Engine) -> str | None:
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError as exc:
        return (
            f"metadata store unreachable: {type(exc).__name__}: {exc.args[0] if exc.args else ''}"
        )
    return None


def check_storage(data_dir: Path) -> str | None:
    """Create, sync and delete a file: proves space, permissions and a mounted volume."""
    try:
        with tempfile.NamedTemporaryFile(dir=data_dir, prefix=".readyz-") as probe:
            probe.write(b"ok")
            probe.flush()
            os.fsync(probe.fileno())
    except OSError as exc:
        return f"data directory {data_dir} is not writable: {exc.strerror or exc}"
    return None


async def check_redis(url: str) -> str | None:
    client = redis_asyncio.Redis.from_url(
        url, socket_timeout=CHECK_TIMEOUT, socket_connect_timeout=CHECK_TIMEOUT
    )
    try:
        await client.ping()
    except (redis_asyncio.RedisError, OSError) as exc:
        return f"redis unreachable: {type(exc).__name__}: {exc}"
    finally:
        await client.aclose()
    return None


async def check_broker(url: str | None) -> str | None:
    """The Celery broker answers (``LOADBAY_EXECUTOR=celery``): without it, jobs queued by this
    server reach no worker until it is back."""
    if url is None:
        return "LOADBAY_EXECUTOR=celery needs LOADBAY_REDIS_URL (the Celery broker)"
    reason = await check_redis(url)
    return None if reason is None else f"celery broker {reason}"
