"""The schema registry: named Table Schemas with immutable, numbered versions.

Every function takes a ``Session`` and leaves the transaction to its caller
(``loadbay.db.transaction`` or ``session.begin()``).

Concurrency: a write first inserts the schema's row unless it exists (``ON CONFLICT DO
NOTHING``), then locks it (``FOR UPDATE`` on PostgreSQL; on SQLite that insert has already
taken the database's write lock). Writers of one schema therefore take turns, and the second
of two concurrent updates builds on the first one's version instead of failing. The primary
key on (name, version) stays the last guard: should it ever be hit, the writer gets
``SchemaChangedConcurrently`` and nothing of its work is saved.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from loadbay.db import utcnow
from loadbay.errors import ErrorDetail, InvalidInput
from loadbay.schemas.document import (
    SCHEMA_FILE_SUFFIXES,
    canonical_json,
    fingerprint,
    load_schema_file,
    parse_schema,
    schema_from_canonical,
)
from loadbay.schemas.errors import (
    InvalidSchema,
    SchemaChangedConcurrently,
    SchemaExists,
    SchemaNotFound,
    shown,
)
from loadbay.schemas.model import TableSchema
from loadbay.schemas.models import SchemaRecord, SchemaVersion
from loadbay.schemas.names import SCHEMA_NAME


@dataclass(frozen=True, slots=True)
class SchemaInfo:
    """One version of a registered schema."""

    name: str
    version: int
    schema: TableSchema
    fingerprint: str  # sha256 of the canonical JSON document
    created_at: dt.datetime  # when the schema was created (or re-created after a deletion)
    updated_at: dt.datetime  # when this version was registered


def create_schema(session: Session, *, document: Any) -> SchemaInfo:
    """Register a new schema as version 1 (a deleted name continues its numbering).

    ``document`` is a JSON/YAML value or an already parsed ``TableSchema``.
    """
    schema = _as_schema(document)
    record = _claim(session, schema.name)
    if record.latest_version and record.deleted_at is None:
        raise SchemaExists(schema.name)
    return _add_version(session, record, schema)


def update_schema(session: Session, *, name: str, document: Any) -> tuple[SchemaInfo, bool]:
    """PUT semantics: create ``name`` if missing (``True``), else add a version if the
    canonical document changed; an unchanged document adds nothing."""
    schema = _as_named_schema(document, name)
    record = _claim(session, name)
    if not record.latest_version or record.deleted_at is not None:
        return _add_version(session, record, schema), True
    latest = _version_row(session, record, record.latest_version)
    if latest.fingerprint == fingerprint(schema):
        return _info(record, latest), False
    return _add_version(session, record, schema), False


def get_schema(
    session: Session, *, name: str, version: int | None = None, include_deleted: bool = False
) -> SchemaInfo:
    """The latest version, or ``version``. A deleted schema is found only with
    ``include_deleted`` (imports pin a version, which must stay readable)."""
    record = _existing(session, name, include_deleted=include_deleted)
    return _info(
        record, _version_row(session, record, record.latest_version if version is None else version)
    )


def list_schemas(session: Session) -> list[SchemaInfo]:
    """The latest version of every schema that is not deleted, sorted by name."""
    rows = session.execute(
        select(SchemaRecord, SchemaVersion)
        .join(
            SchemaVersion,
            (SchemaVersion.name == SchemaRecord.name)
            & (SchemaVersion.version == SchemaRecord.latest_version),
        )
        .where(SchemaRecord.deleted_at.is_(None))
    ).all()
    # Sorted here, not in SQL: PostgreSQL's collation would order differently from SQLite.
    return sorted((_info(record, row) for record, row in rows), key=lambda info: info.name)


def list_versions(session: Session, *, name: str) -> list[SchemaInfo]:
    record = _existing(session, name)
    rows = session.scalars(
        select(SchemaVersion).where(SchemaVersion.name == name).order_by(SchemaVersion.version)
    )
    return [_info(record, row) for row in rows]


def delete_schema(session: Session, *, name: str) -> None:
    """Hide the schema; its versions stay readable for the imports that pinned them."""
    record = _existing(session, name, lock=True)
    record.deleted_at = utcnow()
    session.flush()


def load_directory(session: Session, directory: Path) -> list[str]:
    """Register every ``*.json``, ``*.yaml`` and ``*.yml`` file of ``directory`` with update
    semantics, so that loading the same files again changes nothing.

    All files are parsed before any is registered: one bad file raises ``InvalidSchema``
    naming it, and the caller's transaction registers nothing. Hidden files (editor swap
    files, macOS ``._`` files) are skipped. Returns the registered names in file order.
    """
    if not directory.is_dir():
        raise InvalidInput(f"{directory}: not a directory (LOADBAY_SCHEMAS_DIR)")
    paths = sorted(
        path
        for path in directory.iterdir()
        if path.suffix.lower() in SCHEMA_FILE_SUFFIXES
        and not path.name.startswith(".")
        and path.is_file()
    )
    loaded = [(path, load_schema_file(path)) for path in paths]
    first_file: dict[str, Path] = {}
    for path, schema in loaded:
        other = first_file.setdefault(schema.name, path)
        if other != path:
            # Both would be applied in turn at every start, adding a version each time.
            raise InvalidSchema(
                [ErrorDetail(path="$.name", message=f"{other.name} defines this schema too")],
                source=str(path),
            )
    for _, schema in loaded:
        update_schema(session, name=schema.name, document=schema)
    return [schema.name for _, schema in loaded]


def _as_schema(document: Any) -> TableSchema:
    return document if isinstance(document, TableSchema) else parse_schema(document)


def _as_named_schema(document: Any, name: str) -> TableSchema:
    """The parsed document, which must be named ``name``; every problem is reported at once."""
    errors: list[ErrorDetail] = []
    schema: TableSchema | None = None
    try:
        schema = _as_schema(document)
    except InvalidSchema as exc:
        errors = list(exc.errors)
    if schema is not None:
        given: Any = schema.name
    else:
        given = document.get("name") if isinstance(document, dict) else None
    if isinstance(given, str) and given != name:
        errors.append(
            ErrorDetail(
                path="$.name",
                message=f"{shown(given)} does not match the schema being updated, {shown(name)}",
            )
        )
    if errors or schema is None:
        raise InvalidSchema(errors)
    return schema


def _claim(session: Session, name: str) -> SchemaRecord:
    """The schema's row, locked for this transaction; created (with ``latest_version`` 0
    until its first version is added) if missing."""
    now = utcnow()
    session.execute(
        _insert_for(session)(SchemaRecord)
        .values(name=name, latest_version=0, created_at=now, updated_at=now)
        .on_conflict_do_nothing(index_elements=[SchemaRecord.name])
    )
    return session.execute(
        select(SchemaRecord)
        .where(SchemaRecord.name == name)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one()


def _insert_for(session: Session) -> Callable[..., Any]:
    """The INSERT construct that has ``on_conflict_do_nothing`` on the session's backend."""
    dialect = session.get_bind().dialect.name
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


