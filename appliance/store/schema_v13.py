"""Migration 13 as frozen SQL: approval of sends, quotas and the prepaid ledger (issue 10, 4-5).

Knows: the exact statements of this schema version over the one before, for SQLite and
PostgreSQL.
Must not know: the current models (see `schema_v1`: what a migration does is fixed the day it
ships).

- `approval_rule`: a department's own approval rule (none / all / above N recipients / by
  category), overriding the box default of `[approval]`. Keyed by the department's id (the
  accounts tables are another migration's: no foreign key, so the order of the two does not
  matter).
- `approval`: one send request that waits for an approver: its submitter (door, address,
  key, user, department, role), category, text, recipient and part counts, and the decision
  (state pending / approved / rejected, who, when, why).
- `approval_message`: which messages an approval holds; written in the same transaction as
  the messages, so a held message always has its approval.
- `quota`: an account's monthly limit in parts (NULL: none) and whether it is prepaid (then
  the ledger's balance bounds it too). An account is `user:<id>` or `department:<id>`.
- `ledger`: every change of an account's balance, append-only (topup / charge / refund /
  adjust), in parts; the balance is the sum of its rows, the month's use the sum of its
  charges and refunds in that month.
- `message_charge`: which accounts a message is charged to (its submitter's accounts that
  had a quota when it was accepted), written with the message.
"""

from __future__ import annotations

import peewee

from appliance.store.schema_v1 import DIALECTS

STATEMENTS: tuple[str, ...] = (
    """CREATE TABLE "approval_rule" (
        "department_id" INTEGER NOT NULL PRIMARY KEY,
        "mode" VARCHAR(16) NOT NULL,
        "above" INTEGER NOT NULL,
        "categories" TEXT NOT NULL,
        "updated_at" {DATETIME} NOT NULL
    )""",
    """CREATE TABLE "approval" (
        "id" {AUTO},
        "state" VARCHAR(16) NOT NULL,
        "door" VARCHAR(16) NOT NULL,
        "address" VARCHAR(64) NOT NULL,
        "api_key_id" INTEGER,
        "user_id" INTEGER,
        "department_id" INTEGER,
        "role" VARCHAR(16),
        "category" VARCHAR(32) NOT NULL,
        "text" TEXT NOT NULL,
        "recipients" INTEGER NOT NULL,
        "parts" INTEGER NOT NULL,
        "created_at" {DATETIME} NOT NULL,
        "decided_by" VARCHAR(255) NOT NULL,
        "decided_by_key_id" INTEGER,
        "decided_by_user_id" INTEGER,
        "decided_at" {DATETIME},
        "reason" TEXT NOT NULL
    )""",
    'CREATE INDEX "approval_state_id" ON "approval" ("state", "id")',
    """CREATE TABLE "approval_message" (
        "message_id" INTEGER NOT NULL PRIMARY KEY,
        "approval_id" INTEGER NOT NULL,
        FOREIGN KEY ("message_id") REFERENCES "message" ("id") ON DELETE CASCADE,
        FOREIGN KEY ("approval_id") REFERENCES "approval" ("id") ON DELETE CASCADE
    )""",
    'CREATE INDEX "approval_message_approval_id" ON "approval_message" ("approval_id")',
    """CREATE TABLE "quota" (
        "account" VARCHAR(32) NOT NULL PRIMARY KEY,
        "monthly_limit" INTEGER,
        "prepaid" {BOOL} NOT NULL,
        "updated_at" {DATETIME} NOT NULL
    )""",
    """CREATE TABLE "ledger" (
        "id" {AUTO},
        "account" VARCHAR(32) NOT NULL,
        "delta" INTEGER NOT NULL,
        "kind" VARCHAR(16) NOT NULL,
        "message_id" INTEGER,
        "actor" VARCHAR(255) NOT NULL,
        "at" {DATETIME} NOT NULL,
        "note" TEXT NOT NULL
    )""",
    'CREATE INDEX "ledger_account_at" ON "ledger" ("account", "at")',
    'CREATE INDEX "ledger_message_id" ON "ledger" ("message_id")',
    """CREATE TABLE "message_charge" (
        "message_id" INTEGER NOT NULL,
        "account" VARCHAR(32) NOT NULL,
        PRIMARY KEY ("message_id", "account"),
        FOREIGN KEY ("message_id") REFERENCES "message" ("id") ON DELETE CASCADE
    )""",
    'CREATE INDEX "message_charge_account" ON "message_charge" ("account")',
)


def statements(dialect: str) -> list[str]:
    """Schema version 13 over the one before for `dialect` ("sqlite" or "postgresql")."""
    return [s.format(**DIALECTS[dialect]) for s in STATEMENTS]


def apply(db: peewee.Database, dialect: str) -> None:
    for sql in statements(dialect):
        db.execute_sql(sql)
