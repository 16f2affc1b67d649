from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from loadbay.db import create_engine
from loadbay.destinations.sql import SqlDestination


@pytest.fixture
def destination_engine(target_url: str) -> Iterator[sa.Engine]:
    """The engine the destination under test uses (separate from ``target_engine``)."""
    engine = create_engine(target_url)
    yield engine
    engine.dispose()


@pytest.fixture
def destination(destination_engine: sa.Engine) -> SqlDestination:
    return SqlDestination(destination_engine)