def _add_version(session: Session, record: SchemaRecord, schema: TableSchema) -> SchemaInfo:
    name = record.name  # a failed flush expires ``record``; reading it then would query again
    now = utcnow()
    if not record.latest_version or record.deleted_at is not None:
        # Created, or re-created: a new life, which continues the version numbering.
        record.deleted_at = None
        record.created_at = now
    record.latest_version += 1
    record.updated_at = now
    row = SchemaVersion(
        name=name,
        version=record.latest_version,
        document=canonical_json(schema),
        fingerprint=fingerprint(schema),
        created_at=now,
    )
    session.add(row)
    try:
        session.flush()
    except IntegrityError as exc:
        raise SchemaChangedConcurrently(name) from exc
    return _info(record, row, schema)


def _existing(
    session: Session, name: str, *, include_deleted: bool = False, lock: bool = False
) -> SchemaRecord:
    # A name no schema can have is not looked up: it might hold bytes (NUL) the database
    # refuses even in a query.
    record = (
        session.get(SchemaRecord, name, with_for_update=lock)
        if SCHEMA_NAME.fullmatch(name)
        else None
    )
    if record is None or not record.latest_version:
        raise SchemaNotFound(f"there is no schema named {shown(name)}")
    if record.deleted_at is not None and not include_deleted:
        raise SchemaNotFound(f"schema {shown(name)} was deleted")
    return record


def _version_row(session: Session, record: SchemaRecord, version: int) -> SchemaVersion:
    row = session.get(SchemaVersion, (record.name, version))
    if row is None:
        raise SchemaNotFound(
            f"schema {shown(record.name)} has no version {version} "
            f"(the latest is {record.latest_version})"
        )
    return row


def _info(
    record: SchemaRecord, row: SchemaVersion, schema: TableSchema | None = None
) -> SchemaInfo:
    return SchemaInfo(
        name=row.name,
        version=row.version,
        schema=schema or schema_from_canonical(row.document),
        fingerprint=row.fingerprint,
        created_at=record.created_at,
        updated_at=row.created_at,
    )
