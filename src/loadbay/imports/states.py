"""Import lifecycle states (ARCHITECTURE.md, "Import states")."""

from __future__ import annotations

from enum import StrEnum


class ImportState(StrEnum):
    CREATED = "created"
    ANALYSING = "analysing"
    AWAITING_MAPPING = "awaiting_mapping"
    VALIDATING = "validating"
    VALIDATED = "validated"
    COMMITTING = "committing"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    REVERTED = "reverted"


FINAL_STATES = frozenset(
    {ImportState.COMPLETED, ImportState.FAILED, ImportState.CANCELLED, ImportState.REVERTED}
)
