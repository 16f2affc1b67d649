"""One checked-out DBAPI connection to the load target, seen through a dialect-neutral API.

The destination drives transactions itself (staging, then one short write transaction), so
it works on the driver connection rather than through SQLAlchemy's transaction layer; the
engine is used for pooling, dialect detection and identifier quoting.
"""

from __future__ import annotations

import hashlib
import uuid
from abc import ABC, abstractmethod
from collections.abc import Collection, Sequence
from contextlib import AbstractContextManager
from typing import Any, ClassVar

import polars as pl

from loadbay.destinations.ddl import Quote, TableShape, TypeMap, temp_columns_sql
from loadbay.schemas.model import SchemaField

STAGE_PREFIX = "_loadbay_stage_"


class RowWriter(ABC):
    """Batches into one table. ``encode`` turns a batch into what ``write`` sends and touches
    no connection, so that another thread can encode the next batch while the connection
    writes this one (``SqlDestination`` encodes in the thread that produces the batches)."""

    @abstractmethod
    def encode(self, frame: pl.DataFrame) -> Any: ...

    @abstractmethod
    def write(self, encoded: Any) -> None: ...


class TargetConnection(ABC):
    """A target connection in manual transaction mode.

    Statements take parameters in ``placeholder`` style. Identifiers in statements come only
    from ``quote`` (the engine's identifier preparer).
    """

    placeholder: ClassVar[str]
    types: ClassVar[TypeMap]
    # Whether an insert into an empty table may go in directly with its keys suspended
    # (``suspend_keys``/``restore_keys``), which only pays where keys can be dropped.
    loads_empty_tables_directly: ClassVar[bool] = False
    # Whether new tables get their unique keys as separate indexes (``unique_index_sql``),
    # and a move into an empty table drops them and builds them again after the rows.
    separate_unique_indexes: ClassVar[bool] = False
    rebuilds_keys_in_move: ClassVar[bool] = False

    def __init__(self, quote: Quote) -> None:
        self.quote = quote
        self.temp_tables: list[str] = []

    @abstractmethod
    def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...

    @abstractmethod
    def run(self, sql: str, params: Sequence[Any] = ()) -> None: ...

    @abstractmethod
    def commit(self) -> None: ...

    @abstractmethod
    def rollback(self) -> None: ...

    @abstractmethod
    def release(self) -> None:
        """Leave the driver connection as it was found: no transaction, no temp tables."""

    @abstractmethod
    def describe(self, table: str) -> TableShape | None:
        """The table as the database sees it, or None when there is no such table."""

    @abstractmethod
    def begin_staging(self) -> None:
        """Start filling temp tables (which never touch the target)."""

    @abstractmethod
    def end_staging(self) -> None: ...

    @abstractmethod
    def begin_write(self, lock_key: int) -> None:
        """Enter the transaction that changes the target, serialised with any other writer
        holding the same ``lock_key``; reads after this see every committed change."""

    def lock(self, lock_key: int) -> None:
        """Inside the write transaction, serialise with other holders of ``lock_key`` too
        (with ``loads_empty_tables_directly`` only)."""
        raise NotImplementedError

    @abstractmethod
    def writer(
        self, table: str, import_id: uuid.UUID | None = None
    ) -> AbstractContextManager[RowWriter]:
        """A writer of rows into ``table`` (a temp table of ``create_temp_table``, or, with
        ``import_id``, the target table of a direct load, every row's import id column set
        to it), from frames whose columns are named as the table's. Used inside the write
        transaction; a writer left by an exception needs that transaction rolled back."""

    def suspend_keys(self, table: str, *, ascending: Collection[str] = ()) -> list[tuple[str, str]]:
        """Drop the table's key constraints for a bulk load into it while it is empty, and
        answer what ``restore_keys`` needs (with ``loads_empty_tables_directly`` or
        ``rebuilds_keys_in_move`` only). A key of one column named in ``ascending`` (integers
        whose first batch is in ascending order) may stay, where the database appends such
        keys to its index for less than rebuilding it costs."""
        raise NotImplementedError

    def restore_keys(self, table: str, keys: list[tuple[str, str]]) -> None:
        """Put back what ``suspend_keys`` dropped (each built in one pass over the rows)."""
        raise NotImplementedError

    @abstractmethod
    def guard(self) -> AbstractContextManager[Any]:
        """Around a statement that may fail: afterwards the transaction can still be used."""

    @abstractmethod
    def is_unique_violation(self, error: BaseException) -> bool: ...

    @abstractmethod
    def import_id_param(self, import_id: uuid.UUID) -> Any: ...

    @abstractmethod
    def temp_table_sql(self, quoted_name: str, columns_sql: str) -> str: ...

    def copy_rows(self, table: str, frame: pl.DataFrame) -> None:
        """Append ``frame`` to the temp ``table``, whose columns are ``frame``'s."""
        with self.writer(table) as writer:
            writer.write(writer.encode(frame))

    def create_temp_table(self, fields: Sequence[SchemaField]) -> str:
        """A fresh staging table for ``fields`` plus the source row number; returns its name."""
        name = f"{STAGE_PREFIX}{uuid.uuid4().hex}"
        columns = temp_columns_sql(self.quote, self.types, fields)
        self.run(self.temp_table_sql(self.quote(name), columns))
        self.temp_tables.append(name)
        return name

    def count(self, sql: str, params: Sequence[Any] = ()) -> int:
        return int(self.fetch(sql, params)[0][0])


def lock_key(kind: str, value: str) -> int:
    """A signed 64-bit advisory lock key, stable across processes and versions."""
    digest = hashlib.sha256(f"loadbay:{kind}:{value}".encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "big", signed=True)
