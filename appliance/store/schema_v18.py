"""Migration 18 as frozen SQL: the recipients an Android message could not be sent to.

Knows: the exact statements of this schema version over the one before, for SQLite and
PostgreSQL.
Must not know: the current models (see `schema_v1`: what a migration does is fixed the day it
ships).

- `android_refusal`: one row per recipient of an Android API message that intake or the
  policy layer left out (blacklisted, a duplicate...): the key that sent it, the Android id,
  the recipient's position in the request's `phoneNumbers`, the (normalised) number and why.
  The recipients that were accepted are our messages under the Android id's client_ref
  (`store.android`); these rows fill in the others, so the app's answer lists every recipient
  in request order. Unique per (key, Android id, position).
"""

from __future__ import annotations

import peewee

from appliance.store.schema_v1 import DIALECTS

STATEMENTS: tuple[str, ...] = (
    """CREATE TABLE "android_refusal" (
        "id" {AUTO},
        "api_key_id" INTEGER NOT NULL,
        "android_id" VARCHAR(64) NOT NULL,
        "position" INTEGER NOT NULL,
        "recipient" VARCHAR(255) NOT NULL,
        "error" TEXT NOT NULL,
        "created_at" {DATETIME} NOT NULL
    )""",
    'CREATE UNIQUE INDEX "android_refusal_api_key_id_android_id_position" '
    'ON "android_refusal" ("api_key_id", "android_id", "position")',
)


def statements(dialect: str) -> list[str]:
    """Schema version 18 over the one before for `dialect` ("sqlite" or "postgresql")."""
    return [s.format(**DIALECTS[dialect]) for s in STATEMENTS]


def apply(db: peewee.Database, dialect: str) -> None:
    for sql in statements(dialect):
        db.execute_sql(sql)
