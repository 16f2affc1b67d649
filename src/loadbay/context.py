"""What every request and job needs: settings, the metadata store, the load target.

Built once by ``create_app`` (or by the CLI) and handed to services explicitly.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fastapi import Request
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from loadbay.db import LoopReads, create_engine, make_session_factory, migrate
from loadbay.destinations.sql import SqlDestination
from loadbay.jobs import service as jobs
from loadbay.outbound import OutboundClient
from loadbay.settings import Settings

if TYPE_CHECKING:
    from loadbay.jobs.executor import Executor


@dataclass(slots=True)
class AppContext:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    target_engine: Engine
    # The one client for calls to other servers (webhooks, sources, HTTP destinations).
    outbound: OutboundClient
    # Hot point reads without the hop to a thread, where the store allows it (SQLite).
    loop_reads: LoopReads
    # Set by whoever runs jobs (the app, the worker, the CLI); None: jobs wait in the table.
    executor: Executor | None = field(default=None)

    @classmethod
    def build(cls, settings: Settings) -> AppContext:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = create_engine(settings.metadata_url())
        target = create_engine(settings.target_url())
        SqlDestination.prepare(target)
        return cls(
            settings,
            engine,
            make_session_factory(engine),
            target,
            OutboundClient(settings),
            LoopReads(engine),
        )

    def start(self) -> None:
        migrate(self.engine)

    def enqueue(self, session: Session, *, kind: str, subject_id: uuid.UUID) -> uuid.UUID:
        """Queue a job in ``session``'s transaction; the executor hears of it at commit."""
        return jobs.enqueue(session, kind=kind, subject_id=subject_id, notify=self._notify)

    def _notify(self, job_id: uuid.UUID) -> None:
        if self.executor is not None:
            self.executor.notify(job_id)

    def close(self) -> None:
        self.loop_reads.close()
        self.engine.dispose()
        self.target_engine.dispose()
        self.outbound.close()


def get_context(request: Request) -> AppContext:
    context: AppContext = request.app.state.context
    return context


def get_session(request: Request) -> Iterator[Session]:
    """A session per request; services decide where transactions begin and end."""
    with get_context(request).sessions() as session:
        yield session
