from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

CUSTOMERS: dict[str, Any] = {
    "name": "customers",
    "fields": [
        {"name": "id", "type": "integer"},
        {
            "name": "email",
            "type": "string",
            "format": "email",
            "constraints": {"required": True, "unique": True},
        },
        {"name": "name", "type": "string", "constraints": {"required": True, "maxLength": 100}},
        {"name": "age", "type": "integer", "constraints": {"minimum": 0, "maximum": 120}},
        {"name": "signup", "type": "date"},
        {"name": "balance", "type": "number"},
        {"name": "country", "type": "string", "constraints": {"enum": ["FR", "DE", "CN", "US"]}},
        {"name": "active", "type": "boolean"},
    ],
    "primaryKey": ["id"],
    "missingValues": ["", "NA"],
}


def customer(i: int, **overrides: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": i,
        "email": f"user{i}@example.com",
        "name": f"User {i}",
        "age": 30 + i % 50,
        "signup": "2024-02-29",
        "balance": "12.50",
        "country": "FR",
        "active": True,
    }
    return record | overrides


@pytest.fixture
def customers(client: TestClient) -> dict[str, Any]:
    response = client.post("/api/schemas", json=CUSTOMERS)
    assert response.status_code == 201, response.text
    return CUSTOMERS
