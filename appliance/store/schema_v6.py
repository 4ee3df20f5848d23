"""Migration 6 as frozen SQL: webhook endpoints and their durable delivery queue.

Knows: the exact statements of schema version 6 over version 5, for SQLite and PostgreSQL.
Must not know: the current models (see `schema_v1`: what a migration does is fixed the day it
ships).

- `webhook`: one configured endpoint (URL, the events it subscribes to as comma-separated
  names or `*`, its HMAC secret, enabled, a description).
- `webhook_delivery`: one row per (endpoint or bare URL, event), kept until it is delivered or
  fails for good, then pruned after a retention. `next_attempt_at` is when a pending row is due;
  once the row is final it holds the time it became final, so one (state, next_attempt_at)
  index serves both the worker's "what is due" and the pruning's "what is old".
  `webhook_id` is NULL for a bare-URL row (the rules engine's "POST to a webhook" action),
  which then carries its own `url` and `secret`; an endpoint's row takes both from the endpoint
  at sending time (a changed URL or secret applies to what is still pending).
- The catch-up cursors (see appliance/webhooks/__init__.py) are `setting` rows, written at
  the deliverer's first start (at the last event and inbox id of that day: no endpoint exists
  before, so there is no history to replay).
"""

from __future__ import annotations

import peewee

from appliance.store.schema_v1 import DIALECTS

STATEMENTS: tuple[str, ...] = (
    """CREATE TABLE "webhook" (
        "id" {AUTO},
        "url" TEXT NOT NULL,
        "events" TEXT NOT NULL,
        "secret" VARCHAR(255) NOT NULL,
        "enabled" {BOOL} NOT NULL,
        "description" TEXT NOT NULL,
        "created_at" {DATETIME} NOT NULL,
        "updated_at" {DATETIME} NOT NULL
    )""",
    """CREATE TABLE "webhook_delivery" (
        "id" {AUTO},
        "webhook_id" INTEGER,
        "url" TEXT NOT NULL,
        "secret" VARCHAR(255) NOT NULL,
        "event" VARCHAR(64) NOT NULL,
        "payload" TEXT NOT NULL,
        "state" VARCHAR(16) NOT NULL,
        "attempts" INTEGER NOT NULL,
        "next_attempt_at" {DATETIME} NOT NULL,
        "last_status" INTEGER,
        "last_error" TEXT NOT NULL,
        "created_at" {DATETIME} NOT NULL,
        "delivered_at" {DATETIME},
        FOREIGN KEY ("webhook_id") REFERENCES "webhook" ("id") ON DELETE CASCADE
    )""",
    'CREATE INDEX "webhook_delivery_state_next_attempt_at"'
    ' ON "webhook_delivery" ("state", "next_attempt_at")',
    'CREATE INDEX "webhook_delivery_webhook_id" ON "webhook_delivery" ("webhook_id")',
)


def statements(dialect: str) -> list[str]:
    """Schema version 6 over version 5 for `dialect` ("sqlite" or "postgresql")."""
    return [s.format(**DIALECTS[dialect]) for s in STATEMENTS]


def apply(db: peewee.Database, dialect: str) -> None:
    for sql in statements(dialect):
        db.execute_sql(sql)
