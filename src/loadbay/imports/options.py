"""How a file import should run: given at creation, stored with the import."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt

Mode = Literal["insert", "upsert", "replace"]
OnError = Literal["abort", "skip"]


class ImportOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    auto_commit: bool = Field(
        default=False,
        description="Commit without a further call once validation ends within the error "
        "budget (with on_error=abort: only when every row is valid).",
    )
    mode: Mode = Field(default="insert", description="Load mode of an automatic commit.")
    on_error: OnError = Field(
        default="abort", description="abort: load nothing if any row is invalid; skip: the rest."
    )
    sheet: str | None = Field(
        default=None, max_length=255, description="XLSX sheet to read; default: the first."
    )
    max_errors: PositiveInt | None = Field(
        default=None, description="Error budget: stop validating after this many cell errors."
    )
    max_error_ratio: float | None = Field(
        default=None, gt=0, le=1, description="Error budget: invalid rows / rows seen."
    )
    remember_mapping: bool = Field(
        default=False,
        description="Remember the mapping given with the request for this schema and header "
        "row (mapping memory), as a person's confirmation.",
    )
