"""``loadbay push | status | errors``: the client's commands, talking to a server over HTTP.

``push`` uploads a file over tus (resumable: run the same command again after an
interruption and it goes on from the server's offset), imports it and follows the import
with progress bars. Exit codes of ``push``: 0 done (or validated with every row valid,
without ``--commit``), 1 the import failed or ended with invalid rows unresolved, 2 a usage
or API error (bad option, unknown schema, server unreachable), 3 a column mapping is needed
(pass ``--mapping``), 130 interrupted (the upload resumes on the next run).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from loadbay.client.client import Client
from loadbay.client.errors import (
    ImportFailed,
    LoadbayAPIError,
    LoadbayClientError,
    LoadbayTransportError,
)
from loadbay.client.models import Import, ImportOptions, Mode, OnError
from loadbay.client.uploads import DEFAULT_CHUNK_SIZE

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2
EXIT_NEEDS_MAPPING = 3
EXIT_INTERRUPTED = 130

SERVER_HELP = "Base URL of the loadbay server, e.g. http://127.0.0.1:8000."
API_KEY_HELP = "API key (sent as Authorization: Bearer); not needed in local auth mode."


def _client(server: str, api_key: str | None) -> Client:
    if not server.startswith(("http://", "https://")):
        raise typer.BadParameter(
            f"{server!r} is not an http:// or https:// URL", param_hint="--server"
        )
    return Client(server, api_key or None)


def _parse_mapping(text: str | None) -> dict[str, str] | None:
    if text is None:
        return None
    try:
        value: Any = json.loads(text)
    except ValueError as exc:
        raise typer.BadParameter(f"not JSON: {exc}", param_hint="--mapping") from None
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise typer.BadParameter(
            'must be a JSON object {"field": "column", …}', param_hint="--mapping"
        )
    return value


def _report_api_error(err: Console, exc: LoadbayClientError) -> None:
    if isinstance(exc, LoadbayAPIError):
        err.print(f"[red]{exc.status} {escape(exc.title)}:[/] {escape(exc.detail)}")
        for item in exc.errors[:20]:
            where = item.get("path") or (
                f"row {item['row']}, {item.get('column')}" if "row" in item else ""
            )
            message = str(item.get("message", ""))
            err.print(f"  {escape(str(where))}: {escape(message)}" if where else f"  {message}")
        if exc.request_id:
            err.print(f"  request id: {exc.request_id}")
    else:
        err.print(f"[red]error:[/] {escape(str(exc))}")


def _summary(out: Console, item: Import) -> None:
    counts = item.counts
    out.print(f"import {item.id}: [bold]{item.state}[/]")
    out.print(f"  schema:   {escape(item.schema_.name)} v{item.schema_.version} -> {item.table}")
    if item.file_name:
        out.print(f"  file:     {escape(item.file_name)}")
    out.print(
        f"  rows:     {counts.rows_total:,} total, {counts.rows_valid:,} valid, "
        f"{counts.rows_invalid:,} invalid, {counts.rows_loaded:,} loaded"
    )
    if item.state not in ("completed", "failed", "cancelled", "reverted"):
        out.print(f"  progress: {item.progress:.0%}")
    if item.failure is not None:
        out.print(f"  failure:  {item.failure.type}: {escape(item.failure.detail)}")
    for error in item.first_errors[:10]:
        column = f", {error.column}" if error.column else ""
        out.print(f"  row {error.row}{column}: {escape(error.message)}")
    if counts.errors_total > len(item.first_errors[:10]):
        out.print(f"  … {counts.errors_total:,} error(s) in all: loadbay errors {item.id}")


def _mapping_help(out: Console, item: Import) -> None:
    proposal = item.mapping_proposal
    out.print("the columns could not be mapped with confidence: pass --mapping")
    if proposal is None:
        return
    for match in proposal.proposal:
        column = repr(match.column) if match.column else "-"
        mark = " (required)" if match.required else ""
        out.print(f"  {escape(match.field)}{mark} <- {escape(column)} ({match.confidence:.2f})")
    if proposal.missing_required:
        out.print(f"  missing required: {', '.join(proposal.missing_required)}")
    if proposal.unmapped_columns:
        out.print(f"  unmapped columns: {', '.join(proposal.unmapped_columns)}")


def _upload(client: Client, file: Path, chunk_size: int, err: Console) -> str:
    with Progress(
        TextColumn("[bold]upload"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=False,
    ) as bar:
        task = bar.add_task("upload", total=file.stat().st_size)
        started: list[int] = []

        def on_progress(offset: int, size: int) -> None:
            if not started:
                started.append(offset)
                if offset:
                    # Reset so that speed and ETA count this run's bytes only.
                    bar.reset(task, total=size, completed=offset)
                    bar.console.print(f"resuming the upload at {offset:,} of {size:,} bytes")
            bar.update(task, completed=offset)

        upload = client.uploads.upload(file, chunk_size=chunk_size, on_progress=on_progress)
    err.print(f"uploaded {escape(file.name)}: upload {upload.id} ({upload.size or 0:,} bytes)")
    if upload.duplicate_of:
        err.print(f"note: the same content was uploaded before (upload {upload.duplicate_of})")
    return upload.id


def _follow(client: Client, item: Import, err: Console) -> Import:
    with Progress(
        TextColumn("[bold]{task.description:<10}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rows]}"),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        console=err,
    ) as bar:
        task = bar.add_task(item.state, total=1.0, rows="", rate="")

        def on_progress(current: Import) -> None:
            detail = current.progress_detail
            rows = current.counts.rows_total
            estimate = detail.rows_estimate if detail else None
            rows_text = f"{rows:,} rows" + (f" of ~{estimate:,}" if estimate else "")
            rate = detail.rows_per_second if detail else None
            bar.update(
                task,
                description=current.state,
                completed=current.progress,
                rows=rows_text,
                rate=f"{rate:,.0f} rows/s" if rate else "",
            )

        return client.wait(item.id, on_progress=on_progress)


def _outcome(out: Console, item: Import, *, commit: bool) -> int:
    if item.state == "awaiting_mapping":
        _summary(out, item)
        _mapping_help(out, item)
        return EXIT_NEEDS_MAPPING
    _summary(out, item)
    if item.state == "validated":
        if item.counts.rows_invalid:
            out.print(
                f"{item.counts.rows_invalid:,} invalid row(s): download them with "
                f"`loadbay errors {item.id}`, or push with --on-error skip"
            )
            return EXIT_INVALID
        if not commit:
            out.print("every row is valid; nothing loaded (pass --commit to load)")
        return EXIT_OK
    if item.state == "completed":
        if item.counts.rows_invalid:
            out.print(f"{item.counts.rows_invalid:,} invalid row(s) skipped (--on-error skip)")
        return EXIT_OK
    return EXIT_INVALID  # cancelled or reverted: the rows are not where the user wanted


def push(
    file: Path = typer.Argument(
        ..., exists=True, dir_okay=False, readable=True, help="The file to import."
    ),
    schema: str = typer.Option(..., "--schema", "-s", help="Name of a registered schema."),
    server: str = typer.Option(..., "--server", envvar="LOADBAY_SERVER", help=SERVER_HELP),
    api_key: str | None = typer.Option(
        None, "--api-key", envvar="LOADBAY_API_KEY", help=API_KEY_HELP
    ),
    commit: bool = typer.Option(
        False, "--commit", help="Load the rows once validated (without it: validate only)."
    ),
    mode: Mode = typer.Option("insert", help="How the rows are loaded into the schema's table."),
    on_error: OnError = typer.Option(
        "abort", "--on-error", help="abort: load nothing if a row is invalid; skip: the rest."
    ),
    mapping: str | None = typer.Option(
        None, help='Column mapping as JSON {"field": "column", …}; default: auto-mapping.'
    ),
    chunk_size: int = typer.Option(
        DEFAULT_CHUNK_SIZE, "--chunk-size", min=1, help="Bytes per upload request."
    ),
) -> None:
    """Upload FILE to a loadbay server, import it into SCHEMA and follow it to the end.

    An interrupted upload resumes when the same command runs again on the same file.
    Exit codes: 0 done, 1 failed or invalid rows left, 2 usage or API error, 3 a mapping is
    needed (pass --mapping), 130 interrupted.
    """
    out = Console(highlight=False, soft_wrap=True)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    given_mapping = _parse_mapping(mapping)
    options = ImportOptions(auto_commit=commit, mode=mode, on_error=on_error)
    with _client(server, api_key) as client:
        try:
            upload_id = _upload(client, file, chunk_size, err)
        except KeyboardInterrupt:
            err.print("interrupted: run the same command again to resume the upload")
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except (LoadbayClientError, OSError) as exc:
            if isinstance(exc, OSError):
                err.print(f"[red]cannot read {escape(str(file))}:[/] {escape(str(exc))}")
            else:
                _report_api_error(err, exc)
            raise typer.Exit(EXIT_USAGE) from None
        try:
            # Keyed by the upload: a retried request cannot start a second import of it.
            started = client.imports.create_from_upload(
                upload_id,
                schema,
                mapping=given_mapping,
                options=options,
                idempotency_key=f"push-{upload_id}-{schema}",
            )
            err.print(f"import {started.id} started")
            final = _follow(client, started, err)
        except ImportFailed as exc:
            _summary(out, exc.import_)
            raise typer.Exit(EXIT_INVALID) from None
        except KeyboardInterrupt:
            err.print("interrupted: the import goes on on the server (loadbay status ID)")
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except LoadbayClientError as exc:
            _report_api_error(err, exc)
            raise typer.Exit(EXIT_USAGE) from None
    raise typer.Exit(_outcome(out, final, commit=commit))


def status(
    import_id: str = typer.Argument(..., help="The import's id."),
    server: str = typer.Option(..., "--server", envvar="LOADBAY_SERVER", help=SERVER_HELP),
    api_key: str | None = typer.Option(
        None, "--api-key", envvar="LOADBAY_API_KEY", help=API_KEY_HELP
    ),
) -> None:
    """Print an import's state, counts, progress and failure (exit 2 on an API error)."""
    out = Console(highlight=False, soft_wrap=True)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    with _client(server, api_key) as client:
        try:
            item = client.imports.get(import_id)
        except LoadbayClientError as exc:
            _report_api_error(err, exc)
            raise typer.Exit(EXIT_USAGE) from None
    _summary(out, item)
    if item.state == "awaiting_mapping":
        _mapping_help(out, item)


