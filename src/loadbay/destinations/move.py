"""Moving staged rows into the target table, and saying which rows clash when that fails.

Runs inside the write transaction opened by ``SqlDestination.load``; nothing here commits.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from loadbay.destinations.connection import TargetConnection
from loadbay.destinations.ddl import Quote
from loadbay.destinations.errors import LoadConflict
from loadbay.destinations.frames import IMPORT_ID_COLUMN, ROW_COLUMN
from loadbay.errors import ErrorDetail
from loadbay.schemas.errors import shown
from loadbay.schemas.model import TableSchema

LoadMode = Literal["insert", "upsert", "replace"]

_ROWS_PER_KEY = 10
_SHOWN_CONFLICTS = 20


@dataclass(frozen=True, slots=True)
class Key:
    columns: list[str]
    rule: Literal["primaryKey", "unique"]


@dataclass(frozen=True, slots=True)
class Move:
    conn: TargetConnection
    schema: TableSchema
    stage: str

    def apply(self, mode: LoadMode, import_id: uuid.UUID) -> None:
        """Put every staged row into the target, or raise ``LoadConflict`` having changed
        nothing that the caller's rollback would not undo."""
        if mode == "replace":
            self.conn.run(f"DELETE FROM {self._target}")
        if mode == "upsert" and self._repeats_primary_key():
            # PostgreSQL refuses to update one row twice in a statement, SQLite would let
            # the last row win; refuse on both rather than pick a winner silently.
            raise LoadConflict(self.schema.table_name, self.conflicts(mode))
        try:
            with self.conn.guard():
                self.conn.run(self._insert_sql(mode), [self.conn.import_id_param(import_id)])
        except Exception as error:
            if not self.conn.is_unique_violation(error):
                raise
            raise LoadConflict(self.schema.table_name, self.conflicts(mode), cause=error) from error

    def repeats(self) -> list[ErrorDetail]:
        """Rows of ``stage`` whose keys repeat within it (the whole check when ``stage`` is
        the target itself, filled from empty by one import)."""
        found = [
            error
            for key in self._keys()
            for error in self._rows(self._repeats_sql(key), key, "repeats within this import")
        ]
        found.sort(key=lambda e: e.row or 0)
        return found[:_SHOWN_CONFLICTS]

    def conflicts(self, mode: LoadMode) -> list[ErrorDetail]:
        """Staged rows whose keys repeat within the import or exist in the table already."""
        found: list[ErrorDetail] = []
        for key in self._keys():
            found += self._rows(self._repeats_sql(key), key, "repeats within this import")
            updated_in_place = mode == "upsert" and key.rule == "primaryKey"
            if not updated_in_place:
                found += self._rows(self._exists_sql(key, mode), key, "exists in the table already")
        found.sort(key=lambda e: e.row or 0)
        return found[:_SHOWN_CONFLICTS]

    @property
    def _target(self) -> str:
        return self.conn.quote(self.schema.table_name)

    def _keys(self) -> list[Key]:
        keys = [Key(self.schema.primary_key, "primaryKey")] if self.schema.primary_key else []
        keys += [
            Key([f.name], "unique")
            for f in self.schema.fields
            if f.constraints.unique and self.schema.primary_key != [f.name]
        ]
        return keys

    def _insert_sql(self, mode: LoadMode) -> str:
        q = self.conn.quote
        fields = list(map(q, self.schema.field_names))
        columns = [*fields, q(IMPORT_ID_COLUMN), q(ROW_COLUMN)]
        values = [*fields, self.conn.placeholder, q(ROW_COLUMN)]
        # "WHERE true" keeps SQLite from reading ON CONFLICT as part of a join.
        sql = (
            f"INSERT INTO {self._target} ({', '.join(columns)}) "
            f"SELECT {', '.join(values)} FROM {q(self.stage)} WHERE true"
        )
        if mode != "upsert":
            return sql
        key = self.schema.primary_key
        updated = [c for c in self.schema.field_names if c not in key]
        # The row now belongs to this import, which is what makes a retry see it as loaded.
        updated += [IMPORT_ID_COLUMN, ROW_COLUMN]
        assignments = ", ".join(f"{q(c)} = excluded.{q(c)}" for c in updated)
        return f"{sql} ON CONFLICT ({', '.join(map(q, key))}) DO UPDATE SET {assignments}"

    def _repeats_primary_key(self) -> bool:
        key = ", ".join(map(self.conn.quote, self.schema.primary_key))
        sql = f"SELECT 1 FROM {self.conn.quote(self.stage)} GROUP BY {key} HAVING count(*) > 1"
        return bool(self.conn.fetch(f"{sql} LIMIT 1"))

    def _select_staged(self, key: Key, condition: str) -> str:
        q = self.conn.quote
        columns = ", ".join(f"s.{q(c)}" for c in [ROW_COLUMN, *key.columns])
        return (
            f"SELECT {columns} FROM {q(self.stage)} AS s WHERE EXISTS ({condition}) "
            f"ORDER BY s.{q(ROW_COLUMN)} LIMIT {_ROWS_PER_KEY}"
        )

    def _repeats_sql(self, key: Key) -> str:
        q = self.conn.quote
        same = _equal("o", "s", key.columns, q)
        other_row = f"o.{q(ROW_COLUMN)} <> s.{q(ROW_COLUMN)}"
        return self._select_staged(
            key, f"SELECT 1 FROM {q(self.stage)} AS o WHERE {same} AND {other_row}"
        )

    def _exists_sql(self, key: Key, mode: LoadMode) -> str:
        q = self.conn.quote
        condition = f"SELECT 1 FROM {self._target} AS t WHERE {_equal('t', 's', key.columns, q)}"
        if mode == "upsert":
            # The row with the same primary key is updated, not a clash.
            condition += f" AND NOT ({_equal('t', 's', self.schema.primary_key, q)})"
        return self._select_staged(key, condition)

    def _rows(self, sql: str, key: Key, what: str) -> list[ErrorDetail]:
        return [_conflict(key, row, values, what) for row, *values in self.conn.fetch(sql)]


def _equal(left: str, right: str, columns: Sequence[str], quote: Quote) -> str:
    return " AND ".join(f"{left}.{quote(c)} = {right}.{quote(c)}" for c in columns)


def _conflict(key: Key, row: int, values: Sequence[Any], what: str) -> ErrorDetail:
    shown_values = [_plain(v) for v in values]
    names = ", ".join(map(shown, key.columns))
    message = f"key ({names}) = ({', '.join(map(shown, shown_values))}) {what}"
    if len(key.columns) == 1:
        return ErrorDetail(
            message, row=row, column=key.columns[0], value=shown_values[0], rule=key.rule
        )
    return ErrorDetail(
        message, row=row, value=dict(zip(key.columns, shown_values, strict=True)), rule=key.rule
    )


def _plain(value: Any) -> Any:
    """A value as JSON can carry it (dates as ISO text; SQLite's storage forms as they are)."""
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, uuid.UUID) or (isinstance(value, float) and not math.isfinite(value)):
        return str(value)
    return value
