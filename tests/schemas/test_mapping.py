"""Auto-mapping without storage: matching kinds, one-to-one assignment, ambiguity, speed."""

from __future__ import annotations

import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loadbay.schemas.mapping import (
    FieldMatch,
    MappingProposal,
    is_confident,
    propose,
    validate_mapping,
)
from loadbay.schemas.mapping.normalise import key, words
from loadbay.schemas.model import TableSchema


def schema(*fields: dict[str, Any] | str, primary_key: str | None = None) -> TableSchema:
    document: dict[str, Any] = {
        "name": "customers",
        "fields": [{"name": f} if isinstance(f, str) else f for f in fields],
    }
    if primary_key:
        document["primaryKey"] = primary_key
    return TableSchema.model_validate(document)


def required(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "constraints": {"required": True}, **extra}


def match(proposal: MappingProposal, field: str) -> FieldMatch:
    return next(m for m in proposal.fields if m.field == field)


def pair(proposal: MappingProposal, field: str) -> tuple[str | None, float, str | None]:
    m = match(proposal, field)
    return m.column, m.confidence, m.reason


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("E-Mail Address", "e mail address"),
        ("e_mail_address", "e mail address"),
        ("eMailAddress", "e mail address"),
        ("CustomerID", "customer id"),
        ("HTTPServer", "http server"),
        ("Cust. ID", "cust id"),
        ("  Prénom  ", "prenom"),
        ("ＩＤ", "id"),  # fullwidth, folded by NFKD
        ("Straße", "strasse"),
        ("名前", "名前"),
        ("a\x00b", "a b"),
        ("😀", ""),
    ],
)
def test_names_normalise_to_words(name: str, expected: str) -> None:
    assert words(name) == expected
    assert key(name) == expected.replace(" ", "")


def test_exact_name_maps_with_full_confidence() -> None:
    proposal = propose(schema("id", "email"), ["email", "id"])

    assert proposal.mapping == {"id": "id", "email": "email"}
    assert pair(proposal, "email") == ("email", 1.0, "exact")
    assert proposal.unmapped_columns == ()
    assert is_confident(proposal)


@pytest.mark.parametrize(
    ("field", "header"),
    [
        ("email_address", "Email Address"),
        ("email_address", "EMAIL_ADDRESS"),
        ("email_address", "email-address"),
        ("email_address", "emailAddress"),
        ("email_address", "  E-Mail   Address "),
        ("prenom", "Prénom"),
        ("customer_id", "CustomerID"),
    ],
)
def test_normalised_name_maps(field: str, header: str) -> None:
    proposal = propose(schema(required(field)), [header])

    assert pair(proposal, field) == (header, 0.95, "normalised")
    assert is_confident(proposal)


def test_alias_and_title_map_after_normalising() -> None:
    s = schema(
        {"name": "customer_id", "x-loadbay": {"aliases": ["Cust. ID", "client no"]}},
        {"name": "full_name", "title": "Name"},
        {"name": "note", "x-loadbay": {"aliases": ["名前"]}},
        {"name": "rating", "x-loadbay": {"aliases": ["⭐"]}},
    )

    proposal = propose(s, ["cust id", "NAME", "名前", "⭐"])

    assert pair(proposal, "customer_id") == ("cust id", 0.9, "alias")
    assert pair(proposal, "full_name") == ("NAME", 0.9, "alias")
    assert pair(proposal, "note") == ("名前", 0.9, "alias")
    assert pair(proposal, "rating") == ("⭐", 0.9, "alias")  # no letters: compared as it is


@pytest.mark.parametrize(
    ("field", "header", "confidence"),
    [
        ("email", "emial", 0.68),  # one transposition: token_sort_ratio 80
        ("address", "Adress", 0.7846),  # 92.3
        ("email_address", "Address Email", 0.85),  # word order only: 100
        ("order_date", "Order Data", 0.765),  # 90
    ],
)
def test_fuzzy_matches_carry_a_confidence_from_the_score(
    field: str, header: str, confidence: float
) -> None:
    proposal = propose(schema(required(field)), [header])

    assert pair(proposal, field) == (header, confidence, "fuzzy")
    assert not is_confident(proposal)  # a person confirms fuzzy matches


