"""Vectorised validation of rows against a Frictionless Table Schema (see engine.py)."""

from loadbay.validation.compiler import ROW_COLUMN, CompiledSchema, compile_schema
from loadbay.validation.engine import BatchResult, ErrorBudget, RawBatch, Validator
from loadbay.validation.errors import CellError, Rule
from loadbay.validation.records import batch_from_records

__all__ = [
    "ROW_COLUMN",
    "BatchResult",
    "CellError",
    "CompiledSchema",
    "ErrorBudget",
    "RawBatch",
    "Rule",
    "Validator",
    "batch_from_records",
    "compile_schema",
]
