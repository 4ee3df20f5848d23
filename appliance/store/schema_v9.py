"""Migration 9 as frozen SQL: webhook endpoints of the "SMS Gateway for Android" API.

Knows: the exact statements of this schema version over the one before, for SQLite and
PostgreSQL.
Must not know: the current models (see `schema_v1`: what a migration does is fixed the day it
ships).

- `webhook.format`: how a delivery to the endpoint is shaped and signed: 'cardgate' (ours,
  every endpoint before this version) or 'android' (the Android app's envelope, `X-Signature`);
- `webhook.api_key_id`: the API key that registered an 'android' endpoint (it sees and deletes
  only its own); NULL for ours;
- `webhook.client_ref`: an 'android' endpoint's id as that API names it (the caller's, or one
  made for it); NULL for ours. Unique per key.
"""

from __future__ import annotations

import peewee

STATEMENTS: tuple[str, ...] = (
    """ALTER TABLE "webhook" ADD COLUMN "format" VARCHAR(16) NOT NULL DEFAULT 'cardgate'""",
    'ALTER TABLE "webhook" ADD COLUMN "api_key_id" INTEGER',
    'ALTER TABLE "webhook" ADD COLUMN "client_ref" VARCHAR(64)',
    'CREATE UNIQUE INDEX "webhook_api_key_id_client_ref" ON "webhook" ("api_key_id", '
    '"client_ref")',
)


def apply(db: peewee.Database, dialect: str) -> None:
    del dialect  # the same statements on both
    for sql in STATEMENTS:
        db.execute_sql(sql)
