"""Pydantic I/O of uploads: the JSON resource beside the tus endpoints."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

from pydantic import BaseModel, Field


class UploadOut(BaseModel):
    id: uuid.UUID
    state: Literal["uploading", "complete", "corrupt"] = Field(
        description="corrupt: complete, but a whole-file digest differs from the declared one"
    )
    kind: Literal["single", "partial", "final"] = Field(
        description="partial and final: tus concatenation"
    )
    size: int | None = Field(description="Upload-Length in bytes; null while deferred")
    offset: int = Field(description="bytes durably stored")
    filename: str | None = Field(description="from Upload-Metadata, cleaned; display only")
    content_type: str | None
    metadata: dict[str, str] = Field(description="every Upload-Metadata pair, decoded as UTF-8")
    md5: str | None = Field(description="of the whole file, once complete (hex)")
    sha256: str | None = Field(description="of the whole file, once complete (hex)")
    expected_md5: str | None = Field(description="declared by the client in Upload-Metadata")
    expected_sha256: str | None = Field(description="declared by the client in Upload-Metadata")
    problem: str | None = Field(description="why the upload is corrupt")
    duplicate_of: uuid.UUID | None = Field(
        description="the earliest other complete upload with the same SHA-256"
    )
    parts: list[uuid.UUID] | None = Field(description="a final upload's partial uploads")
    created_at: dt.datetime
    updated_at: dt.datetime
    completed_at: dt.datetime | None
    expires_at: dt.datetime | None = Field(description="null once complete: it is kept")
    links: dict[str, str]
