"""Migration 7 as frozen SQL: how a message must be encoded, and what a Kannel caller asked.

Knows: the exact statements of this schema version over the one before, for SQLite and
PostgreSQL.
Must not know: the current models (see `schema_v1`: what a migration does is fixed the day it
ships).

- `message_option`: a message's encoding choices other than the default (force UCS2, a TP-DCS
  message class). A row only for messages that ask; the sender reads it when it encodes.
- `kannel_message`: a row per message accepted through Kannel's `/cgi-bin/sendsms` whose
  request owes reports or said something about its caller: the request's fields a delivery
  report renders (`from`, `account`, `smsc`, `charset`, ...), the
  dlr-mask and dlr-url, the DLR types already fired (`fired`, a bit mask: each type once per
  message), and `open` (1 while callbacks may still be owed: what a restart looks for).
"""

from __future__ import annotations

import peewee

DIALECTS: dict[str, dict[str, str]] = {
    "sqlite": {"DATETIME": "DATETIME", "BOOL": "INTEGER"},
    "postgresql": {"DATETIME": "TIMESTAMP", "BOOL": "BOOLEAN"},
}

STATEMENTS: tuple[str, ...] = (
    """CREATE TABLE "message_option" (
        "message_id" INTEGER NOT NULL PRIMARY KEY,
        "force_ucs2" {BOOL} NOT NULL,
        "message_class" INTEGER,
        FOREIGN KEY ("message_id") REFERENCES "message" ("id") ON DELETE CASCADE
    )""",
    """CREATE TABLE "kannel_message" (
        "message_id" INTEGER NOT NULL PRIMARY KEY,
        "service" VARCHAR(255) NOT NULL,
        "sender" TEXT NOT NULL,
        "account" VARCHAR(255) NOT NULL,
        "smsc" VARCHAR(255) NOT NULL,
        "charset" VARCHAR(64) NOT NULL,
        "coding" INTEGER,
        "mclass" INTEGER,
        "udh" TEXT NOT NULL,
        "binfo" TEXT NOT NULL,
        "validity_at" {DATETIME},
        "deferred_at" {DATETIME},
        "dlr_mask" INTEGER NOT NULL,
        "dlr_url" TEXT NOT NULL,
        "fired" INTEGER NOT NULL,
        "open" {BOOL} NOT NULL,
        FOREIGN KEY ("message_id") REFERENCES "message" ("id") ON DELETE CASCADE
    )""",
    'CREATE INDEX "kannel_message_open" ON "kannel_message" ("open")',
)


def apply(db: peewee.Database, dialect: str) -> None:
    for sql in STATEMENTS:
        db.execute_sql(sql.format(**DIALECTS[dialect]))
