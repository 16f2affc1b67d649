from __future__ import annotations

from loadbay.errors import Conflict, NotFound, TooLarge


class ImportNotFound(NotFound):
    slug = "import-not-found"
    title = "Import not found"


class StateConflict(Conflict):
    """The import was not in the state a transition expected (another actor moved it)."""

    slug = "import-state-conflict"
    title = "Import state conflict"


class TooManyRecords(TooLarge):
    slug = "too-many-records"
    title = "Too many records"
