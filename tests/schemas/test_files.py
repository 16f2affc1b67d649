"""load_schema_file: JSON and YAML files, read the way JSON is, with errors naming the file."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import yaml

from loadbay.schemas.document import load_schema_file, parse_schema
from loadbay.schemas.errors import InvalidSchema
from tests.schemas.documents import ORDERS

ORDERS_YAML = """\
name: orders
title: Orders
fields:
  - name: id
    type: integer
    constraints: {required: true, minimum: 1}
  - name: email
    type: string
    format: email
  - name: placed
    type: date
    format: "%d/%m/%Y"
primaryKey: [id]
"""


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def file_problems(path: Path) -> tuple[str, list[tuple[str | None, str]]]:
    with pytest.raises(InvalidSchema) as info:
        load_schema_file(path)
    assert info.value.source == str(path)
    return info.value.detail, [(e.path, e.message) for e in info.value.errors]


@pytest.mark.parametrize("name", ["orders.json", "ORDERS.JSON"])
def test_a_json_file(tmp_path: Path, name: str) -> None:
    path = write(tmp_path, name, json.dumps(ORDERS))

    assert load_schema_file(path) == parse_schema(ORDERS)


@pytest.mark.parametrize("name", ["orders.yaml", "orders.yml"])
def test_a_yaml_file_means_what_the_same_json_means(tmp_path: Path, name: str) -> None:
    assert load_schema_file(write(tmp_path, name, ORDERS_YAML)) == parse_schema(ORDERS)


def test_yaml_scalars_are_read_as_yaml_1_2_not_1_1(tmp_path: Path) -> None:
    # YAML 1.1 would read no/yes as booleans, 12:30:00 as 45000, 2024-01-31 as a date object
    # and 010 as octal 8.
    path = write(
        tmp_path,
        "answers.yaml",
        """\
name: answers
fields:
  - {name: answer, constraints: {enum: [yes, no, on, off, y, n]}}
  - {name: opens, type: time, constraints: {minimum: 12:30:00}}
  - {name: since, type: date, constraints: {minimum: 2024-01-31}}
  - {name: rank, type: integer, constraints: {minimum: 010, maximum: +1000}}
  - {name: ok, type: boolean, constraints: {enum: [true, False]}}
  - {name: score, type: number, constraints: {minimum: -1.5e3, maximum: .5}}
""",
    )

    fields = load_schema_file(path).fields

    assert fields[0].constraints.enum == ["yes", "no", "on", "off", "y", "n"]
    assert fields[1].constraints.minimum == "12:30:00"
    assert fields[2].constraints.minimum == "2024-01-31"
    assert (fields[3].constraints.minimum, fields[3].constraints.maximum) == (10, 1000)
    assert fields[4].constraints.enum == [True, False]
    assert (fields[5].constraints.minimum, fields[5].constraints.maximum) == (-1500.0, 0.5)


def test_a_string_in_yaml_that_is_not_a_number_is_reported_as_such(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "rank.yaml",
        "name: rank\nfields: [{name: rank, type: integer, constraints: {maximum: +1_000}}]\n",
    )

    _, problems = file_problems(path)

    assert problems == [
        (
            "$.fields[0].constraints.maximum",
            "must be an integer, as the field's type is integer",
        )
    ]


def test_errors_in_a_file_name_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.yaml", "name: 9bad\nfields:\n  - {name: a, type: object}\n")

    detail, problems = file_problems(path)

    assert problems == [
        (
            "$.fields[0].type",
            'unsupported type "object" (supported: string, integer, number, boolean, date, '
            "datetime, time, year)",
        ),
        ("$.name", 'must start with an ASCII letter, not "9"'),
    ]
    assert detail.startswith(f"{path}: invalid schema: $.fields[0].type: unsupported type")


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        pytest.param(
            "bad.json",
            '{"name": "x",\n "fields": [}',
            "invalid JSON: Expecting value at line 2, column 13",
            id="json-syntax",
        ),
        pytest.param(
            "bad.yaml",
            "name: x\nfields: [\n",
            "invalid YAML: while parsing a flow node, expected the node content, "
            "but found '<stream end>' at line 3, column 1",
            id="yaml-syntax",
        ),
        pytest.param(
            "two.yaml",
            "name: x\n---\nname: y\n",
            "invalid YAML: expected a single document in the stream, "
            "but found another document at line 2, column 1",
            id="yaml-two-documents",
        ),
        pytest.param(
            "tagged.yaml",
            "name: !!python/object:os.system x\n",
            "invalid YAML: could not determine a constructor for the tag "
            "'tag:yaml.org,2002:python/object:os.system' at line 1, column 7",
            id="yaml-python-tag",
        ),
        pytest.param(
            "latin1.json",
            '{"name": "caf\xe9"}'.encode("latin-1"),
            "not UTF-8 text: invalid byte at offset 13",
            id="not-utf-8",
        ),
        pytest.param(
            "orders.txt", "name: x", 'unsupported file type ".txt" (expected .json, .yaml or .yml)',
            id="unknown-suffix",
        ),
        pytest.param(
            "deep.json", "[" * 100_000,
            "nested too deeply (a schema may nest at most 32 levels)", id="json-too-deep",
        ),
        pytest.param(
            "deep.yaml", "[" * 100_000,
            "nested too deeply (a schema may nest at most 32 levels)", id="yaml-too-deep",
        ),
        pytest.param(
            "huge.json",
            '{"name": "x", "n": ' + "9" * 5000 + "}",
            "invalid JSON: Exceeds the limit (4300 digits) for integer string conversion: "
            "value has 5000 digits; use sys.set_int_max_str_digits() to increase the limit",
            id="huge-integer",
        ),
    ],
)  # fmt: skip
def test_unparseable_files(tmp_path: Path, name: str, content: str | bytes, message: str) -> None:
    _, problems = file_problems(write(tmp_path, name, content))

    assert problems == [(None, message)]


def test_an_empty_yaml_file(tmp_path: Path) -> None:
    assert file_problems(write(tmp_path, "empty.yaml", ""))[1] == [("$", "must be an object")]


def test_a_missing_file(tmp_path: Path) -> None:
    detail, problems = file_problems(tmp_path / "missing.json")

    assert problems == [(None, "cannot read the file: No such file or directory")]
    assert detail == f"{tmp_path / 'missing.json'}: invalid schema: cannot read the file: " + (
        "No such file or directory"
    )


def test_a_directory_is_not_a_file(tmp_path: Path) -> None:
    (tmp_path / "dir.json").mkdir()

    assert file_problems(tmp_path / "dir.json")[1] == [
        (None, "cannot read the file: Is a directory")
    ]


def test_yaml_loading_leaves_pyyaml_s_safe_loader_unchanged() -> None:
    assert yaml.safe_load("a: no\nb: 2024-01-31") == {"a": False, "b": dt.date(2024, 1, 31)}
