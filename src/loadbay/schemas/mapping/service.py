"""Auto-mapping services: propose a mapping for a header row, remember a confirmed one.

Keyword-only functions taking a session; the caller owns the transaction.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from loadbay.schemas.mapping import memory
from loadbay.schemas.mapping.errors import InvalidMapping
from loadbay.schemas.mapping.matching import propose
from loadbay.schemas.mapping.proposal import MappingProposal
from loadbay.schemas.mapping.validate import validate_mapping
from loadbay.schemas.model import TableSchema


def propose_mapping(
    session: Session, *, schema: TableSchema, headers: list[str]
) -> MappingProposal:
    """Match ``headers`` to the fields of ``schema``; a mapping a person confirmed for a
    similar header row is proposed first. Reads only: running it twice proposes the same."""
    remembered = memory.recall(session, schema_name=schema.name, headers=headers)
    return propose(schema, headers, remembered)


def remember_mapping(
    session: Session, *, schema: TableSchema, headers: list[str], mapping: dict[str, str]
) -> None:
    """Record ``mapping`` as confirmed by a person for this schema and header row.

    Raises InvalidMapping (listing every problem) when it does not fit them.
    """
    errors = validate_mapping(schema, headers, mapping)
    if errors:
        raise InvalidMapping(
            f"the mapping does not fit schema {schema.name!r} and this file "
            f"({len(errors)} problem{'s' if len(errors) != 1 else ''})",
            errors=errors,
        )
    memory.remember(session, schema_name=schema.name, headers=headers, mapping=mapping)
