"""Migration 2 as frozen SQL: inbound_message.pdu_hash and its (sim, pdu_hash) index.

Knows: the exact statements of schema version 2 over version 1, for SQLite and PostgreSQL.
Must not know: the current models (see `schema_v1`: what a migration does is fixed the day it
ships).

Why: the inbound duplicate check (a part the modem gives twice, read again after a crash before
its delete) compared the whole PDU text with no index, scanning the inbox. A sha256 of the PDU,
indexed with the SIM, makes it one index lookup.

Backfill: PostgreSQL computes the hash in SQL (`sha256()`, PostgreSQL 11+). SQLite has no
sha256 function, so its rows are hashed here with hashlib, in the same transaction as the DDL;
the hash is of the PDU text as stored, UTF-8 encoded, the same as `store.sims` computes.
"""

from __future__ import annotations

import hashlib

import peewee

ADD_COLUMN = ('ALTER TABLE "inbound_message"'
              ' ADD COLUMN "pdu_hash" VARCHAR(64) NOT NULL DEFAULT \'\'')
CREATE_INDEX = ('CREATE INDEX "inbound_message_sim_pdu_hash"'
                ' ON "inbound_message" ("sim", "pdu_hash")')
POSTGRESQL_BACKFILL = ('UPDATE "inbound_message"'
                       ' SET "pdu_hash" = encode(sha256(convert_to("pdu", \'UTF8\')), \'hex\')')
SQLITE_CHUNK = 1000


def pdu_hash(pdu: str) -> str:
    return hashlib.sha256(pdu.encode("utf-8")).hexdigest()


def apply(db: peewee.Database, dialect: str) -> None:
    """Add the column, fill it for every existing row, then index it."""
    db.execute_sql(ADD_COLUMN)
    if dialect == "postgresql":
        db.execute_sql(POSTGRESQL_BACKFILL)
    else:
        last = 0
        while True:
            rows = db.execute_sql(
                'SELECT "id", "pdu" FROM "inbound_message" WHERE "id" > ? ORDER BY "id" LIMIT ?',
                (last, SQLITE_CHUNK)).fetchall()
            if not rows:
                break
            for row_id, pdu in rows:
                db.execute_sql('UPDATE "inbound_message" SET "pdu_hash" = ? WHERE "id" = ?',
                               (pdu_hash(pdu or ""), row_id))
            last = rows[-1][0]
    db.execute_sql(CREATE_INDEX)
