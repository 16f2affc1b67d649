"""``loadbay keys …``: create, list and revoke API keys on the configured metadata store."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import typer
from sqlalchemy.orm import Session

from loadbay.context import AppContext
from loadbay.db import transaction
from loadbay.security import service
from loadbay.security.errors import KeyNotFound
from loadbay.security.keys import Scope, decode_scopes
from loadbay.settings import Settings

keys_app = typer.Typer(help="Manage API keys (stored as hashes).", no_args_is_help=True)


@contextmanager
def _session() -> Iterator[Session]:
    context = AppContext.build(Settings())
    context.start()
    try:
        with transaction(context.sessions) as session:
            yield session
    finally:
        context.close()


def _scopes(value: str) -> list[Scope]:
    try:
        return [Scope(part.strip()) for part in value.split(",") if part.strip()]
    except ValueError:
        raise typer.BadParameter("scopes are read, write and admin, comma-separated") from None


@keys_app.command()
def create(
    name: str = typer.Option(..., help="Who or what uses the key."),
    scopes: str = typer.Option("read", help="Comma-separated: read, write, admin."),
) -> None:
    """Create a key and print it: this is the only time it is shown."""
    parsed = _scopes(scopes)
    if not parsed or len(name) > 100:
        raise typer.BadParameter("a name (at most 100 characters) and at least one scope")
    with _session() as session:
        record, secret = service.create_key(session, name=name, scopes=parsed)
        key_id = record.id
    typer.echo(secret)
    typer.echo(f"created key {key_id} ({name}); store it now, it is not shown again", err=True)


@keys_app.command("list")
def list_() -> None:
    """List keys: id, prefix, scopes, name, revoked or live."""
    with _session() as session:
        for record in service.list_keys(session):
            state = f"revoked {record.revoked_at:%Y-%m-%d}" if record.revoked_at else "live"
            scopes = ",".join(
                s.value for s in sorted(decode_scopes(record.scopes), key=lambda s: s.rank)
            )
            typer.echo(f"{record.id}  {record.prefix}…  {scopes:<16} {state:<18} {record.name}")


@keys_app.command()
def revoke(key_id: uuid.UUID = typer.Argument(..., help="The key's id (see `keys list`).")) -> None:
    """Revoke a key; requests with it are refused at once."""
    try:
        with _session() as session:
            service.revoke_key(session, key_id=key_id)
    except KeyNotFound as exc:
        typer.echo(exc.detail, err=True)
        raise typer.Exit(1) from None
    typer.echo(f"revoked {key_id}")
