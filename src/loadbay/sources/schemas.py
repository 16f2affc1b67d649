"""Pydantic I/O models of source imports (what OpenAPI documents)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PositiveInt

from loadbay.imports.options import ImportOptions
from loadbay.sources.config import SourceConfig


class SourceImportIn(BaseModel):
    """Fetch a file from a URL, or records from a REST API, then import it like an upload:
    a job fetches it, then the analyse, validate and commit jobs follow."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    source: SourceConfig = Field(description="Where the data comes from.")
    schema_name: str = Field(alias="schema", description="Name of a registered schema.")
    schema_version: PositiveInt | None = Field(
        default=None, description="Pin a schema version; default: the latest."
    )
    mapping: dict[str, str] | None = Field(
        default=None,
        description="{schema field: source column}; default: proposed by auto-mapping.",
    )
    options: ImportOptions = Field(default_factory=ImportOptions)


class SourceOut(BaseModel):
    type: str = Field(description="url or rest")
    config: dict[str, Any] = Field(description="The source as given, secrets redacted.")
    source_key: str | None = Field(
        description="REST: identifies the source across runs (its incremental cursor)."
    )
    pages_fetched: int
    records_fetched: int
    bytes_fetched: int
    cursor_from: str | int | float | None = Field(
        description="Incremental REST sources: the cursor value this run sent."
    )
    cursor_to: str | int | float | None = Field(
        description="The highest cursor value this run saw; sent by the next run once this "
        "import completes."
    )
