"""Fixtures shared by every test folder.

`store`: the appliance's Store (one writer thread, two readers) on a fresh, migrated SQLite
file in the test's own folder (WAL, as on the box). A folder or module that needs another
kind of store defines its own `store`, which takes precedence.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from appliance.store.db import open_database
from appliance.store.migrations import migrate
from appliance.store.writer import Store


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    db = open_database(f"sqlite:///{tmp_path / 'cg.db'}")
    migrate(db)
    s = Store(db)
    await s.start()
    yield s
    await s.stop()
    db.close()