def test_fuzzy_matches_aliases_too() -> None:
    s = schema({"name": "zip", "x-loadbay": {"aliases": ["postal code"]}})

    assert pair(propose(s, ["Postal Cdoe"]), "zip")[2] == "fuzzy"


@pytest.mark.parametrize(
    ("field", "header"),
    [("name", "game"), ("date", "data"), ("first_name", "last name"), ("customer_id", "id")],
)
def test_dissimilar_names_do_not_match(field: str, header: str) -> None:
    proposal = propose(schema(field), [header])

    assert proposal.mapping == {}
    assert proposal.unmapped_columns == (header,)
    assert not is_confident(proposal)


def test_a_stronger_kind_of_match_wins_without_ambiguity() -> None:
    s = schema(required("email", **{"x-loadbay": {"aliases": ["mail"]}}))

    proposal = propose(s, ["mail", "E-mail", "emial", "email"])

    assert pair(proposal, "email") == ("email", 1.0, "exact")
    assert match(proposal, "email").candidates == ()
    assert proposal.unmapped_columns == ("mail", "E-mail", "emial")
    assert is_confident(proposal)


def test_two_headers_for_one_field_are_ambiguous() -> None:
    s = schema("id", required("email"))

    proposal = propose(s, ["id", "E-mail", "EMAIL"])

    email = match(proposal, "email")
    assert (email.column, email.confidence) == ("E-mail", 0.95)  # file order breaks the tie
    assert [(c.column, c.confidence, c.reason) for c in email.candidates] == [
        ("E-mail", 0.95, "normalised"),
        ("EMAIL", 0.95, "normalised"),
    ]
    assert proposal.ambiguous_fields == ("email",)
    assert not is_confident(proposal)
    assert is_confident(propose(s, ["id", "EMAIL"]))


def test_close_fuzzy_scores_are_ambiguous_but_distant_ones_are_not() -> None:
    close = propose(schema("address"), ["adress", "addres"])  # 92.3 and 92.3
    distant = propose(schema("address"), ["adress", "adrs"])  # 92.3 and 72.7

    assert [c.column for c in match(close, "address").candidates] == ["adress", "addres"]
    assert match(distant, "address").candidates == ()


def test_ambiguity_on_an_optional_field_does_not_stop_an_import() -> None:
    s = schema(required("id"), "email")

    proposal = propose(s, ["id", "Email", "E-mail"])

    assert proposal.ambiguous_fields == ("email",)
    assert is_confident(proposal)


def test_a_column_serves_one_field_only() -> None:
    s = schema(
        {"name": "phone", "x-loadbay": {"aliases": ["tel"]}},
        {"name": "mobile", "x-loadbay": {"aliases": ["tel"]}},
    )

    proposal = propose(s, ["TEL"])

    assert proposal.mapping == {"phone": "TEL"}
    assert pair(proposal, "mobile") == (None, 0.0, None)


def test_assignment_gives_each_field_its_best_free_column() -> None:
    # "name" fits full_name exactly and last_name only by its alias; last_name then takes its
    # own exact header, so no field is left with a weaker match than it could have.
    s = schema(
        {"name": "last_name", "x-loadbay": {"aliases": ["name"]}},
        "name",
    )

    proposal = propose(s, ["name", "last_name"])

    assert proposal.mapping == {"last_name": "last_name", "name": "name"}
    assert all(m.confidence == 1.0 and not m.ambiguous for m in proposal.fields)


