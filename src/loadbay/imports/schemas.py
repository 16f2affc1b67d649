"""Pydantic I/O models of the imports API (they are what OpenAPI documents)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt

from loadbay.imports.options import ImportOptions
from loadbay.imports.states import ImportState
from loadbay.schemas.mapping import FieldMatch
from loadbay.sources.schemas import SourceOut


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


class FileImportIn(BaseModel):
    """Import a completed upload: it is analysed, mapped, validated and committed by jobs."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    upload_id: uuid.UUID = Field(description="A complete upload (tus or multipart).")
    schema_name: str = Field(alias="schema", description="Name of a registered schema.")
    schema_version: PositiveInt | None = Field(
        default=None, description="Pin a schema version; default: the latest."
    )
    mapping: dict[str, str] | None = Field(
        default=None,
        description="{schema field: source column}; default: proposed by auto-mapping (the "
        "import waits in awaiting_mapping unless every required field matches confidently).",
    )
    options: ImportOptions = Field(default_factory=ImportOptions)
    follow_up_of: uuid.UUID | None = Field(
        default=None, description="The import whose fixed failed rows this file holds."
    )


class MappingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mapping: dict[str, str] = Field(description="{schema field: source column}")
    remember: bool = Field(
        default=True, description="Remember it for this schema and similar header rows."
    )


class CommitIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: Literal["insert", "upsert", "replace"] = "insert"
    on_error: Literal["abort", "skip"] = Field(
        default="abort",
        description="abort: all-or-nothing (refused while rows are invalid); skip: load the "
        "valid rows only.",
    )


class CellEditIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    row: PositiveInt = Field(description="1-based data row, as errors report it.")
    field: str = Field(description="Schema field.")
    value: str | None = Field(description="The new text; null empties the cell.")


class RowsPatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    edits: list[CellEditIn] = Field(min_length=1, max_length=1000)


class RowsPatchOut(BaseModel):
    rows: dict[str, list[CellErrorOut]] = Field(
        description="Per edited row (stored ones): its errors now; empty: the row is valid."
    )
    import_: ImportOut = Field(alias="import")

    model_config = ConfigDict(populate_by_name=True)


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


class Analysis(BaseModel):
    """How the file is read, found from its content."""

    format: str
    compression: str | None
    encoding: str | None
    delimiter: str | None
    header_row: int | None
    sheet: str | None
    columns: list[str]


class MappingOut(BaseModel):
    proposal: list[FieldMatch] = Field(description="Per schema field: column, confidence, why.")
    unmapped_columns: list[str]
    duplicate_columns: list[str]
    missing_required: list[str]
    from_memory: bool
    problems: list[dict[str, Any]] = Field(
        description="What is wrong with a mapping given at creation (then the import waits)."
    )


class Progress(BaseModel):
    fraction: float = Field(ge=0, le=1, description="Of the current step.")
    rows_per_second: float | None
    eta_seconds: float | None
    bytes_total: int
    bytes_processed: int
    rows_estimate: int | None


class ImportOut(BaseModel):
    id: uuid.UUID
    state: ImportState
    schema_: SchemaRef = Field(alias="schema")
    table: str
    source: str = Field(description="records (inline), upload, url or rest.")
    mode: str
    on_error: str
    counts: ImportCounts
    progress: float = Field(ge=0, le=1, description="Of the current step.")
    progress_detail: Progress | None = Field(description="File imports: rates, ETA, bytes.")
    budget_exceeded: bool
    upload_id: uuid.UUID | None
    file_name: str | None
    follow_up_of: uuid.UUID | None
    options: ImportOptions | None
    analysis: Analysis | None
    mapping: dict[str, str] | None
    mapping_proposal: MappingOut | None
    cancel_requested: bool
    failure: Failure | None
    first_errors: list[CellErrorOut]
    created_at: dt.datetime
    created_by: str | None = Field(
        default=None,
        description='Who asked for the import: "key:<name>" (an API key, or a session signed in '
        'with one), "admin" (a session signed in with the admin password) or "local" (a '
        'local-mode server without a key), "cli" (`loadbay import`); null for imports made '
        "before this was recorded.",
    )
    updated_at: dt.datetime
    finished_at: dt.datetime | None
    links: dict[str, str]
    source_detail: SourceOut | None = Field(
        default=None, description="URL and REST sources: the source (redacted) and its fetch."
    )

    model_config = ConfigDict(populate_by_name=True)


class ImportPage(BaseModel):
    items: list[ImportOut]
    next_cursor: str | None
    links: dict[str, str]


class StoredRow(BaseModel):
    row: int
    values: dict[str, str | None]
    errors: list[CellErrorOut]


class RowPage(BaseModel):
    items: list[StoredRow]
    rows_invalid: int
    next_cursor: str | None
    links: dict[str, str]


class ErrorPage(BaseModel):
    items: list[CellErrorOut]
    errors_total: int
    errors_stored: int
    next_cursor: str | None
    links: dict[str, str]
