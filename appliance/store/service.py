"""Store operations for command-line tools that run beside (or without) the appliance.

Knows: opening the configured database, bringing its schema up to date, one transaction.
Must not know: anything about the event loop (CLI tools have none).

Not for use inside a running appliance: opening a database points the models' shared
`database_proxy` at the new handle, and the appliance's store threads would follow it. The
previous binding is restored afterwards, so a caller that runs this BEFORE starting the
appliance in the same process (the demo, tests) leaves nothing behind.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def run_in_database(url: str, fn: Callable[[], T]) -> T:
    """Open `url`, migrate it, run `fn` in one transaction, close."""
    from appliance.store.db import database_proxy, open_database
    from appliance.store.migrations import migrate

    previous = database_proxy.obj
    db = open_database(url)
    try:
        migrate(db)
        with db.atomic():
            return fn()
    finally:
        db.close()
        if previous is not None:
            database_proxy.initialize(previous)


def create_api_key_sync(url: str, name: str, scopes: list[str]) -> str:
    """Create an API key in the database at `url`; returns the plaintext key (shown once)."""
    from appliance.store.apikeys import create_api_key

    return run_in_database(url, lambda: create_api_key(name, scopes))
