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
from typing import Any, TypeVar

T = TypeVar("T")


class DatabaseUnavailable(RuntimeError):
    """The configured database cannot be opened, created or migrated; the message says why."""


def run_in_database(url: str, fn: Callable[[], T]) -> T:
    """Open `url`, migrate it, run `fn` in one transaction, close.

    A database that cannot be used (a folder that cannot be made, a read-only file, a newer
    schema, a missing driver) raises DatabaseUnavailable naming the URL; errors raised by `fn`
    itself (ValueError for bad input...) pass through unchanged.
    """
    import peewee

    from appliance.store.db import DatabaseUrlError, database_proxy, open_database
    from appliance.store.migrations import SchemaTooNew, migrate

    previous = database_proxy.obj
    db = None
    try:
        try:
            db = open_database(url)
            migrate(db)
        except (OSError, peewee.DatabaseError, DatabaseUrlError, SchemaTooNew) as exc:
            raise DatabaseUnavailable(f"database {url}: {_reason(exc)}") from exc
        with db.atomic():
            return fn()
    finally:
        if db is not None:
            db.close()
        if previous is not None:
            database_proxy.initialize(previous)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        where = f" ({exc.filename})" if exc.filename else ""
        return f"{exc.strerror}{where}"
    return str(exc) or type(exc).__name__


def check_database(url: str) -> None:
    """Open, create if needed and migrate the database at `url`, or raise DatabaseUnavailable
    (so `cardgate run` stops with one line before it starts listening)."""
    run_in_database(url, lambda: None)


def create_api_key_sync(url: str, name: str, scopes: list[str], **limits: Any) -> str:
    """Create an API key in the database at `url`; returns the plaintext key (shown once).
    `limits`: rate_per_minute, allowed_from (see store.apikeys)."""
    from appliance.store.apikeys import create_api_key

    return run_in_database(url, lambda: create_api_key(name, scopes, **limits))
