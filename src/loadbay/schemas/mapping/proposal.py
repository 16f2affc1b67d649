"""What auto-mapping proposes: per schema field, a source column, a confidence and why."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

Reason = Literal["exact", "normalised", "alias", "fuzzy", "memory"]

# The confidence an import needs on every required field to proceed without a person.
CONFIDENT = 0.9


class Candidate(BaseModel):
    model_config = ConfigDict(frozen=True)

    column: str
    confidence: float
    reason: Reason


class FieldMatch(BaseModel):
    """One schema field and the column proposed for it (``column`` is None when none fits).

    ``candidates`` is filled only when the choice is ambiguous: two or more columns fit the
    field near-equally well, best first (the proposed column among them), so a person picks.
    """

    model_config = ConfigDict(frozen=True)

    field: str
    required: bool
    column: str | None = None
    confidence: float = 0.0
    reason: Reason | None = None
    candidates: tuple[Candidate, ...] = ()

    @property
    def ambiguous(self) -> bool:
        return bool(self.candidates)


class MappingProposal(BaseModel):
    """The proposal for one schema and one header row; serialisable to JSON and back."""

    model_config = ConfigDict(frozen=True)

    schema_name: str
    fields: tuple[FieldMatch, ...]  # in schema order
    unmapped_columns: tuple[str, ...]  # distinct names, in file order
    # Names found more than once in the header row: a name cannot say which one is meant, so
    # they are never proposed and a mapping may not use them.
    duplicate_columns: tuple[str, ...]
    missing_required: tuple[str, ...]
    from_memory: bool = False

    @property
    def mapping(self) -> dict[str, str]:
        """``{field: column}`` for every mapped field."""
        return {m.field: m.column for m in self.fields if m.column is not None}

    @property
    def ambiguous_fields(self) -> tuple[str, ...]:
        return tuple(m.field for m in self.fields if m.ambiguous)


def is_confident(proposal: MappingProposal, threshold: float = CONFIDENT) -> bool:
    """Whether an import may proceed on this proposal without asking a person.

    Every required field must be mapped with at least ``threshold`` and without ambiguity.
    A proposal that maps nothing at all is never confident, even for a schema without
    required fields: loading rows of nothing but nulls is not what anyone meant.
    """
    if not proposal.mapping:
        return False
    return all(
        m.column is not None and m.confidence >= threshold and not m.ambiguous
        for m in proposal.fields
        if m.required
    )
