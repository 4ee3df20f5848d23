"""Migration 4 as frozen SQL: the address book (contacts, their numbers, groups, membership),
the blacklist, and an index of outbound messages by recipient.

Knows: the exact statements of this schema step over the one before, for SQLite and PostgreSQL.
Must not know: the current models (see `schema_v1`: what a migration does is fixed the day it
ships).

Why each piece:
- `contact_number.number` is UNIQUE: a number belongs to at most one contact, so an inbound SMS
  or an outbound message links to one name (a second contact claiming it is a conflict the API
  reports, not a silent second link).
- `contact_group` (not "group", an SQL keyword) has a UNIQUE name: rules and the API find a
  group by name.
- `blacklist_entry.number` is UNIQUE: one row per number, whatever added it.
- `message_recipient_id` on `message (recipient, id)`: a conversation thread and the blacklist's
  "cancel what is queued for this number" look messages up by recipient, newest first; without
  it both scan the whole outbox.
"""

from __future__ import annotations

import peewee

from appliance.store.schema_v1 import DIALECTS

STATEMENTS: tuple[str, ...] = (
    """CREATE TABLE "contact" (
        "id" {AUTO},
        "name" VARCHAR(255) NOT NULL,
        "note" TEXT NOT NULL,
        "fields" TEXT NOT NULL,
        "created_at" {DATETIME} NOT NULL,
        "updated_at" {DATETIME} NOT NULL
    )""",
    'CREATE INDEX "contact_name" ON "contact" ("name")',
    """CREATE TABLE "contact_number" (
        "id" {AUTO},
        "contact_id" INTEGER NOT NULL,
        "number" VARCHAR(32) NOT NULL,
        FOREIGN KEY ("contact_id") REFERENCES "contact" ("id") ON DELETE CASCADE
    )""",
    'CREATE INDEX "contact_number_contact_id" ON "contact_number" ("contact_id")',
    'CREATE UNIQUE INDEX "contact_number_number" ON "contact_number" ("number")',
    """CREATE TABLE "contact_group" (
        "id" {AUTO},
        "name" VARCHAR(255) NOT NULL,
        "note" TEXT NOT NULL,
        "created_at" {DATETIME} NOT NULL
    )""",
    'CREATE UNIQUE INDEX "contact_group_name" ON "contact_group" ("name")',
    """CREATE TABLE "group_member" (
        "id" {AUTO},
        "group_id" INTEGER NOT NULL,
        "contact_id" INTEGER NOT NULL,
        FOREIGN KEY ("group_id") REFERENCES "contact_group" ("id") ON DELETE CASCADE,
        FOREIGN KEY ("contact_id") REFERENCES "contact" ("id") ON DELETE CASCADE
    )""",
    'CREATE UNIQUE INDEX "group_member_group_id_contact_id"'
    ' ON "group_member" ("group_id", "contact_id")',
    'CREATE INDEX "group_member_contact_id" ON "group_member" ("contact_id")',
    """CREATE TABLE "blacklist_entry" (
        "id" {AUTO},
        "number" VARCHAR(32) NOT NULL,
        "reason" TEXT NOT NULL,
        "source" VARCHAR(16) NOT NULL,
        "created_at" {DATETIME} NOT NULL
    )""",
    'CREATE UNIQUE INDEX "blacklist_entry_number" ON "blacklist_entry" ("number")',
    'CREATE INDEX "message_recipient_id" ON "message" ("recipient", "id")',
)


def statements(dialect: str) -> list[str]:
    """This step for `dialect` ("sqlite" or "postgresql"), one statement each."""
    return [s.format(**DIALECTS[dialect]) for s in STATEMENTS]


def apply(db: peewee.Database, dialect: str) -> None:
    for sql in statements(dialect):
        db.execute_sql(sql)
