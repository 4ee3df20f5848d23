"""What the console can show while the appliance is down: the database file, read-only.

Knows: opening the configured database without writing to it (SQLite `mode=ro`: no
migration, no journal change) and which store functions give the last known modems, SIMs,
queue figures and inbox. Must not know: the terminal, or the admin socket.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import peewee

T = TypeVar("T")


class OfflineUnavailable(RuntimeError):
    """The database file cannot be read either; the message says why."""


def read_database(url: str, fn: Callable[[], T]) -> T:
    """Run `fn` (store functions) against the database at `url`, read-only, then close."""
    from appliance.store.db import (
        BUSY_TIMEOUT_MS,
        DatabaseUrlError,
        database_proxy,
        open_database,
        sqlite_path,
    )

    previous = database_proxy.obj
    db: peewee.Database | None = None
    try:
        if url.startswith("sqlite:///"):
            path = sqlite_path(url)
            if not path.is_file():
                raise OfflineUnavailable(f"no database at {path}")
            db = peewee.SqliteDatabase(f"file:{path.resolve()}?mode=ro", uri=True,
                                       timeout=BUSY_TIMEOUT_MS / 1000)
            database_proxy.initialize(db)
        else:
            db = open_database(url)
        with db.atomic():
            return fn()
    except (peewee.DatabaseError, DatabaseUrlError, OSError) as exc:
        raise OfflineUnavailable(f"cannot read the database: {exc}") from None
    finally:
        if db is not None:
            db.close()
        if previous is not None:
            database_proxy.initialize(previous)


def snapshot(url: str, inbox_limit: int = 20) -> dict[str, Any]:
    """Last known modems and SIMs, messages by state, and the newest inbox messages."""
    from appliance.store import inbox as inbox_store
    from appliance.store.metrics import read_figures
    from appliance.store.modems import known_modems
    from appliance.store.sims import list_sims

    def read() -> dict[str, Any]:
        figures = read_figures()
        return {"modems": known_modems(), "sims": list_sims(),
                "messages": figures.messages_by_state, "inbox_count": figures.inbox_messages,
                "inbox": inbox_store.list_messages(limit=inbox_limit, ascending=False)}

    return read_database(url, read)


__all__ = ["OfflineUnavailable", "read_database", "snapshot"]
