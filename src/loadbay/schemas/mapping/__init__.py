"""Column mapping: propose which source column feeds each schema field, check a given mapping,
and remember confirmed ones. See ``matching`` for how columns are scored and assigned."""

from loadbay.schemas.mapping.errors import InvalidMapping
from loadbay.schemas.mapping.matching import propose
from loadbay.schemas.mapping.proposal import (
    Candidate,
    FieldMatch,
    MappingProposal,
    Reason,
    is_confident,
)
from loadbay.schemas.mapping.service import propose_mapping, remember_mapping
from loadbay.schemas.mapping.validate import validate_mapping

__all__ = [
    "Candidate",
    "FieldMatch",
    "InvalidMapping",
    "MappingProposal",
    "Reason",
    "is_confident",
    "propose",
    "propose_mapping",
    "remember_mapping",
    "validate_mapping",
]
