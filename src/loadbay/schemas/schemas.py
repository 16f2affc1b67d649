"""HTTP bodies of the schema registry, as Pydantic models so that OpenAPI documents them."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from loadbay.schemas.model import TableSchema
from loadbay.schemas.service import SchemaInfo

SCHEMAS_PATH = "/api/schemas"

EXAMPLE_DOCUMENT: dict[str, Any] = {
    "name": "customers",
    "title": "Customers",
    "fields": [
        {"name": "id", "type": "integer", "constraints": {"required": True, "minimum": 1}},
        {
            "name": "email",
            "type": "string",
            "format": "email",
            "x-loadbay": {"aliases": ["E-mail", "mail"]},
        },
        {"name": "signed_up", "type": "date", "format": "%d/%m/%Y"},
    ],
    "primaryKey": ["id"],
}


def _inline_refs(node: Any, definitions: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        if "$ref" in node:
            target = definitions[node["$ref"].rsplit("/", 1)[-1]]
            rest = {key: value for key, value in node.items() if key != "$ref"}
            return _inline_refs(target | rest, definitions)
        return {key: _inline_refs(value, definitions) for key, value in node.items()}
    if isinstance(node, list):
        return [_inline_refs(item, definitions) for item in node]
    return node


def _table_schema_json_schema() -> dict[str, Any]:
    """JSON Schema of a Table Schema document, self-contained: Pydantic's ``$defs`` would not
    resolve once the schema is embedded in the OpenAPI document."""
    generated = TableSchema.model_json_schema(by_alias=True)
    definitions = generated.pop("$defs", {})
    inlined: dict[str, Any] = _inline_refs(generated, definitions)
    return inlined | {
        "description": "A Frictionless Table Schema (v1) with loadbay's x-loadbay extensions.",
        "examples": [EXAMPLE_DOCUMENT],
    }


TABLE_SCHEMA_JSON_SCHEMA = _table_schema_json_schema()

TableSchemaDocument = Annotated[dict[str, Any], WithJsonSchema(TABLE_SCHEMA_JSON_SCHEMA)]


def schema_path(name: str, version: int | None = None) -> str:
    path = f"{SCHEMAS_PATH}/{name}"
    return path if version is None else f"{path}?version={version}"


class SchemaLinks(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    self_: str = Field(alias="self", description="This version of the schema.")
    versions: str = Field(description="Every version of the schema.")


class SchemaResource(BaseModel):
    """One version of a registered schema."""

    model_config = ConfigDict(populate_by_name=True)

    name: str
    version: int = Field(description="Starts at 1; a changed document adds one.")
    fingerprint: str = Field(description="sha256 (hex) of the canonical document.")
    created_at: dt.datetime = Field(description="When the schema was (re-)created.")
    updated_at: dt.datetime = Field(description="When this version was registered.")
    document: TableSchemaDocument = Field(
        alias="schema", description="The canonical document: defaults left out."
    )
    links: SchemaLinks

    @classmethod
    def from_info(cls, info: SchemaInfo) -> SchemaResource:
        return cls(
            name=info.name,
            version=info.version,
            fingerprint=info.fingerprint,
            created_at=info.created_at,
            updated_at=info.updated_at,
            document=info.schema.to_document(),
            links=SchemaLinks(
                self_=schema_path(info.name, info.version),
                versions=f"{schema_path(info.name)}/versions",
            ),
        )


class SchemaList(BaseModel):
    items: list[SchemaResource]
