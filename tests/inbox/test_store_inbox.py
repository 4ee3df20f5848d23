"""store.inbox on a real SQLite WAL file: reassembly, duplicates, partials, late parts, paging,
and migration 3's backfill of parts stored before the inbox existed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import peewee
import pytest

from appliance.store import inbox
from appliance.store.db import open_database
from appliance.store.migrations import MIGRATIONS, migrate
from appliance.store.models import InboundMessage, InboxMessage

ICCID = "89860000000000000001"
SENDER = "+8613900000001"
T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[peewee.Database]:
    database = open_database(f"sqlite:///{tmp_path / 'cg.db'}")
    migrate(database)
    yield database
    database.close()


def part(text: str, *, index: int = 1, count: int = 1, ref: int | None = None,
         sender: str = SENDER, at: datetime = T0, smsc_at: datetime = T0, pdu: str | None = None,
         iccid: str = ICCID) -> inbox.Received:
    with InboundMessage._meta.database.atomic():
        return inbox.receive_part(
            iccid=iccid, modem="861234567890123", sender=sender, number=sender, text=text,
            smsc_at=smsc_at, arrived_at=at, concat_ref=ref, concat_count=count,
            concat_index=index, smsc="+8613800100500",
            pdu=pdu if pdu is not None else f"PDU:{sender}:{ref}:{index}:{text}")


def test_a_single_part_message_is_an_inbox_message_at_once(db):
    got = part("hello")
    assert got.message is not None and not got.duplicate and not got.waiting
    row = InboxMessage.get_by_id(got.message["id"])
    assert (row.text, row.sim, row.modem, row.sender, row.number) == (
        "hello", ICCID, "861234567890123", SENDER, SENDER)
    assert (row.parts_total, row.parts_received, row.partial) == (1, 1, False)
    assert row.smsc_at == T0 and row.handled_at is None
    assert InboundMessage.get_by_id(got.part_id).inbox_id == row.id


@pytest.mark.parametrize("order", [(3, 1, 2), (2, 3, 1), (1, 2, 3), (3, 2, 1)])
def test_parts_in_any_order_make_one_message_in_index_order(db, order):
    texts = {1: "one ", 2: "two ", 3: "three"}
    results = [part(texts[i], index=i, count=3, ref=9, at=T0 + timedelta(seconds=n))
               for n, i in enumerate(order)]
    assert [r.message is None for r in results] == [True, True, False]
    assert all(r.waiting for r in results[:2])
    message = results[-1].message
    assert message["text"] == "one two three"
    assert (message["parts_total"], message["parts_received"], message["partial"]) == (3, 3, False)
    assert message["received_at"] == T0  # the first part's arrival, whatever its index
    assert InboxMessage.select().count() == 1
    assert inbox.waiting_count() == 0


def test_the_same_reference_from_two_senders_or_two_sims_does_not_mix(db):
    part("a1", index=1, count=2, ref=5)
    part("b1", index=1, count=2, ref=5, sender="+8613900000002")
    part("c1", index=1, count=2, ref=5, iccid="OTHER")
    done = part("a2", index=2, count=2, ref=5).message
    assert done["text"] == "a1a2"
    assert inbox.waiting_count() == 2


def test_a_part_read_twice_is_stored_once(db):
    first = part("hello", pdu="0791AB")
    again = part("hello", pdu="0791AB", at=T0 + timedelta(hours=5))
    assert again.duplicate and again.message is None and again.part_id == first.part_id
    assert InboxMessage.select().count() == 1 and InboundMessage.select().count() == 1


def test_a_network_redelivery_with_another_pdu_is_stored_once(db):
    part("hello", pdu="0791AB04")
    again = part("hello", pdu="0791AB00")  # e.g. TP-MMS differs; same sender, SCTS, text
    assert again.duplicate
    assert InboxMessage.select().count() == 1


def test_the_same_text_at_another_smsc_time_is_another_message(db):
    part("ok", pdu="A")
    part("ok", pdu="B", smsc_at=T0 + timedelta(seconds=40))
    assert InboxMessage.select().count() == 2


def test_a_duplicate_part_of_a_waiting_message_does_not_complete_it(db):
    part("one ", index=1, count=2, ref=3, pdu="P1")
    assert part("one ", index=1, count=2, ref=3, pdu="P1").duplicate
    assert InboxMessage.select().count() == 0
    assert part("two", index=2, count=2, ref=3, pdu="P2").message["text"] == "one two"


def test_a_group_waits_until_the_timeout_then_is_partial_with_a_gap(db):
    part("one ", index=1, count=3, ref=4, at=T0)
    part("three", index=3, count=3, ref=4, at=T0 + timedelta(seconds=30))
    created, waiting = inbox.store_partials_due(T0 - timedelta(seconds=1), T0)
    assert created == [] and waiting == 2
    created, waiting = inbox.store_partials_due(T0, T0 + timedelta(hours=1))
    assert waiting == 0
    [message] = created
    assert message["text"] == "one " + inbox.GAP_MARKER + "three"
    assert (message["partial"], message["parts_received"], message["parts_total"]) == (
        True, 2, 3)


def test_a_late_part_completes_the_partial_in_place(db):
    part("one ", index=1, count=2, ref=6)
    [partial], _ = inbox.store_partials_due(T0, T0 + timedelta(hours=1))
    late = part("two", index=2, count=2, ref=6, at=T0 + timedelta(hours=2))
    assert late.message["id"] == partial["id"]
    assert (late.message["text"], late.message["partial"]) == ("one two", False)
    assert late.message["updated_at"] == T0 + timedelta(hours=2)
    assert InboxMessage.select().count() == 1
    assert inbox.waiting_count() == 0


def test_a_part_the_partial_already_has_starts_a_new_message(db):
    """Reference reuse: index 1 again (other text) is not the partial's missing part."""
    part("one ", index=1, count=2, ref=6)
    inbox.store_partials_due(T0, T0 + timedelta(hours=1))
    assert part("new one ", index=1, count=2, ref=6, at=T0 + timedelta(hours=2)).waiting


