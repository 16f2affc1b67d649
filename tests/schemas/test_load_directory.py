"""load_directory: the schemas directory registered at start, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from loadbay.app import create_app
from loadbay.context import AppContext
from loadbay.db import transaction
from loadbay.errors import InvalidInput
from loadbay.schemas import service
from loadbay.schemas.errors import InvalidSchema
from loadbay.settings import Settings
from tests.schemas.documents import ORDERS, orders

CUSTOMERS_YAML = """\
name: customers
fields:
  - name: id
    type: integer
  - name: email
    format: email
    x-loadbay: {aliases: [E-mail]}
primaryKey: id
"""


@pytest.fixture
def schemas_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "schemas"
    directory.mkdir()
    (directory / "orders.json").write_text(json.dumps(ORDERS))
    (directory / "customers.yaml").write_text(CUSTOMERS_YAML)
    return directory


def load(context: AppContext, directory: Path) -> list[str]:
    with transaction(context.sessions) as session:
        return service.load_directory(session, directory)


def versions(context: AppContext) -> dict[str, list[int]]:
    with transaction(context.sessions) as session:
        return {
            info.name: [v.version for v in service.list_versions(session, name=info.name)]
            for info in service.list_schemas(session)
        }


def test_registers_json_and_yaml_files(context: AppContext, schemas_dir: Path) -> None:
    assert load(context, schemas_dir) == ["customers", "orders"]

    with transaction(context.sessions) as session:
        customers = service.get_schema(session, name="customers").schema
    assert customers.primary_key == ["id"]
    assert customers.field("email").x_loadbay.aliases == ["E-mail"]


def test_loading_again_changes_nothing(context: AppContext, schemas_dir: Path) -> None:
    load(context, schemas_dir)

    assert load(context, schemas_dir) == ["customers", "orders"]
    assert versions(context) == {"customers": [1], "orders": [1]}


def test_a_changed_file_adds_a_version(context: AppContext, schemas_dir: Path) -> None:
    load(context, schemas_dir)
    (schemas_dir / "orders.json").write_text(json.dumps(orders(title="Orders 2")))

    load(context, schemas_dir)

    assert versions(context) == {"customers": [1], "orders": [1, 2]}


def test_a_bad_file_registers_nothing_and_is_named(context: AppContext, schemas_dir: Path) -> None:
    bad = schemas_dir / "zz-bad.yml"
    bad.write_text("name: bad\nfields: [{name: _loadbay_id}]\n")

    with pytest.raises(InvalidSchema) as info:
        load(context, schemas_dir)

    assert info.value.source == str(bad)
    assert info.value.detail == (
        f"{bad}: invalid schema: $.fields[0].name: must not start with '_loadbay_': "
        "it is reserved for loadbay"
    )
    assert versions(context) == {}


def test_two_files_defining_one_schema(context: AppContext, schemas_dir: Path) -> None:
    copy = schemas_dir / "orders-copy.json"
    copy.write_text(json.dumps(orders(title="Copy")))

    with pytest.raises(InvalidSchema) as info:
        load(context, schemas_dir)

    # Files are read in name order, and "orders-copy.json" sorts before "orders.json".
    assert info.value.detail == (
        f"{schemas_dir / 'orders.json'}: invalid schema: $.name: "
        f"{copy.name} defines this schema too"
    )
    assert versions(context) == {}


def test_other_and_hidden_files_are_ignored(context: AppContext, schemas_dir: Path) -> None:
    (schemas_dir / "README.md").write_text("# schemas")
    (schemas_dir / ".orders.json.swp").write_text("garbage")
    (schemas_dir / "._customers.yaml").write_bytes(b"\x00\x05\x16\x07")
    (schemas_dir / "nested.json").mkdir()

    assert load(context, schemas_dir) == ["customers", "orders"]


def test_an_empty_directory(context: AppContext, tmp_path: Path) -> None:
    assert load(context, tmp_path) == []


def test_a_missing_directory(context: AppContext, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as info:
        load(context, tmp_path / "nope")

    assert info.value.detail == f"{tmp_path / 'nope'}: not a directory (LOADBAY_SCHEMAS_DIR)"


def test_the_app_registers_the_directory_at_start(settings: Settings, schemas_dir: Path) -> None:
    app = create_app(settings.model_copy(update={"schemas_dir": schemas_dir}))

    for _ in range(2):  # a restart registers nothing new
        with TestClient(app) as client:
            items = client.get("/api/schemas").json()["items"]
        assert [(item["name"], item["version"]) for item in items] == [
            ("customers", 1),
            ("orders", 1),
        ]
