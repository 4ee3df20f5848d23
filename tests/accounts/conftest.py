"""Fixtures: a real SQLite file (WAL), migrated, behind a running Store; a clock moved by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest


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


