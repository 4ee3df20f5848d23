"""Migration 8 as frozen SQL: an API key's own limits.

Knows: the exact statements of this schema version over the one before, for SQLite and
PostgreSQL.
Must not know: the current models (see `schema_v1`: what a migration does is fixed the day it
ships).

- `api_key.rate_per_minute`: requests a key may make per minute (NULL: no limit of its own);
- `api_key.allowed_from`: the addresses a key may be used from, comma-separated networks in
  CIDR form ('' : from anywhere).
"""

from __future__ import annotations

import peewee

STATEMENTS: tuple[str, ...] = (
    'ALTER TABLE "api_key" ADD COLUMN "rate_per_minute" INTEGER',
    """ALTER TABLE "api_key" ADD COLUMN "allowed_from" TEXT NOT NULL DEFAULT ''""",
)


def apply(db: peewee.Database, dialect: str) -> None:
    del dialect  # the same statements on both
    for sql in STATEMENTS:
        db.execute_sql(sql)
