"""Where validated rows go: SQL databases (SQLite, PostgreSQL)."""

from loadbay.destinations.errors import (
    ColumnMismatch,
    LoadConflict,
    TableMismatch,
    UnstorableValue,
    UpsertRequiresPrimaryKey,
)
from loadbay.destinations.sql import LoadMode, SqlDestination

__all__ = [
    "ColumnMismatch",
    "LoadConflict",
    "LoadMode",
    "SqlDestination",
    "TableMismatch",
    "UnstorableValue",
    "UpsertRequiresPrimaryKey",
]
