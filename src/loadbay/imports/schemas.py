"""Pydantic I/O models of the imports API (they are what OpenAPI documents)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt

from loadbay.imports.states import ImportState


class RecordsImportIn(BaseModel):
    """Inline JSON records to validate against a schema and load."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    schema_name: str = Field(alias="schema", description="Name of a registered schema.")
    schema_version: PositiveInt | None = Field(
        default=None, description="Pin a schema version; default: the latest."
    )
    records: list[Any] = Field(description="The records: JSON objects keyed by field name.")
    mode: Literal["insert", "upsert", "replace"] = "insert"
    on_error: Literal["abort", "skip"] = Field(
        default="abort",
        description="abort: load nothing if any record is invalid; skip: load the valid ones.",
    )
    max_errors: PositiveInt | None = Field(
        default=None, description="Error budget: stop after this many cell errors."
    )
    max_error_ratio: float | None = Field(
        default=None,
        gt=0,
        le=1,
        description="Error budget: stop once invalid records / records seen passes this.",
    )


class CellErrorOut(BaseModel):
    row: int = Field(description="1-based record (row) number in the source.")
    column: str | None = Field(description="Schema field; null for an error about the record.")
    value: str | None
    rule: str
    message: str


class SchemaRef(BaseModel):
    name: str
    version: int


class ImportCounts(BaseModel):
    rows_total: int
    rows_valid: int
    rows_invalid: int
    rows_loaded: int
    errors_total: int = Field(description="Every cell error found (exact).")
    errors_stored: int = Field(description="Cell errors kept for reading (capped).")


class Failure(BaseModel):
    type: str
    detail: str


class ImportOut(BaseModel):
    id: uuid.UUID
    state: ImportState
    schema_: SchemaRef = Field(alias="schema")
    table: str
    source: str
    mode: str
    on_error: str
    counts: ImportCounts
    progress: float = Field(ge=0, le=1)
    budget_exceeded: bool
    failure: Failure | None
    first_errors: list[CellErrorOut]
    created_at: dt.datetime
    updated_at: dt.datetime
    finished_at: dt.datetime | None
    links: dict[str, str]

    model_config = ConfigDict(populate_by_name=True)


class ImportPage(BaseModel):
    items: list[ImportOut]
    next_cursor: str | None
    links: dict[str, str]


class ErrorPage(BaseModel):
    items: list[CellErrorOut]
    errors_total: int
    errors_stored: int
    next_cursor: str | None
    links: dict[str, str]
