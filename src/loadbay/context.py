"""What every request and job needs: settings, the metadata store, the load target.

Built once by ``create_app`` (or by the CLI) and handed to services explicitly.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from fastapi import Request
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from loadbay.db import create_engine, make_session_factory, migrate
from loadbay.settings import Settings


@dataclass(slots=True)
class AppContext:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    target_engine: Engine

    @classmethod
    def build(cls, settings: Settings) -> AppContext:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = create_engine(settings.metadata_url())
        target = create_engine(settings.target_url())
        return cls(settings, engine, make_session_factory(engine), target)

    def start(self) -> None:
        migrate(self.engine)

    def close(self) -> None:
        self.engine.dispose()
        self.target_engine.dispose()


def get_context(request: Request) -> AppContext:
    context: AppContext = request.app.state.context
    return context


def get_session(request: Request) -> Iterator[Session]:
    """A session per request; services decide where transactions begin and end."""
    with get_context(request).sessions() as session:
        yield session
