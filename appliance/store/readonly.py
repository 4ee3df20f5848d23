"""Reading the database without the appliance and without writing: the technician console's
view while the appliance is down.

Knows: opening a SQLite file with `mode=ro` (no migration, no journal change, no lock held
beyond a read), binding the models to it for one read transaction, and putting the previous
binding back. Must not know: what is read (the caller passes store functions).

Like store.service, not for use inside a running appliance (it rebinds the models' proxy).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import peewee

from appliance.store.db import BUSY_TIMEOUT_MS, DatabaseUrlError, database_proxy, open_database
from appliance.store.db import sqlite_path as _sqlite_path

T = TypeVar("T")


class ReadOnlyUnavailable(RuntimeError):
    """The database cannot be read; the message says why."""


def read_only(url: str, fn: Callable[[], T]) -> T:
    """Run `fn` in one read transaction on the database at `url`, then close it. SQLite is
    opened read-only; PostgreSQL through the ordinary URL (fn only reads)."""
    previous = database_proxy.obj
    db: peewee.Database | None = None
    try:
        if url.startswith("sqlite:///"):
            path = _sqlite_path(url)
            if not path.is_file():
                raise ReadOnlyUnavailable(f"no database at {path}")
            db = peewee.SqliteDatabase(f"file:{path.resolve()}?mode=ro", uri=True,
                                       timeout=BUSY_TIMEOUT_MS / 1000)
            database_proxy.initialize(db)
        else:
            db = open_database(url)
        with db.atomic():
            return fn()
    except (peewee.DatabaseError, DatabaseUrlError, OSError) as exc:
        raise ReadOnlyUnavailable(f"cannot read the database: {exc}") from None
    finally:
        if db is not None:
            db.close()
        if previous is not None:
            database_proxy.initialize(previous)


__all__ = ["ReadOnlyUnavailable", "read_only"]
