"""``client.schemas``: the schema registry (``/api/schemas``)."""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from loadbay.client._http import HTTP
from loadbay.client.models import Schema


def _path(name: str) -> str:
    # Schema names are URL-safe by the server's rules; quoting keeps a bad one from
    # turning into another path.
    return f"/api/schemas/{quote(name, safe='')}"


class SchemasAPI:
    def __init__(self, http: HTTP) -> None:
        self._http = http

    def list(self) -> list[Schema]:
        """The latest version of every schema, by name."""
        body = self._http.json("GET", "/api/schemas")
        return [Schema.model_validate(item) for item in body["items"]]

    def get(self, name: str, *, version: int | None = None) -> Schema:
        params = {"version": version} if version is not None else None
        return Schema.model_validate(self._http.json("GET", _path(name), params=params))

    def create(self, document: Mapping[str, Any]) -> Schema:
        """Register a new schema (version 1); ``409 schema-exists`` if the name is taken."""
        return Schema.model_validate(self._http.json("POST", "/api/schemas", json=document))

    def put(self, document: Mapping[str, Any]) -> Schema:
        """Create the schema or add a version when the document changed (idempotent)."""
        name = str(document["name"])
        return Schema.model_validate(self._http.json("PUT", _path(name), json=document))

    def versions(self, name: str) -> builtins.list[Schema]:
        body = self._http.json("GET", f"{_path(name)}/versions")
        return [Schema.model_validate(item) for item in body["items"]]

    def delete(self, name: str) -> None:
        self._http.request("DELETE", _path(name))
