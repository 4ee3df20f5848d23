"""Fixtures for the address book and blacklist: a real SQLite WAL file, migrated."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import peewee
import pytest

from appliance.store.db import open_database
from appliance.store.migrations import migrate


@pytest.fixture
def db(tmp_path: Path) -> Iterator[peewee.Database]:
    database = open_database(f"sqlite:///{tmp_path / 'data' / 'cardgate.db'}")
    migrate(database)
    yield database
    database.close()


# The appliance on simulated modems (no HTTP), and with HTTP: the fixtures of tests/dispatch
# and tests/api, reused as they are.
from tests.dispatch.conftest import make_rig  # noqa: E402, F401
