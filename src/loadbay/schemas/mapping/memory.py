"""Mapping memory: recall the mapping a person confirmed for a similar header row.

Header rows are compared as sets of normalised names, so reordered, re-cased or re-punctuated
headers still count as the same; two rows are similar when the Jaccard index of their sets
(shared names / all names) is at least ``SIMILAR``: with 10 columns, one renamed column still
matches (9/11 = 0.82), two do not (8/12 = 0.67).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from loadbay.db import utcnow
from loadbay.schemas.mapping.models import MappingMemory
from loadbay.schemas.mapping.normalise import identity, is_blank

SIMILAR = 0.8
# Memories kept per schema, the most recently confirmed; recalling reads them all.
MAX_PER_SCHEMA = 50


def header_set(headers: Iterable[str]) -> frozenset[str]:
    """The names of a header row as memory compares them."""
    return frozenset(identity(h) for h in headers if not is_blank(h))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    union = len(a | b)
    return len(a & b) / union if union else 0.0


def recall(session: Session, *, schema_name: str, headers: list[str]) -> dict[str, str]:
    """The confirmed mapping of the most similar remembered header row (the most recent among
    equally similar ones); empty when none is similar enough."""
    current = header_set(headers)
    if not current:
        return {}
    best: MappingMemory | None = None
    best_similarity = 0.0
    for memory in _newest_first(session, schema_name):
        similarity = jaccard(current, frozenset(json.loads(memory.normalised_headers)))
        if similarity >= SIMILAR and similarity > best_similarity:
            best, best_similarity = memory, similarity
    if best is None:
        return {}
    mapping: dict[str, str] = json.loads(best.mapping)
    return mapping


def remember(
    session: Session, *, schema_name: str, headers: list[str], mapping: dict[str, str]
) -> None:
    """Store ``mapping`` as confirmed for this schema and header set, replacing an earlier one
    for the same set, and forget the oldest memories beyond ``MAX_PER_SCHEMA``."""
    names = sorted(header_set(headers))
    # ensure_ascii: headers may hold NUL or lone surrogates, which PostgreSQL text refuses.
    normalised = json.dumps(names)
    fingerprint = hashlib.sha256(normalised.encode("ascii")).hexdigest()
    values = {"normalised_headers": normalised, "mapping": json.dumps(mapping)}
    if not _confirm_again(session, schema_name, fingerprint, values):
        try:
            with session.begin_nested():
                session.add(
                    MappingMemory(
                        schema_name=schema_name,
                        header_fingerprint=fingerprint,
                        confirmed_at=utcnow(),
                        uses=1,
                        **values,
                    )
                )
        except IntegrityError:
            # Someone confirmed the same header set at the same moment: theirs is now stored.
            _confirm_again(session, schema_name, fingerprint, values)
    _forget_oldest(session, schema_name)


def _confirm_again(
    session: Session, schema_name: str, fingerprint: str, values: dict[str, str]
) -> bool:
    """Update the memory of this header set, if there is one."""
    existing = session.scalar(
        sa.select(MappingMemory).where(
            MappingMemory.schema_name == schema_name,
            MappingMemory.header_fingerprint == fingerprint,
        )
    )
    if existing is None:
        return False
    existing.normalised_headers = values["normalised_headers"]
    existing.mapping = values["mapping"]
    existing.confirmed_at = utcnow()
    existing.uses += 1
    session.flush()
    return True


def _newest_first(session: Session, schema_name: str) -> Iterable[MappingMemory]:
    return session.scalars(
        sa.select(MappingMemory)
        .where(MappingMemory.schema_name == schema_name)
        .order_by(MappingMemory.confirmed_at.desc(), MappingMemory.id.desc())
        .limit(MAX_PER_SCHEMA)
    )


def _forget_oldest(session: Session, schema_name: str) -> None:
    stale = session.scalars(
        sa.select(MappingMemory.id)
        .where(MappingMemory.schema_name == schema_name)
        .order_by(MappingMemory.confirmed_at.desc(), MappingMemory.id.desc())
        .offset(MAX_PER_SCHEMA)
    ).all()
    if stale:
        session.execute(sa.delete(MappingMemory).where(MappingMemory.id.in_(stale)))
