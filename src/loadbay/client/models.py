"""Typed views of the API's resources, as the client reads them.

They are the client's own (not the server's Pydantic models) so that ``loadbay.client``
imports nothing of the server: no polars, no SQLAlchemy. Unknown fields are kept
(``extra="allow"``) so that a newer server's additions do not break an older client.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

Mode = Literal["insert", "upsert", "replace"]
OnError = Literal["abort", "skip"]

# States in which no job works on the import: it waits for a person (or ended).
RESTING_STATES = frozenset({"awaiting_mapping", "validated"})
FINAL_STATES = frozenset({"completed", "failed", "cancelled", "reverted"})


class _Resource(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class CellError(_Resource):
    """One problem of one cell (or of a whole record when ``column`` is None)."""

    row: int
    column: str | None = None
    value: str | None = None
    rule: str
    message: str


class SchemaRef(_Resource):
    name: str
    version: int


class ImportCounts(_Resource):
    rows_total: int = 0
    rows_valid: int = 0
    rows_invalid: int = 0
    rows_loaded: int = 0
    errors_total: int = 0
    errors_stored: int = 0


class ProgressDetail(_Resource):
    fraction: float = 0.0
    rows_per_second: float | None = None
    eta_seconds: float | None = None
    bytes_total: int = 0
    bytes_processed: int = 0
    rows_estimate: int | None = None


class Failure(_Resource):
    type: str
    detail: str


class Analysis(_Resource):
    format: str
    compression: str | None = None
    encoding: str | None = None
    delimiter: str | None = None
    header_row: int | None = None
    sheet: str | None = None
    columns: list[str] = Field(default_factory=list)


class FieldMatch(_Resource):
    field: str
    required: bool = False
    column: str | None = None
    confidence: float = 0.0
    reason: str | None = None
    candidates: list[Any] = Field(default_factory=list)


class MappingProposal(_Resource):
    proposal: list[FieldMatch] = Field(default_factory=list)
    unmapped_columns: list[str] = Field(default_factory=list)
    duplicate_columns: list[str] = Field(default_factory=list)
    missing_required: list[str] = Field(default_factory=list)
    from_memory: bool = False
    problems: list[dict[str, Any]] = Field(default_factory=list)


class ImportOptions(_Resource):
    """How a file import runs (``POST /api/imports`` with an ``upload_id``)."""

    auto_commit: bool = False
    mode: Mode = "insert"
    on_error: OnError = "abort"
    sheet: str | None = None
    max_errors: int | None = None
    max_error_ratio: float | None = None
    remember_mapping: bool = False


class Import(_Resource):
    """An import: its state, counts, progress and links (``GET /api/imports/{id}``)."""

    id: str
    state: str
    schema_: SchemaRef = Field(alias="schema")
    table: str
    source: str
    mode: str
    on_error: str
    counts: ImportCounts
    progress: float = 0.0
    progress_detail: ProgressDetail | None = None
    budget_exceeded: bool = False
    upload_id: str | None = None
    file_name: str | None = None
    follow_up_of: str | None = None
    options: ImportOptions | None = None
    analysis: Analysis | None = None
    mapping: dict[str, str] | None = None
    mapping_proposal: MappingProposal | None = None
    cancel_requested: bool = False
    failure: Failure | None = None
    first_errors: list[CellError] = Field(default_factory=list)
    created_at: dt.datetime
    updated_at: dt.datetime
    finished_at: dt.datetime | None = None
    links: dict[str, str] = Field(default_factory=dict)

    @property
    def is_final(self) -> bool:
        return self.state in FINAL_STATES

    @property
    def is_resting(self) -> bool:
        return self.state in RESTING_STATES


class ImportEvent(NamedTuple):
    """One Server-Sent Event of ``/api/imports/{id}/events``: ``state`` or ``progress``."""

    event: str
    import_: Import


class Schema(_Resource):
    """One version of a registered schema; ``document`` is the canonical Table Schema."""

    name: str
    version: int
    fingerprint: str
    created_at: dt.datetime
    updated_at: dt.datetime
    document: dict[str, Any] = Field(alias="schema")
    links: dict[str, str] = Field(default_factory=dict)


class Upload(_Resource):
    """An upload's JSON resource (``GET /api/uploads/{id}``)."""

    id: str
    state: str
    kind: str = "single"
    size: int | None = None
    offset: int = 0
    filename: str | None = None
    content_type: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)
    md5: str | None = None
    sha256: str | None = None
    expected_md5: str | None = None
    expected_sha256: str | None = None
    problem: str | None = None
    duplicate_of: str | None = None
    parts: list[str] | None = None
    created_at: dt.datetime
    updated_at: dt.datetime
    completed_at: dt.datetime | None = None
    expires_at: dt.datetime | None = None
    links: dict[str, str] = Field(default_factory=dict)


class CellEdit(_Resource):
    """A fix of one cell of a validated file import; ``value=None`` empties it."""

    row: int
    field: str
    value: str | None


class RowsPatchResult(_Resource):
    """The answer of ``PATCH …/rows``: per edited row its errors now, and the import."""

    rows: dict[int, list[CellError]]
    import_: Import = Field(alias="import")
