"""The schema registry service on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from sqlalchemy.orm import Session

from loadbay.context import AppContext
from loadbay.db import transaction, utcnow
from loadbay.schemas import service
from loadbay.schemas.document import canonical_json, fingerprint, parse_schema
from loadbay.schemas.errors import (
    InvalidSchema,
    SchemaChangedConcurrently,
    SchemaExists,
    SchemaNotFound,
)
from loadbay.schemas.models import SchemaVersion
from tests.schemas.documents import ORDERS, orders, with_fields

T = TypeVar("T")


@pytest.fixture
def run(context: AppContext) -> Callable[..., Any]:
    """Call a service function in a transaction of its own."""

    def call(function: Callable[..., T], **kwargs: Any) -> T:
        with transaction(context.sessions) as session:
            return function(session, **kwargs)

    return call


def changed(title: str) -> dict[str, Any]:
    return orders(title=title)


def test_create_registers_version_1(run: Callable[..., Any]) -> None:
    before = utcnow()

    info = run(service.create_schema, document=ORDERS)

    assert (info.name, info.version) == ("orders", 1)
    assert info.schema == parse_schema(ORDERS)
    assert info.fingerprint == fingerprint(parse_schema(ORDERS))
    assert before <= info.created_at == info.updated_at <= utcnow()
    assert run(service.get_schema, name="orders") == info


def test_create_accepts_a_parsed_schema(run: Callable[..., Any]) -> None:
    assert run(service.create_schema, document=parse_schema(ORDERS)).version == 1


def test_create_refuses_an_existing_name(run: Callable[..., Any]) -> None:
    run(service.create_schema, document=ORDERS)

    with pytest.raises(SchemaExists) as info:
        run(service.create_schema, document=changed("Other"))

    assert info.value.detail == 'a schema named "orders" exists already; update it to add a version'
    assert [v.version for v in run(service.list_versions, name="orders")] == [1]


def test_create_reports_every_problem_of_the_document(run: Callable[..., Any]) -> None:
    with pytest.raises(InvalidSchema) as info:
        run(service.create_schema, document=orders(name="bad name", primaryKey=["nope"]))

    assert [(e.path, e.message) for e in info.value.errors] == [
        ("$.name", "may contain only ASCII letters, digits, '_' and '-' because it is used in "
         'URLs; found " "'),
        ("$.primaryKey[0]", '"nope" is not a field of this schema'),
    ]  # fmt: skip
    assert run(service.list_schemas) == []


def test_update_creates_a_missing_schema(run: Callable[..., Any]) -> None:
    info, created = run(service.update_schema, name="orders", document=ORDERS)

    assert (info.version, created) == (1, True)


def test_update_with_the_same_canonical_document_adds_no_version(
    run: Callable[..., Any],
) -> None:
    first, _ = run(service.update_schema, name="orders", document=ORDERS)
    # The same schema written differently: single primary key, explicit defaults.
    same = orders(primaryKey="id", missingValues=[""])
    same["fields"][1]["constraints"] = {"required": False}

    again, created = run(service.update_schema, name="orders", document=same)

    assert (again, created) == (first, False)
    assert len(run(service.list_versions, name="orders")) == 1


def test_update_with_a_changed_document_adds_a_version(run: Callable[..., Any]) -> None:
    first = run(service.create_schema, document=ORDERS)

    second, created = run(service.update_schema, name="orders", document=changed("Orders 2"))

    assert (second.version, created) == (2, False)
    assert second.schema.title == "Orders 2"
    assert second.created_at == first.created_at
    assert second.updated_at > first.updated_at
    assert run(service.get_schema, name="orders") == second
    assert run(service.get_schema, name="orders", version=1) == first


def test_update_requires_the_document_to_have_the_schema_s_name(
    run: Callable[..., Any],
) -> None:
    with pytest.raises(InvalidSchema) as info:
        run(service.update_schema, name="orders", document=orders(name="invoices"))

    assert [(e.path, e.message) for e in info.value.errors] == [
        ("$.name", '"invoices" does not match the schema being updated, "orders"')
    ]


def test_a_wrong_name_is_reported_with_the_document_s_other_problems(
    run: Callable[..., Any],
) -> None:
    document = with_fields({"name": "a", "type": "object"}, name="invoices")

    with pytest.raises(InvalidSchema) as info:
        run(service.update_schema, name="orders", document=document)

    assert [e.path for e in info.value.errors] == ["$.fields[0].type", "$.name"]


def test_get_unknown_schema_or_version(run: Callable[..., Any]) -> None:
    run(service.create_schema, document=ORDERS)

    with pytest.raises(SchemaNotFound) as unknown:
        run(service.get_schema, name="invoices")
    with pytest.raises(SchemaNotFound) as version:
        run(service.get_schema, name="orders", version=9)

    assert unknown.value.detail == 'there is no schema named "invoices"'
    assert version.value.detail == 'schema "orders" has no version 9 (the latest is 1)'


@pytest.mark.parametrize("name", ["a\x00b", "x" * 10_000, "orders'; DROP TABLE schemas;--", ""])
def test_names_no_schema_can_have_are_simply_not_found(run: Callable[..., Any], name: str) -> None:
    with pytest.raises(SchemaNotFound):
        run(service.get_schema, name=name)
    with pytest.raises(SchemaNotFound):
        run(service.delete_schema, name=name)


def test_list_schemas_gives_latest_versions_sorted_by_name(run: Callable[..., Any]) -> None:
    for name in ["beta", "Zeta", "alpha", "gone"]:
        run(service.create_schema, document=orders(name=name))
    run(service.update_schema, name="beta", document=orders(name="beta", title="Beta 2"))
    run(service.delete_schema, name="gone")

    listed = run(service.list_schemas)

    # Code point order on both backends (PostgreSQL's collation would put Zeta last).
    assert [(i.name, i.version) for i in listed] == [("Zeta", 1), ("alpha", 1), ("beta", 2)]


def test_list_versions_oldest_first(run: Callable[..., Any]) -> None:
    run(service.create_schema, document=ORDERS)
    for number in range(2, 5):
        run(service.update_schema, name="orders", document=changed(f"Orders {number}"))

    versions = run(service.list_versions, name="orders")

    assert [(v.version, v.schema.title) for v in versions] == [
        (1, "Orders"),
        (2, "Orders 2"),
        (3, "Orders 3"),
        (4, "Orders 4"),
    ]


def test_delete_hides_the_schema(run: Callable[..., Any]) -> None:
    run(service.create_schema, document=ORDERS)

    run(service.delete_schema, name="orders")

    assert run(service.list_schemas) == []
    for function in (service.get_schema, service.list_versions, service.delete_schema):
        with pytest.raises(SchemaNotFound) as info:
            run(function, name="orders")
        assert info.value.detail == 'schema "orders" was deleted'


def test_pinned_versions_of_a_deleted_schema_stay_readable(run: Callable[..., Any]) -> None:
    first = run(service.create_schema, document=ORDERS)
    second, _ = run(service.update_schema, name="orders", document=changed("Orders 2"))
    run(service.delete_schema, name="orders")

    assert run(service.get_schema, name="orders", version=1, include_deleted=True) == first
    assert run(service.get_schema, name="orders", include_deleted=True) == second


@pytest.mark.parametrize("recreate", ["create", "update"])
def test_recreating_a_deleted_schema_continues_its_numbering(
    run: Callable[..., Any], recreate: str
) -> None:
    first = run(service.create_schema, document=ORDERS)
    run(service.update_schema, name="orders", document=changed("Orders 2"))
    run(service.delete_schema, name="orders")

    if recreate == "create":
        info = run(service.create_schema, document=ORDERS)
    else:
        info, created = run(service.update_schema, name="orders", document=ORDERS)
        assert created

    assert info.version == 3
    assert info.schema == first.schema
    assert info.created_at > first.created_at  # a new life for the name
    assert [v.version for v in run(service.list_versions, name="orders")] == [1, 2, 3]
    assert run(service.get_schema, name="orders", version=1).schema == first.schema


def test_a_failed_transaction_registers_nothing(context: AppContext) -> None:
    def fail_after_creating() -> None:
        with transaction(context.sessions) as session:
            service.create_schema(session, document=ORDERS)
            raise RuntimeError("the caller fails after the service call")

    with pytest.raises(RuntimeError):
        fail_after_creating()

    with transaction(context.sessions) as session:
        assert service.list_schemas(session) == []
        # the name was never taken: creating it now starts at version 1
        assert service.create_schema(session, document=ORDERS).version == 1


def _in_thread(function: Callable[[], T]) -> Callable[[], T]:
    """Start ``function`` in a thread; the returned call joins it and gives its result."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = function()
        except Exception as exc:  # handed to the joining test
            outcome["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()

    def join() -> T:
        thread.join(timeout=30)
        assert not thread.is_alive()
        if "error" in outcome:
            raise outcome["error"]
        return outcome["value"]  # type: ignore[no-any-return]

    return join


def _hold_then_commit(
    context: AppContext, work: Callable[[Session], T], other: Callable[[], Any]
) -> tuple[T, Callable[[], Any]]:
    """Run ``work`` in a transaction that stays open while ``other`` starts in a thread
    (and so has to wait for it), then commit; returns ``(work's result, join other)``."""
    with transaction(context.sessions) as session:
        result = work(session)
        join = _in_thread(other)
        time.sleep(0.3)  # let the other writer reach the lock it must wait for
    return result, join


def test_concurrent_updates_take_turns_and_never_share_a_version(
    context: AppContext, run: Callable[..., Any]
) -> None:
    run(service.create_schema, document=ORDERS)

    first, join = _hold_then_commit(
        context,
        lambda session: service.update_schema(session, name="orders", document=changed("A")),
        lambda: run(service.update_schema, name="orders", document=changed("B")),
    )
    second = join()

    assert (first[0].version, second[0].version) == (2, 3)
    versions = run(service.list_versions, name="orders")
    assert [(v.version, v.schema.title) for v in versions] == [(1, "Orders"), (2, "A"), (3, "B")]


def test_concurrent_puts_of_a_new_schema_create_it_once(
    context: AppContext, run: Callable[..., Any]
) -> None:
    # Several API processes loading the same schemas directory at start do exactly this.
    (first, created), join = _hold_then_commit(
        context,
        lambda session: service.update_schema(session, name="orders", document=ORDERS),
        lambda: run(service.update_schema, name="orders", document=ORDERS),
    )
    second, second_created = join()

    assert (first.version, created) == (1, True)
    assert (second, second_created) == (first, False)


def test_concurrent_creates_of_one_name_let_one_win(
    context: AppContext, run: Callable[..., Any]
) -> None:
    _, join = _hold_then_commit(
        context,
        lambda session: service.create_schema(session, document=ORDERS),
        lambda: run(service.create_schema, document=changed("Mine")),
    )

    with pytest.raises(SchemaExists):
        join()
    assert run(service.get_schema, name="orders").schema.title == "Orders"


def test_a_version_taken_behind_the_registry_s_back_is_a_conflict(
    context: AppContext, run: Callable[..., Any]
) -> None:
    run(service.create_schema, document=ORDERS)
    # Another writer that did not take the registry's lock has written version 2.
    with transaction(context.sessions) as session:
        intruder = parse_schema(changed("Intruder"))
        session.add(
            SchemaVersion(
                name="orders",
                version=2,
                document=canonical_json(intruder),
                fingerprint=fingerprint(intruder),
                created_at=utcnow(),
            )
        )

    with pytest.raises(SchemaChangedConcurrently) as info:
        run(service.update_schema, name="orders", document=changed("Mine"))

    assert info.value.detail == (
        'schema "orders" was changed by another request at the same time; '
        "nothing was saved, retry the request"
    )
    assert run(service.get_schema, name="orders").version == 1