def test_a_late_part_after_the_window_does_not_join_an_old_partial(db):
    part("one ", index=1, count=2, ref=6)
    inbox.store_partials_due(T0, T0 + timedelta(hours=1))
    late = part("two", index=2, count=2, ref=6,
                at=T0 + inbox.LATE_PART_WINDOW + timedelta(hours=1))
    assert late.waiting and late.message is None


def test_unhandled_and_mark_handled(db):
    ids = [part(f"m{n}", pdu=f"P{n}", smsc_at=T0 + timedelta(seconds=n)).message["id"]
           for n in range(3)]
    assert [m["id"] for m in inbox.unhandled(10)] == ids
    assert inbox.mark_handled(ids[1], T0)
    assert not inbox.mark_handled(ids[1], T0)  # once
    assert [m["id"] for m in inbox.unhandled(10)] == [ids[0], ids[2]]


def test_listing_pages_by_id_and_filters(db):
    for n in range(6):
        part(f"m{n}", sender=f"+861390000000{n % 2}", pdu=f"P{n}", at=T0 + timedelta(hours=n),
             smsc_at=T0 + timedelta(seconds=n), iccid="A" if n < 3 else "B")
    ids = [m["id"] for m in inbox.list_messages(limit=100)]
    assert ids == sorted(ids) and len(ids) == 6
    assert [m["id"] for m in inbox.list_messages(since=ids[1], limit=2)] == ids[2:4]
    assert [m["id"] for m in inbox.list_messages(before=ids[4], ascending=False, limit=2)] == [
        ids[3], ids[2]]
    assert [m["text"] for m in inbox.list_messages(number="+8613900000001")] == [
        "m1", "m3", "m5"]
    assert [m["text"] for m in inbox.list_messages(sim="B")] == ["m3", "m4", "m5"]
    assert [m["text"] for m in inbox.list_messages(
        received_from=T0 + timedelta(hours=1), received_to=T0 + timedelta(hours=3))] == [
        "m1", "m2"]
    assert all(m["contact"] is None for m in inbox.list_messages())


def test_migration_3_turns_older_parts_into_handled_inbox_messages(tmp_path: Path):
    path = tmp_path / "v2.db"
    db = open_database(f"sqlite:///{path}")
    assert migrate(db, MIGRATIONS[:2]) == 2
    db.execute_sql(
        "INSERT INTO inbound_message (sim, sender, text, received_at, concat_ref, concat_count,"
        " concat_index, smsc, pdu, stored_at, pdu_hash) VALUES"
        " ('A', '+8613900000001', 'single', '2024-05-01 08:00:00', NULL, 1, 1, NULL, 'X1',"
        "  '2024-05-01 08:00:01', ''),"
        " ('A', '+8613900000002', 'two', '2024-05-01 08:00:00', 7, 2, 2, NULL, 'X2',"
        "  '2024-05-01 08:00:02', ''),"
        " ('A', '+8613900000002', 'one ', '2024-05-01 08:00:00', 7, 2, 1, NULL, 'X3',"
        "  '2024-05-01 08:00:03', ''),"
        " ('A', '+8613900000003', 'half', '2024-05-01 08:00:00', 8, 2, 1, NULL, 'X4',"
        "  '2024-05-01 08:00:04', '')")
    db.close()
    db = open_database(f"sqlite:///{path}")
    assert migrate(db) == len(MIGRATIONS)
    rows = {r.sender: r for r in InboxMessage.select()}
    assert rows["+8613900000001"].text == "single"
    assert rows["+8613900000002"].text == "one two"
    assert not rows["+8613900000002"].partial
    assert rows["+8613900000003"].text == "half" + inbox.GAP_MARKER
    assert rows["+8613900000003"].partial
    assert all(r.handled_at is not None for r in rows.values())  # history is not answered
    assert inbox.waiting_count() == 0
    db.close()


def test_a_part_with_an_index_beyond_its_total_is_shown_not_dropped(db):
    part("one ", index=1, count=2, ref=12)
    part("stray", index=5, count=2, ref=12)
    [message], _ = inbox.store_partials_due(T0, T0 + timedelta(hours=1))
    assert message["text"] == "one " + inbox.GAP_MARKER + "stray"
    assert (message["partial"], message["parts_received"]) == (True, 1)
