"""Errors of the destinations (SQL and HTTP). Like every domain error they carry no HTTP."""

from __future__ import annotations

from dataclasses import dataclass

from loadbay.errors import Conflict, ErrorDetail, InvalidInput, LoadbayError
from loadbay.schemas.errors import shown

_SUMMARISED = 3


@dataclass(frozen=True, slots=True)
class ColumnMismatch:
    """One way an existing target table differs from what the schema needs."""

    column: str
    expected: str
    actual: str

    def message(self) -> str:
        return f"column {shown(self.column)}: expected {self.expected}, found {self.actual}"


class TableMismatch(Conflict):
    """The target table exists but cannot take rows of this schema as it is.

    Only additions that cannot break existing rows (new nullable columns) are made
    automatically; anything else needs a person to migrate the table or the schema.
    """

    slug = "table-mismatch"
    title = "Target table does not match the schema"

    def __init__(self, table: str, mismatches: list[ColumnMismatch]) -> None:
        parts = [m.message() for m in mismatches]
        summary = "; ".join(parts[:_SUMMARISED])
        if len(parts) > _SUMMARISED:
            summary += f"; and {len(parts) - _SUMMARISED} more"
        super().__init__(
            f"table {shown(table)} does not match the schema: {summary}",
            errors=[
                ErrorDetail(m.message(), column=m.column, rule="table-mismatch") for m in mismatches
            ],
            table=table,
        )
        self.table = table
        self.mismatches = mismatches


class LoadConflict(Conflict):
    """Rows clash on a primary key or unique column at load time; nothing was loaded.

    Validation checks keys against the table beforehand, so this means another writer added
    conflicting rows since, or the import repeats a key. ``errors`` names the rows found.
    """

    slug = "load-conflict"
    title = "Rows conflict with the target table"

    def __init__(
        self, table: str, conflicts: list[ErrorDetail], *, cause: BaseException | None = None
    ) -> None:
        rows = len({c.row for c in conflicts}) or "some"
        detail = (
            f"nothing was loaded into table {shown(table)}: {rows} row(s) have a key that "
            "exists in the table already or repeats within the import"
        )
        reported = next(iter(str(cause).splitlines()), "") if cause is not None else ""
        if not conflicts and reported:
            detail += f" (the database reported: {reported})"
        super().__init__(detail, errors=conflicts, table=table)
        self.table = table


class UpsertRequiresPrimaryKey(InvalidInput):
    slug = "upsert-requires-primary-key"
    title = "Upsert needs a primary key"

    def __init__(self, schema_name: str) -> None:
        super().__init__(
            f"schema {shown(schema_name)} has no primaryKey, so rows cannot be matched for "
            "an upsert; add a primaryKey to the schema or load with mode 'insert' or 'replace'"
        )


class UnstorableValue(InvalidInput):
    """A value the target database cannot hold at all (PostgreSQL text cannot contain NUL)."""

    slug = "unstorable-value"
    title = "Value cannot be stored"

    def __init__(self, detail: str, errors: list[ErrorDetail]) -> None:
        super().__init__(detail, errors=errors)


class DestinationSecretMissing(InvalidInput):
    """The schema's destination names a secret that LOADBAY_DESTINATION_SECRETS lacks."""

    slug = "destination-secret-missing"
    title = "Destination secret not configured"

    def __init__(self, name: str) -> None:
        super().__init__(
            f"the HTTP destination authenticates with secret {shown(name)}, which is not "
            "configured: add it to LOADBAY_DESTINATION_SECRETS; nothing was delivered",
            secret=name,
        )


class DestinationFailed(LoadbayError):
    """An HTTP destination answered a batch with an error, or never answered it (retries
    exhausted). Batches acknowledged before it stay delivered: ``delivered`` names them."""

    slug = "destination-failed"
    title = "HTTP destination failed"

    def __init__(self, detail: str, *, batch: str, status: int | None, delivered: str) -> None:
        super().__init__(detail, batch=batch, upstream_status=status, delivered=delivered)
        self.batch = batch
        self.status = status
        self.delivered = delivered


class DestinationRejected(InvalidInput):
    """on_error=abort and the endpoint rejected records of a batch: delivery stopped there."""

    slug = "destination-rejected"
    title = "HTTP destination rejected records"

    def __init__(self, detail: str, *, batch: str, rejected: int, delivered: str) -> None:
        super().__init__(detail, batch=batch, rejected=rejected, delivered=delivered)
        self.batch = batch
        self.rejected = rejected
        self.delivered = delivered
