"""Migration 17 as frozen SQL: the indexes that answer "today" on the dashboard.

Knows: the exact statements of this schema version over the one before, for SQLite and
PostgreSQL.
Must not know: the current models (see `schema_v1`: what a migration does is fixed the day it
ships).

- index (sent_at): "sent today" is a range count over it (an index-only read of today's
  entries, whatever the size of the table); the dispatcher's start-up read of the SIM that
  last wrote to each recipient (`sent_at >= since`) uses it too;
- index (state, final_at): "delivered / failed today": for each final state, a range count of
  today's entries, in index order (no sort), without reading a table row.
"""

from __future__ import annotations

import peewee

STATEMENTS: tuple[str, ...] = (
    'CREATE INDEX IF NOT EXISTS "message_sent_at" ON "message" ("sent_at")',
    'CREATE INDEX IF NOT EXISTS "message_state_final_at" ON "message" ("state", "final_at")',
)


def apply(db: peewee.Database, dialect: str) -> None:
    del dialect  # the same statements on both
    for sql in STATEMENTS:
        db.execute_sql(sql)
