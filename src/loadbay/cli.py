"""The ``loadbay`` command line."""

from __future__ import annotations

import typer

from loadbay import __version__
from loadbay.client.cli import register as register_client_commands
from loadbay.imports.cli import import_file
from loadbay.observability.logs import configure_logging
from loadbay.schemas.cli import schemas_app
from loadbay.security.auth import bind_refusal
from loadbay.security.cli import keys_app
from loadbay.server import ServeError, ServeOptions
from loadbay.server import serve as run_server
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
    workers: int = typer.Option(
        1, min=1, help="Worker processes, each with its own SO_REUSEPORT socket."
    ),
    reload: bool = typer.Option(False, help="Restart on code changes (development)."),
) -> None:
    """Start the HTTP server (settings from LOADBAY_* environment variables)."""
    settings = Settings()
    refusal = bind_refusal(host, settings)
    if refusal:
        typer.echo(refusal, err=True)
        raise typer.Exit(2)
    if reload and workers > 1:
        typer.echo("--reload restarts one process: it cannot be used with --workers", err=True)
        raise typer.Exit(2)
    options = ServeOptions(
        "loadbay.app:create_app",
        host,
        port,
        factory=True,
        uvicorn={
            "reload": reload,
            "proxy_headers": False,
            "access_log": False,  # loadbay logs one ECS access line per request itself
        },
    )
    configure_logging(level=settings.log_level, fmt=settings.log_format)  # the supervisor's
    try:
        run_server(options, workers=workers, metrics_dir=settings.data_dir / "metrics")
    except ServeError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc


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
