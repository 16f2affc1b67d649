"""In-process cache of serialised import views, for the hot ``GET /api/imports/{id}``.

Pages poll an import's status, so most reads find it unchanged. The cache keeps the JSON
bytes of each view with the *version* of the import they were built from, and a read serves
them only when one light query shows the database still holds that version. It is therefore
never stale, even with several API processes (each has its own cache) sharing one database:
a write made anywhere changes the version every process checks against.

The version is ``(updated_at, state)``. It is sound because every write to an import or to its
stored errors happens in a transaction that also calls ``service.transition``, which sets
``updated_at``; any new write path (revert, progress from workers) must keep doing so.
This is the first level of the architecture's two-level cache; a shared level (Redis) could
later hold the bytes, checked against the same version.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections import OrderedDict
from typing import NamedTuple

from starlette.applications import Starlette

# Views are a few kB (the first errors dominate); a thousand hot imports stay well under 10 MB.
MAX_ENTRIES = 1024


class ImportVersion(NamedTuple):
    updated_at: dt.datetime
    state: str


class ImportViewCache:
    """A bounded LRU of ``import id -> (version, JSON bytes)``, safe across threads."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        if max_entries < 1:
            raise ValueError("an import view cache needs room for at least one entry")
        self._max_entries = max_entries
        self._entries: OrderedDict[uuid.UUID, tuple[ImportVersion, bytes]] = OrderedDict()
        # Reads run in the thread pool, so several threads may touch the order at once.
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, import_id: uuid.UUID, version: ImportVersion) -> bytes | None:
        """The cached view if it was built from ``version``, else None (and it is dropped)."""
        with self._lock:
            entry = self._entries.get(import_id)
            if entry is None:
                return None
            if entry[0] != version:
                del self._entries[import_id]
                return None
            self._entries.move_to_end(import_id)
            return entry[1]

    def put(self, import_id: uuid.UUID, version: ImportVersion, body: bytes) -> None:
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
        cache = state.import_views = ImportViewCache()
    return cache
