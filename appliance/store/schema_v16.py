"""Migration 16 as frozen SQL: the console's message templates and recurring send schedules
(issue 11, compose).

Knows: the exact statements of this schema version over the one before, for SQLite and
PostgreSQL.
Must not know: the current models (see `schema_v1`: what a migration does is fixed the day it
ships).

- `message_template`: a named text staff pick on the compose page (name unique), with the
  category it was saved with and who saved it.
- `send_schedule`: a recurring send: its cron expression (daily, weekly and monthly are cron
  expressions too; `kind` says which the user picked), the time zone it is read in, the send
  itself as JSON (text, category, priority, numbers, group ids), the submitter (user,
  department, role: the policy layer's origin at each firing), its state (active / paused),
  the next time it is due (indexed: the runner reads the earliest due), and what its last
  firing did.
"""

from __future__ import annotations

import peewee

from appliance.store.schema_v1 import DIALECTS

STATEMENTS: tuple[str, ...] = (
    """CREATE TABLE "message_template" (
        "id" {AUTO},
        "name" VARCHAR(100) NOT NULL,
        "text" TEXT NOT NULL,
        "category" VARCHAR(16) NOT NULL,
        "created_by" VARCHAR(255) NOT NULL,
        "created_at" {DATETIME} NOT NULL,
        "updated_at" {DATETIME} NOT NULL
    )""",
    'CREATE UNIQUE INDEX "message_template_name" ON "message_template" ("name")',
    """CREATE TABLE "send_schedule" (
        "id" {AUTO},
        "name" VARCHAR(255) NOT NULL,
        "kind" VARCHAR(16) NOT NULL,
        "cron" VARCHAR(100) NOT NULL,
        "timezone" VARCHAR(64) NOT NULL,
        "spec" TEXT NOT NULL,
        "state" VARCHAR(16) NOT NULL,
        "next_at" {DATETIME},
        "last_fired_at" {DATETIME},
        "last_result" TEXT NOT NULL,
        "fired" INTEGER NOT NULL,
        "created_by" VARCHAR(255) NOT NULL,
        "user_id" INTEGER,
        "department_id" INTEGER,
        "role" VARCHAR(16),
        "created_at" {DATETIME} NOT NULL
    )""",
    'CREATE INDEX "send_schedule_state_next_at" ON "send_schedule" ("state", "next_at")',
)


def statements(dialect: str) -> list[str]:
    """Schema version 16 over the one before for `dialect` ("sqlite" or "postgresql")."""
    return [s.format(**DIALECTS[dialect]) for s in STATEMENTS]


def apply(db: peewee.Database, dialect: str) -> None:
    for sql in statements(dialect):
        db.execute_sql(sql)