def errors(
    import_id: str = typer.Argument(..., help="The import's id."),
    server: str = typer.Option(..., "--server", envvar="LOADBAY_SERVER", help=SERVER_HELP),
    api_key: str | None = typer.Option(
        None, "--api-key", envvar="LOADBAY_API_KEY", help=API_KEY_HELP
    ),
    output: Path | None = typer.Option(
        None,
        "--output",
        "-o",
        dir_okay=False,
        help="Where to write the CSV; default: import-ID-errors.csv here.",
    ),
) -> None:
    """Download an import's errors as CSV: for a file import its failed rows (fix them and
    push the file again), for inline records the list of errors."""
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    target = output or Path.cwd() / f"import-{import_id}-errors.csv"
    with _client(server, api_key) as client:
        try:
            written = client.imports.download_errors_csv(import_id, target)
        except (LoadbayAPIError, LoadbayTransportError) as exc:
            _report_api_error(err, exc)
            raise typer.Exit(EXIT_USAGE) from None
        except OSError as exc:
            err.print(f"[red]cannot write {escape(os.fspath(target))}:[/] {escape(str(exc))}")
            raise typer.Exit(EXIT_USAGE) from None
    err.print(f"wrote {written:,} bytes to {escape(os.fspath(target))}")


def register(app: typer.Typer) -> None:
    """Add ``push``, ``status`` and ``errors`` to the ``loadbay`` command."""
    app.command()(push)
    app.command()(status)
    app.command()(errors)
