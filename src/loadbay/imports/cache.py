"""In-process cache of serialised import views, for the hot ``GET /api/imports/{id}``.

Pages poll an import's status, so most reads find it unchanged. The cache keeps the JSON
bytes of each view with the *version* of the import they were built from, and a read serves
them only when one light query shows the database still holds that version. It is therefore
never stale, even with several API processes (each has its own cache) sharing one database:
a write made anywhere changes the version every process checks against.

The version is ``(updated_at, state)``. It is sound because every write to an import or to its
stored errors happens in a transaction that also calls ``service.transition`` or
``service.update``, which set ``updated_at``; any new write path must keep doing so.

Two levels: this process's LRU, then, when ``LOADBAY_REDIS_URL`` is set, Redis, shared by
every API process, so a view built by one process serves the others until the import
changes. Both levels are checked against the same version, so neither can serve a stale view,
and a write needs no explicit invalidation message. Redis is an optimisation only: when it
fails, reads go on from the database (logged once a minute at most).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import uuid
from collections import OrderedDict
from typing import NamedTuple

import redis
from starlette.applications import Starlette

logger = logging.getLogger("loadbay.imports")

# Views are a few kB (the first errors dominate); a thousand hot imports stay well under 10 MB.
MAX_ENTRIES = 1024


class ImportVersion(NamedTuple):
    updated_at: dt.datetime
    state: str

    def token(self) -> bytes:
        return f"{self.updated_at.isoformat()}|{self.state}".encode()


# Shared views expire on their own: an import nobody reads should not hold Redis memory.
SHARED_TTL_SECONDS = 3600
# A Redis that does not answer this fast is slower than building the view.
SHARED_TIMEOUT_SECONDS = 0.25


class SharedViews:
    """The Redis level: ``loadbay:import-view:<id>`` holds a version token, newline, JSON."""

    def __init__(self, url: str) -> None:
        self._redis = redis.Redis.from_url(
            url,
            socket_timeout=SHARED_TIMEOUT_SECONDS,
            socket_connect_timeout=SHARED_TIMEOUT_SECONDS,
        )
        self._quiet_until = 0.0

    @staticmethod
    def key(import_id: uuid.UUID) -> str:
        return f"loadbay:import-view:{import_id}"

    def get(self, import_id: uuid.UUID, version: ImportVersion) -> bytes | None:
        try:
            stored = self._redis.get(self.key(import_id))
        except redis.RedisError as exc:
            self._complain(exc)
            return None
        if not isinstance(stored, bytes):
            return None
        token, _, body = stored.partition(b"\n")
        return body if token == version.token() else None

    def put(self, import_id: uuid.UUID, version: ImportVersion, body: bytes) -> None:
        try:
            self._redis.set(
                self.key(import_id), version.token() + b"\n" + body, ex=SHARED_TTL_SECONDS
            )
        except redis.RedisError as exc:
            self._complain(exc)

    def close(self) -> None:
        self._redis.close()

    def _complain(self, exc: redis.RedisError) -> None:
        now = time.monotonic()
        if now >= self._quiet_until:
            logger.warning("import view cache: Redis unavailable (%s); reading the store", exc)
            self._quiet_until = now + 60


class ImportViewCache:
    """A bounded LRU of ``import id -> (version, JSON bytes)``, safe across threads."""

    def __init__(self, max_entries: int = MAX_ENTRIES, shared: SharedViews | None = None) -> None:
        if max_entries < 1:
            raise ValueError("an import view cache needs room for at least one entry")
        self._max_entries = max_entries
        self.shared = shared
        self._entries: OrderedDict[uuid.UUID, tuple[ImportVersion, bytes]] = OrderedDict()
        # Reads run in the thread pool, so several threads may touch the order at once.
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, import_id: uuid.UUID, version: ImportVersion) -> bytes | None:
        """The cached view if it was built from ``version`` (this process's, else the shared
        one), else None."""
        local = self.get_local(import_id, version)
        if local is not None or self.shared is None:
            return local
        shared = self.shared.get(import_id, version)
        if shared is not None:
            self._put_local(import_id, version, shared)
        return shared

    def put(self, import_id: uuid.UUID, version: ImportVersion, body: bytes) -> None:
        self._put_local(import_id, version, body)
        if self.shared is not None:
            self.shared.put(import_id, version, body)

    def get_local(self, import_id: uuid.UUID, version: ImportVersion) -> bytes | None:
        """This process's level only: no I/O, so it may be asked from the event loop."""
        with self._lock:
            entry = self._entries.get(import_id)
            if entry is None:
                return None
            if entry[0] != version:
                del self._entries[import_id]
                return None
            self._entries.move_to_end(import_id)
            return entry[1]

    def _put_local(self, import_id: uuid.UUID, version: ImportVersion, body: bytes) -> None:
        with self._lock:
            self._entries[import_id] = (version, body)
            self._entries.move_to_end(import_id)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)


def views_of(app: Starlette) -> ImportViewCache:
    """The application's cache, created on first use so the app factory need not know of it."""
    state = app.state
    cache: ImportViewCache | None = getattr(state, "import_views", None)
    if cache is None:
        # Called from the event loop only (no await in between), so two requests cannot
        # both create one.
        url = state.settings.redis_url
        cache = state.import_views = ImportViewCache(shared=SharedViews(url) if url else None)
    return cache
