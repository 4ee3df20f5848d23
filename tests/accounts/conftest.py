"""Fixtures: a real SQLite file (WAL), migrated, behind a running Store; a clock moved by hand."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from appliance.store.db import open_database
from appliance.store.migrations import migrate
from appliance.store.writer import Store


class Clock:
    """An aware UTC clock a test moves by hand (`clock.advance(seconds)`)."""

    def __init__(self) -> None:
        self.now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    db = open_database(f"sqlite:///{tmp_path / 'cg.db'}")
    migrate(db)
    s = Store(db)
    await s.start()
    yield s
    await s.stop()
    db.close()
