"""Migration 5 as frozen SQL: the auto-answer rules and the log of what they did.

Knows: the exact statements of this schema step over the one before, for SQLite and PostgreSQL.
Must not know: the current models (see `schema_v1`: what a migration does is fixed the day it
ships).

Why each piece:
- `rule` keeps a rule as data: its keyword test (`match_kind`, `pattern`), `conditions` and
  `actions` as JSON text (validated by appliance.inbox.rules before they are stored), `stop`,
  and `position`, the order of evaluation (indexed: the engine loads them in that order).
- `rule_log` is one row per automatic action, done or refused: which rule (its id and name
  then; no foreign key, so deleting a rule keeps its history), the inbox message that caused
  it, the number, what was done, the outcome and the outbound message id. It answers "why was
  this sent", and the cooldown and loop bounds are rebuilt from it at start:
  (`number`, `at`) finds one number's recent replies, (`at`) pages the log, (`inbox_id`)
  finds what one received message caused.
"""

from __future__ import annotations

import peewee

from appliance.store.schema_v1 import DIALECTS

STATEMENTS: tuple[str, ...] = (
    """CREATE TABLE "rule" (
        "id" {AUTO},
        "name" VARCHAR(255) NOT NULL,
        "position" INTEGER NOT NULL,
        "enabled" {BOOL} NOT NULL,
        "match_kind" VARCHAR(16) NOT NULL,
        "pattern" TEXT NOT NULL,
        "conditions" TEXT NOT NULL,
        "actions" TEXT NOT NULL,
        "stop" {BOOL} NOT NULL,
        "created_at" {DATETIME} NOT NULL,
        "updated_at" {DATETIME} NOT NULL
    )""",
    'CREATE INDEX "rule_position" ON "rule" ("position")',
    """CREATE TABLE "rule_log" (
        "id" {AUTO},
        "at" {DATETIME} NOT NULL,
        "rule_id" INTEGER,
        "rule_name" VARCHAR(255) NOT NULL,
        "inbox_id" INTEGER,
        "number" VARCHAR(32) NOT NULL,
        "action" VARCHAR(24) NOT NULL,
        "outcome" VARCHAR(16) NOT NULL,
        "detail" TEXT NOT NULL,
        "message_id" INTEGER
    )""",
    'CREATE INDEX "rule_log_number_at" ON "rule_log" ("number", "at")',
    'CREATE INDEX "rule_log_at" ON "rule_log" ("at")',
    'CREATE INDEX "rule_log_inbox_id" ON "rule_log" ("inbox_id")',
)


def statements(dialect: str) -> list[str]:
    """This step for `dialect` ("sqlite" or "postgresql"), one statement each."""
    return [s.format(**DIALECTS[dialect]) for s in STATEMENTS]


def apply(db: peewee.Database, dialect: str) -> None:
    for sql in statements(dialect):
        db.execute_sql(sql)
