"""Migration 12 as frozen SQL: who submitted each message, its content identity, and the
per-department recipient caps.

Knows: the exact statements of this schema version over the one before, for SQLite and
PostgreSQL.
Must not know: the current models (see `schema_v1`: what a migration does is fixed the day it
ships).

- `message.door`, `address`, `api_key_id`, `user_id`, `department_id`: the submitter as its
  door knew it (appliance.policy.origin.Origin); NULL on messages accepted before this version
  (who sent them was not recorded);
- `message.content_hash`: the first 8 bytes of sha256 of the normalised text as sent, as a
  signed 64-bit integer (appliance.policy.dedupe); NULL before this version;
- index (content_hash, recipient, created_at): dedupe's look-up, one indexed read per batch
  of recipients (the same text to these numbers since the window's start);
- index (department_id, id): the listing filtered by department, newest first;
- `policy_recipient_cap`: per-department overrides of `[policy_limits]
  max_recipients_per_send`.
"""

from __future__ import annotations

import peewee

STATEMENTS: tuple[str, ...] = (
    'ALTER TABLE "message" ADD COLUMN "door" VARCHAR(16)',
    'ALTER TABLE "message" ADD COLUMN "address" VARCHAR(64)',
    'ALTER TABLE "message" ADD COLUMN "api_key_id" INTEGER',
    'ALTER TABLE "message" ADD COLUMN "user_id" INTEGER',
    'ALTER TABLE "message" ADD COLUMN "department_id" INTEGER',
    'ALTER TABLE "message" ADD COLUMN "content_hash" BIGINT',
    'CREATE INDEX "message_content_hash_recipient_created_at" ON "message" ("content_hash", '
    '"recipient", "created_at")',
    'CREATE INDEX "message_department_id_id" ON "message" ("department_id", "id")',
)

_CAP_TABLE = {
    "sqlite": 'CREATE TABLE IF NOT EXISTS "policy_recipient_cap" ("department_id" INTEGER NOT '
              'NULL PRIMARY KEY, "max_recipients" INTEGER NOT NULL, "updated_at" DATETIME NOT '
              'NULL)',
    "postgresql": 'CREATE TABLE IF NOT EXISTS "policy_recipient_cap" ("department_id" INTEGER '
                  'NOT NULL PRIMARY KEY, "max_recipients" INTEGER NOT NULL, "updated_at" '
                  'TIMESTAMP NOT NULL)',
}


def apply(db: peewee.Database, dialect: str) -> None:
    for sql in (*STATEMENTS, _CAP_TABLE[dialect]):
        db.execute_sql(sql)
