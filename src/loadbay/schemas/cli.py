"""``loadbay schemas …``: work with schema files from the command line."""

from __future__ import annotations

from pathlib import Path

import typer

from loadbay.schemas.document import load_schema_file
from loadbay.schemas.errors import InvalidSchema

schemas_app = typer.Typer(
    help="Work with Table Schema files (.json, .yaml, .yml).", no_args_is_help=True
)


@schemas_app.command()
def validate(
    file: Path = typer.Argument(..., help="A schema file: .json, .yaml or .yml."),
) -> None:
    """Check a schema file; print every problem as FILE: $.path: message and exit 1."""
    try:
        schema = load_schema_file(file)
    except InvalidSchema as exc:
        for error in exc.errors:
            where = f"{error.path}: " if error.path else ""
            typer.echo(f"{file}: {where}{error.message}", err=True)
        raise typer.Exit(1) from None
    count = len(schema.fields)
    typer.echo(f"{file}: valid schema {schema.name} ({count} field{'' if count == 1 else 's'})")
