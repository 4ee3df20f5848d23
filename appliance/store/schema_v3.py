"""Migration 3 as frozen SQL: the inbox (`inbox_message`), and what links parts to it.

Knows: the exact statements of schema version 3 over version 2, for SQLite and PostgreSQL, and
how the parts stored before it are turned into inbox messages once.
Must not know: the current models (see `schema_v1`: what a migration does is fixed the day it
ships).

Why: `inbound_message` keeps every received PART as the modem gave it (and its duplicate check);
the inbox shows MESSAGES, reassembled. `inbound_message.inbox_id` says which message a part
went into (NULL: still waiting for its siblings), `modem` the IMEI it came through. The
(inbox_id, stored_at) index is what the partial timer reads: the few parts still waiting, by
arrival. (sim, sender, received_at) makes the network-redelivery check (same sender and SMSC
time stamp, another PDU) an index lookup.

Backfill: parts stored before this migration become inbox messages here, grouped by (sim,
sender, concat_ref, concat_count) as the inbox does, with `handled_at` set to when they were
stored: they are history, and the auto-answer rules must not answer them after an upgrade. A
group missing a part is stored as partial. `number` is the sender as received (the number
normaliser is live code, not frozen here). Plain parameterised SQL, the same on both dialects.
"""

from __future__ import annotations

import peewee

from appliance.store.schema_v1 import DIALECTS

GAP_MARKER = "[…]"
"""Stands for a missing part in a partial message's text (the same marker store.inbox uses)."""

STATEMENTS: tuple[str, ...] = (
    'ALTER TABLE "inbound_message" ADD COLUMN "inbox_id" INTEGER',
    'ALTER TABLE "inbound_message" ADD COLUMN "modem" VARCHAR(17) NOT NULL DEFAULT \'\'',
    'CREATE INDEX "inbound_message_inbox_id_stored_at"'
    ' ON "inbound_message" ("inbox_id", "stored_at")',
    'CREATE INDEX "inbound_message_sim_sender_received_at"'
    ' ON "inbound_message" ("sim", "sender", "received_at")',
    """CREATE TABLE "inbox_message" (
        "id" {AUTO},
        "sim" VARCHAR(22) NOT NULL,
        "modem" VARCHAR(17) NOT NULL,
        "sender" VARCHAR(255) NOT NULL,
        "number" VARCHAR(255) NOT NULL,
        "text" TEXT NOT NULL,
        "smsc_at" {DATETIME} NOT NULL,
        "received_at" {DATETIME} NOT NULL,
        "concat_ref" INTEGER,
        "parts_total" INTEGER NOT NULL,
        "parts_received" INTEGER NOT NULL,
        "partial" {BOOL} NOT NULL,
        "updated_at" {DATETIME} NOT NULL,
        "handled_at" {DATETIME}
    )""",
    'CREATE INDEX "inbox_message_number_id" ON "inbox_message" ("number", "id")',
    'CREATE INDEX "inbox_message_sim_id" ON "inbox_message" ("sim", "id")',
    'CREATE INDEX "inbox_message_received_at" ON "inbox_message" ("received_at")',
    'CREATE INDEX "inbox_message_handled_at" ON "inbox_message" ("handled_at")',
    'CREATE INDEX "inbox_message_sim_sender_concat_ref"'
    ' ON "inbox_message" ("sim", "sender", "concat_ref")',
)


def statements(dialect: str) -> list[str]:
    return [s.format(**DIALECTS[dialect]) for s in STATEMENTS]


def _backfill(db: peewee.Database, dialect: str) -> None:
    p = db.param
    rows = db.execute_sql(
        'SELECT "id", "sim", "sender", "text", "received_at", "concat_ref", "concat_count",'
        ' "concat_index", "stored_at" FROM "inbound_message" ORDER BY "id"').fetchall()
    groups: dict[tuple, list[tuple]] = {}
    for row in rows:
        row_id, sim, sender, _text, _smsc_at, ref, count, _index, _stored = row
        key = (sim, sender, ref, count) if ref is not None and (count or 1) > 1 else ("single",
                                                                                      row_id)
        groups.setdefault(key, []).append(row)
    partial_true = "TRUE" if dialect == "postgresql" else "1"
    partial_false = "FALSE" if dialect == "postgresql" else "0"
    for parts in groups.values():
        first = parts[0]
        total = max(int(first[6] or 1), 1)
        by_index: dict[int, tuple] = {}
        for part in parts:
            by_index.setdefault(int(part[7] or 1), part)
        present = [i for i in range(1, total + 1) if i in by_index]
        text = "".join(by_index[i][3] if i in by_index else GAP_MARKER
                       for i in range(1, total + 1))
        head = by_index.get(1, first)
        stored = min(part[8] for part in parts)
        partial = len(present) < total
        cursor = db.execute_sql(
            'INSERT INTO "inbox_message" ("sim", "modem", "sender", "number", "text", "smsc_at",'
            ' "received_at", "concat_ref", "parts_total", "parts_received", "partial",'
            f' "updated_at", "handled_at") VALUES ({p}, \'\', {p}, {p}, {p}, {p}, {p}, {p}, {p},'
            f' {p}, {partial_true if partial else partial_false}, {p}, {p})'
            + (' RETURNING "id"' if dialect == "postgresql" else ""),
            (first[1], first[2], first[2], text, head[4], stored, first[5] if total > 1 else None,
             total, len(present), stored, stored))
        inbox_id = cursor.fetchone()[0] if dialect == "postgresql" else cursor.lastrowid
        for part in parts:
            db.execute_sql(f'UPDATE "inbound_message" SET "inbox_id" = {p} WHERE "id" = {p}',
                           (inbox_id, part[0]))


def apply(db: peewee.Database, dialect: str) -> None:
    for sql in statements(dialect):
        db.execute_sql(sql)
    _backfill(db, dialect)
