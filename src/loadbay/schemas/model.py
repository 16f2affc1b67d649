"""Frictionless Table Schema (v1) as typed models, plus loadbay's ``x-loadbay`` extensions.

These models are the contract between the schema registry, the validation engine and the
destinations. A document is turned into a ``TableSchema`` only by ``schemas.document.parse_schema``,
which also runs the semantic checks (names, primary key, patterns, bounds) and reports every
problem with its JSON path.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from loadbay.schemas.destination import HttpDestinationConfig

FieldType = Literal["string", "integer", "number", "boolean", "date", "datetime", "time", "year"]
FIELD_TYPES: tuple[str, ...] = (
    "string",
    "integer",
    "number",
    "boolean",
    "date",
    "datetime",
    "time",
    "year",
)
StringFormat = Literal["default", "email", "uri", "uuid"]
UnknownFieldPolicy = Literal["ignore", "reject"]

DEFAULT_TRUE_VALUES = ["true", "True", "TRUE", "1"]
DEFAULT_FALSE_VALUES = ["false", "False", "FALSE", "0"]


class Constraints(BaseModel):
    """Field constraints. Bounds for date/time types are ISO strings, cast with the field."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    required: bool = False
    unique: bool = False
    minimum: int | float | str | None = None
    maximum: int | float | str | None = None
    min_length: int | None = Field(default=None, alias="minLength", ge=0)
    max_length: int | None = Field(default=None, alias="maxLength", ge=0)
    pattern: str | None = None
    enum: list[Any] | None = Field(default=None, min_length=1)

    @field_validator("minimum", "maximum", mode="before")
    @classmethod
    def _bound_is_scalar(cls, value: Any) -> Any:
        # One clear message instead of one per member of the union; and a JSON boolean is
        # not a number here, although Python says bool is an int.
        if value is None or (isinstance(value, int | float | str) and not isinstance(value, bool)):
            return value
        raise ValueError("must be a number, or an ISO 8601 string for date and time fields")


class FieldExtension(BaseModel):
    """The ``x-loadbay`` block of a field."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    aliases: list[str] = Field(default_factory=list)


class SchemaField(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)

    name: str
    type: FieldType = "string"
    # "default" or, for date/datetime/time, a strptime pattern such as "%d/%m/%Y";
    # for string: default, email, uri, uuid.
    format: str = "default"
    title: str | None = None
    description: str | None = None
    constraints: Constraints = Field(default_factory=Constraints)
    true_values: list[str] = Field(default=DEFAULT_TRUE_VALUES, alias="trueValues")
    false_values: list[str] = Field(default=DEFAULT_FALSE_VALUES, alias="falseValues")
    bare_number: bool = Field(default=True, alias="bareNumber")
    decimal_char: str = Field(default=".", alias="decimalChar", min_length=1)
    group_char: str = Field(default="", alias="groupChar")
    x_loadbay: FieldExtension = Field(default_factory=FieldExtension, alias="x-loadbay")

    @property
    def required(self) -> bool:
        return self.constraints.required


class SchemaExtension(BaseModel):
    """The top-level ``x-loadbay`` block."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    table: str | None = None
    unknown_fields: UnknownFieldPolicy = Field(default="ignore", alias="unknownFields")
    # Valid rows go to this endpoint instead of (or, with also_table, beside) the table.
    destination: HttpDestinationConfig | None = None


class TableSchema(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)

    name: str
    title: str | None = None
    description: str | None = None
    fields: list[SchemaField] = Field(min_length=1)
    primary_key: list[str] = Field(default_factory=list, alias="primaryKey")
    missing_values: list[str] = Field(default_factory=lambda: [""], alias="missingValues")
    x_loadbay: SchemaExtension = Field(default_factory=SchemaExtension, alias="x-loadbay")

    @field_validator("primary_key", mode="before")
    @classmethod
    def _primary_key_as_list(cls, value: Any) -> Any:
        # Table Schema allows a single field name as a string.
        return [value] if isinstance(value, str) else value

    @property
    def table_name(self) -> str:
        """The destination table: ``x-loadbay.table`` or the schema's name."""
        return self.x_loadbay.table or self.name

    @property
    def writes_table(self) -> bool:
        """Whether imports load the table (an HTTP destination replaces it by default)."""
        destination = self.x_loadbay.destination
        return destination is None or destination.also_table

    @property
    def field_names(self) -> list[str]:
        return [f.name for f in self.fields]

    def field(self, name: str) -> SchemaField:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    def is_required(self, name: str) -> bool:
        """Primary-key fields are implicitly required (Table Schema spec)."""
        return self.field(name).required or name in self.primary_key

    def to_document(self) -> dict[str, Any]:
        """The canonical JSON document (aliases, no defaults-only noise)."""
        return self.model_dump(mode="json", by_alias=True, exclude_defaults=True) | {
            "name": self.name,
            "fields": [
                {"name": f.name, "type": f.type}
                | f.model_dump(mode="json", by_alias=True, exclude_defaults=True)
                for f in self.fields
            ],
        }
