"""``loadbay schemas validate FILE``."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from loadbay.cli import app
from tests.schemas.documents import ORDERS

runner = CliRunner()


def validate(path: Path) -> tuple[int, str, str]:
    result = runner.invoke(app, ["schemas", "validate", str(path)])
    return result.exit_code, result.stdout, result.stderr


def test_a_valid_json_file(tmp_path: Path) -> None:
    path = tmp_path / "orders.json"
    path.write_text(json.dumps(ORDERS))

    assert validate(path) == (0, f"{path}: valid schema orders (3 fields)\n", "")


def test_a_valid_yaml_file_with_one_field(tmp_path: Path) -> None:
    path = tmp_path / "ids.yml"
    path.write_text("name: ids\nfields:\n  - name: id\n    type: integer\n")

    assert validate(path) == (0, f"{path}: valid schema ids (1 field)\n", "")


def test_an_invalid_file_prints_every_problem(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "name: bad name\n"
        "fields:\n"
        "  - {name: id, type: integer, constraints: {minimum: 10, maximum: 1}}\n"
        "  - {name: ID}\n"
        "primaryKey: [nope]\n"
    )

    code, out, err = validate(path)

    assert (code, out) == (1, "")
    assert err.splitlines() == [
        f"{path}: $.name: may contain only ASCII letters, digits, '_' and '-' because it is used "
        'in URLs; found " "',
        f"{path}: $.fields[0].constraints.minimum: minimum 10 is greater than maximum 1",
        f'{path}: $.fields[1].name: "ID" is already the name of $.fields[0] (names are compared '
        "ignoring ASCII case, as SQLite compares columns)",
        f'{path}: $.primaryKey[0]: "nope" is not a field of this schema',
    ]


def test_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "missing.json"

    assert validate(path) == (
        1,
        "",
        f"{path}: cannot read the file: No such file or directory\n",
    )


def test_an_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("name: caf\xe9\n".encode("latin-1"))

    assert validate(path) == (1, "", f"{path}: not UTF-8 text: invalid byte at offset 9\n")


def test_malformed_yaml(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("name: x\nfields:\n  - name: [a\n")

    code, _, err = validate(path)

    assert code == 1
    assert err == (
        f"{path}: invalid YAML: while parsing a flow sequence, expected ',' or ']', "
        "but got '<stream end>' at line 4, column 1\n"
    )
