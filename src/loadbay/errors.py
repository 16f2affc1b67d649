"""Domain errors. They carry no HTTP: api_errors.py maps each class to a problem+json response."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class ErrorDetail:
    """One precise problem: where (a JSON path, or a row and column) and what."""

    message: str
    path: str | None = None
    row: int | None = None
    column: str | None = None
    value: Any = None
    rule: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"message": self.message}
        for key in ("path", "row", "column", "value", "rule"):
            val = getattr(self, key)
            if val is not None:
                out[key] = val
        return out


class LoadbayError(Exception):
    """Base of every error a caller can act on. ``slug`` names the problem type."""

    slug = "error"
    title = "Error"

    def __init__(
        self, detail: str, *, errors: list[ErrorDetail] | None = None, **extra: Any
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []
        self.extra = extra


class NotFound(LoadbayError):
    slug = "not-found"
    title = "Not found"


class Conflict(LoadbayError):
    slug = "conflict"
    title = "Conflict"


class InvalidInput(LoadbayError):
    """The request is well-formed but its content breaks a rule."""

    slug = "invalid-input"
    title = "Invalid input"


class TooLarge(LoadbayError):
    slug = "too-large"
    title = "Too large"


def json_path(loc: tuple[int | str, ...] | list[int | str]) -> str:
    """``("fields", 2, "type")`` -> ``$.fields[2].type`` (Pydantic error locations)."""
    out = "$"
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out
