"""The ``loadbay`` command line."""

from __future__ import annotations

import typer
import uvicorn

from loadbay import __version__
from loadbay.client.cli import register as register_client_commands
from loadbay.imports.cli import import_file
from loadbay.schemas.cli import schemas_app
from loadbay.security.auth import bind_refusal
from loadbay.security.cli import keys_app
from loadbay.settings import Settings

app = typer.Typer(help="loadbay: self-hosted data import service.", no_args_is_help=True)
app.add_typer(schemas_app, name="schemas")
app.add_typer(keys_app, name="keys")
register_client_commands(app)  # push, status, errors: over HTTP to a server
app.command("import")(import_file)


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Address to bind."),
    port: int = typer.Option(8000, help="Port to listen on."),
    reload: bool = typer.Option(False, help="Restart on code changes (development)."),
) -> None:
    """Start the HTTP server (settings from LOADBAY_* environment variables)."""
    refusal = bind_refusal(host, Settings())
    if refusal:
        typer.echo(refusal, err=True)
        raise typer.Exit(2)
    uvicorn.run(
        "loadbay.app:create_app",
        factory=True,
        host=host,
        port=port,
        reload=reload,
        proxy_headers=False,
        access_log=False,  # loadbay logs one ECS access line per request itself
    )


@app.command()
def worker() -> None:
    """Run jobs sent through Celery (needs LOADBAY_EXECUTOR=celery and LOADBAY_REDIS_URL)."""
    # Imported here: Celery and the job functions are loaded by workers only.
    from loadbay.job_kinds import all_job_kinds
    from loadbay.jobs.worker import run_worker, worker_refusal

    settings = Settings()
    refusal = worker_refusal(settings)
    if refusal:
        typer.echo(refusal, err=True)
        raise typer.Exit(2)
    raise typer.Exit(run_worker(settings, all_job_kinds))


@app.command()
def version() -> None:
    """Print loadbay's version."""
    typer.echo(__version__)
