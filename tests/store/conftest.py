"""Fixtures: a real SQLite file in WAL mode per test, migrated to the current schema."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import peewee
import pytest

from appliance.store.db import open_database
from appliance.store.migrations import migrate


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "cardgate.db"


@pytest.fixture
def db(db_path: Path) -> Iterator[peewee.Database]:
    database = open_database(f"sqlite:///{db_path}")
    migrate(database)
    yield database
    database.close()