def test_a_column_claimed_clearly_by_another_field_is_no_alternative() -> None:
    proposal = propose(schema("e_mail", "email"), ["email", "e_mail"])

    assert proposal.mapping == {"e_mail": "e_mail", "email": "email"}
    assert proposal.ambiguous_fields == ()


def test_duplicate_and_blank_headers_are_never_proposed() -> None:
    s = schema(required("email"), "name")

    proposal = propose(s, ["email", "name", "email", "", "  ", "name2"])

    assert proposal.mapping == {"name": "name"}
    assert proposal.duplicate_columns == ("email",)
    assert proposal.missing_required == ("email",)
    assert proposal.unmapped_columns == ("email", "", "  ", "name2")
    assert not is_confident(proposal)


def test_missing_required_fields_are_listed_in_schema_order() -> None:
    s = schema("id", required("b"), "c", required("a"), primary_key="id")

    proposal = propose(s, ["c", "other"])

    assert proposal.missing_required == ("id", "b", "a")
    assert match(proposal, "id").required
    assert proposal.unmapped_columns == ("other",)
    assert not is_confident(proposal)


def test_confidence_threshold_is_a_parameter() -> None:
    proposal = propose(schema(required("customer_id")), ["CustomerID"])

    assert is_confident(proposal, threshold=0.95)
    assert not is_confident(proposal, threshold=0.96)


def test_a_proposal_that_maps_nothing_is_never_confident() -> None:
    assert not is_confident(propose(schema("a", "b"), ["x", "y"]))


def test_a_proposal_round_trips_through_json() -> None:
    proposal = propose(schema("id", required("email")), ["id", "Email", "E-mail", "x", "x"])

    assert MappingProposal.model_validate_json(proposal.model_dump_json()) == proposal


def test_hostile_headers_neither_crash_nor_slow_down() -> None:
    s = schema(required("email"), "name", "名前")
    headers = [
        "x" * 10_000,
        "email" + "\x00" * 5_000,
        "\x00",
        "😀" * 2_000,
        "\ud800lone surrogate",
        "é" * 10_000,
        " \t\r\n",
        "name " * 2_000,
        "名前",
        "email",
    ]
    many = [f"{h}{i}" for i in range(200) for h in headers]
    started = time.perf_counter()

    proposal = propose(s, many)
    repeated = propose(s, headers * 200)

    assert time.perf_counter() - started < 1.0
    assert len(proposal.unmapped_columns) == len(many) - len(proposal.mapping)
    assert repeated.mapping == {}
    assert repeated.duplicate_columns == tuple(headers)
    assert propose(s, headers).mapping == {"email": "email", "名前": "名前"}


def test_2000_headers_by_50_fields_in_under_a_second() -> None:
    fields = [
        {"name": f"field_{i}", "title": f"Field number {i}", "x-loadbay": {"aliases": [f"f{i}"]}}
        for i in range(50)
    ]
    s = schema(*fields)
    headers = [f"Column {i} of data" for i in range(1_950)] + [f"Field {i}" for i in range(50)]
    started = time.perf_counter()

    proposal = propose(s, headers)

    assert time.perf_counter() - started < 1.0
    assert proposal.mapping == {f"field_{i}": f"Field {i}" for i in range(50)}
    assert {m.reason for m in proposal.fields} == {"normalised"}


field_names = st.lists(
    st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")), min_size=1)
    .map(str.strip)
    .filter(bool),
    min_size=1,
    max_size=12,
    unique=True,
)


@settings(max_examples=200, deadline=None)
@given(names=field_names, data=st.data())
def test_field_names_as_headers_map_back_exactly(names: list[str], data: st.DataObject) -> None:
    s = schema(*[required(n) for n in names])
    headers = data.draw(st.permutations(names))

    proposal = propose(s, headers)

    assert proposal.mapping == {n: n for n in names}
    assert all(m.confidence == 1.0 and m.reason == "exact" for m in proposal.fields)
    assert is_confident(proposal)
    assert validate_mapping(s, headers, proposal.mapping) == []
