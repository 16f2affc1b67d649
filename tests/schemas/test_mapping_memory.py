"""Mapping memory on SQLite and PostgreSQL: a confirmed mapping is proposed first next time."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import pytest
import sqlalchemy as sa

from loadbay.context import AppContext
from loadbay.db import transaction
from loadbay.schemas.mapping import (
    InvalidMapping,
    MappingProposal,
    is_confident,
    propose_mapping,
    remember_mapping,
)
from loadbay.schemas.mapping import memory as memory_module
from loadbay.schemas.mapping.memory import jaccard
from loadbay.schemas.mapping.models import MappingMemory
from loadbay.schemas.model import TableSchema

T = TypeVar("T")

SCHEMA = TableSchema.model_validate(
    {
        "name": "customers",
        "primaryKey": "id",
        "fields": [
            {"name": "id", "type": "integer"},
            {"name": "email", "constraints": {"required": True}},
            {"name": "name"},
            {"name": "city"},
        ],
    }
)
# A file whose headers auto-matching cannot place: a person maps them once.
HEADERS = ["Kundennummer", "Kontakt", "Vollständiger Name", "Ort", "Notiz", "Datum"]
CONFIRMED = {"id": "Kundennummer", "email": "Kontakt", "name": "Vollständiger Name"}


@pytest.fixture
def run(context: AppContext) -> Callable[..., Any]:
    def call(function: Callable[..., T], **kwargs: Any) -> T:
        with transaction(context.sessions) as session:
            return function(session, **kwargs)

    return call


def propose(run: Callable[..., Any], headers: list[str]) -> MappingProposal:
    proposal: MappingProposal = run(propose_mapping, schema=SCHEMA, headers=headers)
    return proposal


def test_a_confirmed_mapping_is_proposed_first_next_time(run: Callable[..., Any]) -> None:
    before = propose(run, HEADERS)
    assert before.mapping == {}
    assert not before.from_memory

    run(remember_mapping, schema=SCHEMA, headers=HEADERS, mapping=CONFIRMED)
    after = propose(run, HEADERS)

    assert after.mapping == CONFIRMED
    assert all(
        (m.confidence, m.reason) == (1.0, "memory") for m in after.fields if m.column is not None
    )
    assert after.from_memory
    assert is_confident(after)
    assert after.unmapped_columns == ("Ort", "Notiz", "Datum")


def test_a_similar_header_set_recalls_it_and_auto_matches_the_rest(
    run: Callable[..., Any],
) -> None:
    run(remember_mapping, schema=SCHEMA, headers=HEADERS, mapping=CONFIRMED)
    # Reordered, re-cased and re-punctuated (same normalised set) plus one new column:
    # Jaccard 6/7 = 0.86. The new column matches the remaining field by name.
    similar = ["datum", "KONTAKT", "Vollstandiger-Name", "Kundennummer", "Ort", "Notiz", "City"]

    proposal = propose(run, similar)

    assert proposal.mapping == {
        "id": "Kundennummer",
        "email": "KONTAKT",
        "name": "Vollstandiger-Name",
        "city": "City",
    }
    assert [m.reason for m in proposal.fields] == ["memory", "memory", "memory", "normalised"]


def test_a_dissimilar_header_set_does_not_recall_it(run: Callable[..., Any]) -> None:
    run(remember_mapping, schema=SCHEMA, headers=HEADERS, mapping=CONFIRMED)
    # Two of six replaced: Jaccard 4/8 = 0.5.
    dissimilar = ["Kundennummer", "Kontakt", "Vollständiger Name", "Ort", "A", "B", "C", "D"]

    proposal = propose(run, dissimilar)

    assert proposal.mapping == {}
    assert not proposal.from_memory


def test_memory_is_per_schema(run: Callable[..., Any]) -> None:
    run(remember_mapping, schema=SCHEMA, headers=HEADERS, mapping=CONFIRMED)
    other = SCHEMA.model_copy(update={"name": "contacts"})

    assert run(propose_mapping, schema=other, headers=HEADERS).mapping == {}


def test_a_remembered_column_that_is_gone_is_not_proposed(run: Callable[..., Any]) -> None:
    run(remember_mapping, schema=SCHEMA, headers=[*HEADERS, "x", "y"], mapping=CONFIRMED)
    # "Kontakt" is missing (7/8 similar); the other pairs still apply.
    headers = [h for h in HEADERS if h != "Kontakt"] + ["x", "y"]

    proposal = propose(run, headers)

    assert proposal.mapping == {"id": "Kundennummer", "name": "Vollständiger Name"}
    assert proposal.missing_required == ("email",)


def test_confirming_again_replaces_the_mapping_and_counts_uses(
    run: Callable[..., Any], context: AppContext
) -> None:
    run(remember_mapping, schema=SCHEMA, headers=HEADERS, mapping=CONFIRMED)
    changed = CONFIRMED | {"city": "Ort"}

    run(remember_mapping, schema=SCHEMA, headers=list(reversed(HEADERS)), mapping=changed)

    with context.sessions() as session:
        [row] = session.scalars(sa.select(MappingMemory)).all()
    assert (row.schema_name, row.uses, json.loads(row.mapping)) == ("customers", 2, changed)
    assert propose(run, HEADERS).mapping == changed


def test_the_most_similar_memory_wins(run: Callable[..., Any]) -> None:
    run(remember_mapping, schema=SCHEMA, headers=HEADERS, mapping=CONFIRMED)
    run(
        remember_mapping,
        schema=SCHEMA,
        headers=[*HEADERS, "Extra"],
        mapping=CONFIRMED | {"city": "Ort"},
    )

    assert propose(run, HEADERS).mapping == CONFIRMED
    assert propose(run, [*HEADERS, "Extra"]).mapping == CONFIRMED | {"city": "Ort"}


def test_old_memories_are_forgotten(
    run: Callable[..., Any], context: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(memory_module, "MAX_PER_SCHEMA", 2)
    for i in range(3):
        run(remember_mapping, schema=SCHEMA, headers=[f"h{i}", *HEADERS], mapping=CONFIRMED)

    with context.sessions() as session:
        kept = session.scalars(sa.select(MappingMemory.normalised_headers)).all()
    assert sorted("h0" in json.loads(k) for k in kept) == [False, False]


def test_an_invalid_mapping_is_not_remembered(run: Callable[..., Any], context: AppContext) -> None:
    with pytest.raises(InvalidMapping) as raised:
        run(remember_mapping, schema=SCHEMA, headers=HEADERS, mapping={"id": "Kontakt"})

    assert [e.path for e in raised.value.errors] == ["$.mapping.email"]
    assert (
        raised.value.detail
        == "the mapping does not fit schema 'customers' and this file (1 problem)"
    )
    with context.sessions() as session:
        assert session.scalars(sa.select(MappingMemory)).all() == []


def test_hostile_headers_are_stored_and_recalled(run: Callable[..., Any]) -> None:
    headers = ["id\x00", "email", "😀", "x" * 10_000, "\ud800", "名前"]
    mapping = {"id": "id\x00", "email": "email", "name": "名前", "city": "\ud800"}

    run(remember_mapping, schema=SCHEMA, headers=headers, mapping=mapping)

    assert propose(run, headers).mapping == mapping


def test_jaccard_of_empty_sets_is_zero() -> None:
    assert jaccard(frozenset(), frozenset()) == 0.0
