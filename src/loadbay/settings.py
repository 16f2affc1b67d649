"""One typed settings object, read from ``LOADBAY_*`` environment variables.

Every field is documented in docs/configuration.md; a test fails when one is missing there.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Literal

from limits import parse_many
from pydantic import (
    Field,
    NonNegativeFloat,
    PositiveFloat,
    PositiveInt,
    SecretStr,
    field_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LOADBAY_", extra="ignore", frozen=True)

    data_dir: Path = Field(
        default=Path("var"),
        description="Directory holding the embedded SQLite stores and uploaded files.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the metadata store; default: SQLite file in data_dir.",
    )
    target_database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the database imports load into; default: data_dir SQLite.",
    )
    schemas_dir: Path | None = Field(
        default=None,
        description="Directory of Table Schema files (.json, .yaml, .yml) registered at start.",
    )
    max_records: PositiveInt = Field(
        default=1_000_000, description="Most records one JSON import request may carry."
    )
    max_body_bytes: PositiveInt = Field(
        default=256 * 1024 * 1024,
        description="Largest JSON document accepted (POST /api/imports, schemas), in bytes.",
    )
    max_control_body_bytes: PositiveInt = Field(
        default=1024 * 1024,
        description="Largest body of every other non-upload route (mapping, edits, …), in bytes.",
    )
    max_stored_errors: PositiveInt = Field(
        default=10_000,
        description="Cell errors stored per import (counts stay exact beyond it).",
    )
    response_errors: PositiveInt = Field(
        default=20, description="Cell errors included in an import resource as first_errors."
    )
    max_errors: PositiveInt | None = Field(
        default=None,
        description="Default error budget: stop validating after this many cell errors.",
    )
    max_error_ratio: float | None = Field(
        default=None,
        gt=0,
        le=1,
        description="Default error budget: stop when invalid rows / rows seen passes this.",
    )
    idempotency_ttl_seconds: PositiveInt = Field(
        default=24 * 3600, description="How long an Idempotency-Key and its response are kept."
    )
    log_level: str = Field(default="info", description="Log level: debug, info, warning, error.")
    max_upload_bytes: PositiveInt = Field(
        default=16 * 1024**3, description="Largest tus upload accepted (Tus-Max-Size), in bytes."
    )
    max_multipart_bytes: PositiveInt = Field(
        default=100 * 1024**2,
        description="Largest multipart/form-data upload request accepted, in bytes.",
    )
    upload_expiry: PositiveInt = Field(
        default=24 * 3600,
        description="Seconds an unfinished upload lives after its last change (Upload-Expires).",
    )
    upload_sweep_interval: PositiveInt = Field(
        default=300, description="Seconds between two sweeps of expired uploads."
    )
    upload_checkpoint_bytes: PositiveInt = Field(
        default=64 * 1024**2,
        description="Bytes of one PATCH body made durable (fsync + offset) between checkpoints.",
    )
    upload_lock_wait: NonNegativeFloat = Field(
        default=2.0,
        description="Seconds a request waits for an upload another request writes before 423.",
    )
    trust_proxy: bool = Field(
        default=False,
        description="Build absolute URLs from X-Forwarded-Proto/X-Forwarded-Host and take the "
        "client address from X-Forwarded-For.",
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Origins allowed to call the API from a browser (comma-separated, or *).",
    )

    log_format: Literal["json", "console"] = Field(
        default="json", description="Log lines as ECS JSON (json) or human-readable (console)."
    )
    redis_url: str | None = Field(
        default=None,
        description="Redis URL: rate-limit counters shared by every server process.",
    )
    receive_timeout: PositiveFloat = Field(
        default=60.0,
        description="Seconds a request body may go without any data before it gets 408.",
    )
    rate_limit_default: str = Field(
        default="600/minute",
        description="Rate-limit policy of every route group without its own, per key or IP.",
    )
    rate_limits: dict[str, str] = Field(
        default_factory=dict,
        description='Policies per route group as JSON, e.g. {"imports": "60/minute"}.',
    )
    auth: Literal["local", "required"] = Field(
        default="local",
        description="required: every API request needs a key; local: loopback-only, no key.",
    )
    session_secret: SecretStr | None = Field(
        default=None,
        description="Key signing session cookies and CSRF tokens; default: random per process.",
    )
    admin_password: SecretStr | None = Field(
        default=None,
        description="Password the page may sign in with instead of a key (admin scope).",
    )
    session_ttl: PositiveInt = Field(
        default=8 * 3600, description="Seconds a page session lasts after sign-in."
    )

    executor: Literal["local", "celery"] = Field(
        default="local",
        description="Who runs jobs: local (threads in the server process) or celery (workers "
        "started with `loadbay worker`, Redis broker at redis_url).",
    )
    job_workers: PositiveInt = Field(
        default=2, description="Jobs run at once by one process (local threads, Celery pool)."
    )
    job_lease_seconds: PositiveFloat = Field(
        default=30.0,
        description="Seconds a job's lease lasts without a heartbeat; a job whose process died "
        "runs again once it lapses.",
    )
    job_poll_interval: PositiveFloat = Field(
        default=1.0, description="Seconds between two looks at the job queue when it is idle."
    )
    job_max_attempts: PositiveInt = Field(
        default=5, description="Attempts of a job that keeps dying before its import fails."
    )
    celery_visibility_timeout: PositiveInt = Field(
        default=12 * 3600,
        description="Seconds before Redis re-delivers an unacknowledged Celery message; longer "
        "than the longest job.",
    )
    celery_queue: str = Field(
        default="loadbay",
        min_length=1,
        description="Celery queue jobs are sent to and `loadbay worker` consumes.",
    )
    preview_rows: PositiveInt = Field(
        default=50, description="Sample rows read at analysis and shown by the preview."
    )
    auto_map_confidence: float = Field(
        default=0.9,
        gt=0,
        le=1,
        description="Confidence every required field needs for an import to skip the mapping step.",
    )
    progress_interval: PositiveFloat = Field(
        default=0.5, description="Seconds between two progress writes of a running job."
    )
    bulk_load_empty_tables: bool = Field(
        default=True,
        description="Load an insert into an empty table directly, keys built after the "
        "rows; until the load commits the table (PostgreSQL) or the database's write lock "
        "(SQLite) is held.",
    )
    webhook_secret_grace: PositiveInt = Field(
        default=24 * 3600,
        description="Seconds a rotated webhook secret keeps signing beside the new one.",
    )
    events_poll_interval: PositiveFloat = Field(
        default=0.25, description="Seconds between two checks of an import by its event stream."
    )

    outbound_connect_timeout: PositiveFloat = Field(
        default=5.0, description="Seconds an outbound request may take to connect (TCP + TLS)."
    )
    outbound_read_timeout: PositiveFloat = Field(
        default=30.0, description="Seconds an outbound request may wait for the next bytes."
    )
    outbound_write_timeout: PositiveFloat = Field(
        default=30.0, description="Seconds an outbound request may wait to send the next bytes."
    )
    outbound_pool_timeout: PositiveFloat = Field(
        default=5.0, description="Seconds an outbound request may wait for a free connection."
    )
    outbound_max_connections: PositiveInt = Field(
        default=20, description="Outbound connections open at once per process."
    )
    outbound_max_keepalive: PositiveInt = Field(
        default=10, description="Idle outbound connections kept open for reuse per process."
    )
    outbound_retry_attempts: PositiveInt = Field(
        default=5, description="Attempts of an outbound request, the first one included."
    )
    outbound_retry_base: PositiveFloat = Field(
        default=0.5,
        description="Seconds of the first outbound retry backoff (doubling, full jitter); "
        "also the least wait after a Retry-After.",
    )
    outbound_retry_max_wait: PositiveFloat = Field(
        default=30.0, description="Longest wait between two outbound attempts, in seconds."
    )
    outbound_max_redirects: int = Field(
        default=5, ge=0, description="Redirects an outbound request follows (0: none)."
    )
    outbound_allow: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="CIDRs outbound requests may reach although private, loopback or "
        "link-local (comma-separated), e.g. 10.20.0.0/16.",
    )
    source_max_pages: PositiveInt = Field(
        default=10_000,
        description="Pages one run of a REST source may fetch; a source with more fails "
        "(a pagination that never ends) unless its pagination.max_pages stops it earlier.",
    )

    destination_secrets: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="Secrets HTTP destinations authenticate with, by the name schemas use, as "
        'JSON, e.g. {"crm": "token"}.',
    )

    @field_validator("outbound_allow", mode="before")
    @classmethod
    def _split_outbound_allow(cls, value: object) -> object:
        if isinstance(value, str):
            return [cidr.strip() for cidr in value.split(",") if cidr.strip()]
        return value

    @field_validator("outbound_allow")
    @classmethod
    def _check_outbound_allow(cls, value: list[str]) -> list[str]:
        # strict: "10.0.0.1/8" is refused rather than quietly widened to 10.0.0.0/8.
        return [str(ipaddress.ip_network(cidr.strip(), strict=True)) for cidr in value]

    @field_validator("rate_limit_default")
    @classmethod
    def _check_rate_limit(cls, value: str) -> str:
        parse_many(value)  # raises ValueError naming the bad policy
        return value

    @field_validator("rate_limits")
    @classmethod
    def _check_rate_limits(cls, value: dict[str, str]) -> dict[str, str]:
        for policy in value.values():
            parse_many(policy)
        return value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    def metadata_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'loadbay.sqlite').resolve()}"

    def target_url(self) -> str:
        return self.target_database_url or f"sqlite:///{(self.data_dir / 'data.sqlite').resolve()}"

    def bulk_loads(self) -> bool:
        """``bulk_load_empty_tables``, except into the metadata store's own SQLite file: a
        load holding its write lock would hold up the import's own progress writes."""
        shared = self.target_url() == self.metadata_url() and self.target_url().startswith("sqlite")
        return self.bulk_load_empty_tables and not shared
