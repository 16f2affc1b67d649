"""Schema documents and helpers shared by the schema tests."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from loadbay.schemas.document import parse_schema
from loadbay.schemas.errors import InvalidSchema

ORDERS: dict[str, Any] = {
    "name": "orders",
    "title": "Orders",
    "fields": [
        {"name": "id", "type": "integer", "constraints": {"required": True, "minimum": 1}},
        {"name": "email", "type": "string", "format": "email"},
        {"name": "placed", "type": "date", "format": "%d/%m/%Y"},
    ],
    "primaryKey": ["id"],
}


def orders(**changes: Any) -> dict[str, Any]:
    """A fresh copy of ORDERS with top-level keys replaced (``None`` removes a key)."""
    document = copy.deepcopy(ORDERS)
    for key, value in changes.items():
        if value is None:
            document.pop(key, None)
        else:
            document[key] = value
    return document


def with_fields(*fields: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {"name": "orders", "fields": list(fields), **changes}


def problems(document: Any) -> list[tuple[str | None, str]]:
    """Every (path, message) that parse_schema reports; fails if the document parses."""
    with pytest.raises(InvalidSchema) as info:
        parse_schema(document)
    return [(error.path, error.message) for error in info.value.errors]
