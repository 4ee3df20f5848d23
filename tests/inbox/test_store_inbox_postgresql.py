"""store.inbox and migration 3 against a real PostgreSQL server (tests/store/pg_server.py):
the fixed SQL of the hot path (RETURNING ids, booleans, time stamps) and the backfill.
Skipped, with the reason, when the server binaries or psycopg2 are missing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import peewee

from appliance.store import inbox
from appliance.store.db import open_database
from appliance.store.migrations import MIGRATIONS, migrate
from appliance.store.models import InboundMessage, InboxMessage

pytest_plugins = ["tests.store.pg_server"]

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
SIM = "89860000000000000001"


def part(db: peewee.Database, text: str, *, index: int = 1, count: int = 1,
         ref: int | None = None, at: datetime = T0, pdu: str | None = None) -> inbox.Received:
    with db.atomic():
        return inbox.receive_part(
            iccid=SIM, modem="861234567890123", sender="+8613900000001",
            number="+8613900000001", text=text, smsc_at=T0, arrived_at=at, concat_ref=ref,
            concat_count=count, concat_index=index, smsc=None,
            pdu=pdu if pdu is not None else f"P{ref}:{index}:{text}")


def test_parts_duplicates_partials_and_listing(pg_db: peewee.Database):
    single = part(pg_db, "<script>'; DROP TABLE x; --\u202E👋🏽", pdu="S")
    assert single.message["text"] == "<script>'; DROP TABLE x; --\u202E👋🏽"
    assert part(pg_db, "<script>'; DROP TABLE x; --\u202E👋🏽", pdu="S").duplicate
    assert part(pg_db, "<script>'; DROP TABLE x; --\u202E👋🏽", pdu="S2").duplicate
    assert part(pg_db, "two", index=2, count=2, ref=7).waiting
    assert part(pg_db, "one ", index=1, count=2, ref=7).message["text"] == "one two"
    part(pg_db, "a ", index=1, count=2, ref=8)
    [partial], waiting = inbox.store_partials_due(T0, T0 + timedelta(hours=1))
    assert (partial["partial"], waiting) == (True, 0)
    done = part(pg_db, "b", index=2, count=2, ref=8, at=T0 + timedelta(hours=2)).message
    assert (done["id"], done["text"], done["partial"]) == (partial["id"], "a b", False)
    listed = inbox.list_messages()
    assert [m["text"] for m in listed] == ["<script>'; DROP TABLE x; --\u202E👋🏽", "one two",
                                           "a b"]
    assert listed[0]["received_at"] == T0 and listed[0]["partial"] is False
    assert inbox.mark_handled(listed[0]["id"], T0)
    assert [m["id"] for m in inbox.unhandled()] == [listed[1]["id"], listed[2]["id"]]


def test_migration_3_backfills_older_parts(pg_url: str):
    db = open_database(pg_url)
    try:
        assert migrate(db, MIGRATIONS[:2]) == 2
        db.execute_sql(
            "INSERT INTO inbound_message (sim, sender, text, received_at, concat_ref,"
            " concat_count, concat_index, smsc, pdu, stored_at, pdu_hash) VALUES"
            " ('A', '+8613900000002', 'two', '2024-05-01 08:00:00', 7, 2, 2, NULL, 'X2',"
            "  '2024-05-01 08:00:02', ''),"
            " ('A', '+8613900000002', 'one ', '2024-05-01 08:00:00', 7, 2, 1, NULL, 'X3',"
            "  '2024-05-01 08:00:03', '')")
        assert migrate(db) == len(MIGRATIONS)
        [row] = list(InboxMessage.select())
        assert (row.text, row.partial, row.parts_received) == ("one two", False, 2)
        assert row.handled_at is not None
        assert {p.inbox_id for p in InboundMessage.select()} == {row.id}
    finally:
        db.close()
