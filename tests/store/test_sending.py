"""The send path's fixed-SQL writes: the same rows as the peewee transitions, and the same
errors when the row is not where the send expects it; on SQLite and on PostgreSQL (its quoting,
parameter style and ON CONFLICT ... EXCLUDED)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import peewee
import pytest

from appliance.store import sending
from appliance.store.messages import (
    NewMessage,
    NewPart,
    accept_messages,
    add_parts,
    claim_messages,
    get_message,
    transition_part,
)
from appliance.store.models import MessageEvent, Part, SimCounter
from appliance.store.sims import load_counters
from appliance.store.sims import save_counters as slow_save_counters
from appliance.store.states import InvalidTransition

pytest_plugins = ["tests.store.pg_server"]  # pg_db (skipped where PostgreSQL cannot run)

NOW = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
SIM = "89860000000000000001"
TZ = UTC


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest) -> peewee.Database:
    return request.getfixturevalue("db" if request.param == "sqlite" else "pg_db")


def claimed_with_parts(db: peewee.Database, n_parts: int = 2) -> tuple[int, list[int]]:
    with db.atomic():
        (msg_id,) = accept_messages([NewMessage("+8613800000001", "hi")], now=NOW)
        assert [m.id for m in claim_messages(SIM, 1, NOW, candidate_ids=[msg_id])] == [msg_id]
        ids = add_parts(msg_id, SIM, [NewPart(pdu="00", tpdu_length=1, concat_ref=7)] * n_parts)
    return msg_id, ids


def test_a_part_goes_sending_then_sent_with_its_reference(db: peewee.Database):
    msg_id, (first, second) = claimed_with_parts(db)
    with db.atomic():
        sending.mark_part_sending(first)
    part = Part.get_by_id(first)
    assert (part.state, part.attempts) == ("sending", 1)
    with db.atomic():
        sending.mark_part_sent(first, 42, NOW)
    part = Part.get_by_id(first)
    assert (part.state, part.message_reference, part.sent_at) == ("sent", 42, NOW)
    assert Part.get_by_id(second).state == "pending"


def test_a_message_goes_sent_with_its_event(db: peewee.Database):
    msg_id, parts = claimed_with_parts(db, 1)
    later = NOW + timedelta(seconds=3)
    with db.atomic():
        sending.mark_part_sending(parts[0])
        sending.mark_part_sent(parts[0], 5, later)
        sending.mark_message_sent(msg_id, "1 part(s) sent", SIM, later)
    view = get_message(msg_id)
    assert (view["state"], view["sent_at"], view["updated_at"]) == ("sent", later, later)
    last = MessageEvent.select().where(MessageEvent.message == msg_id).order_by(
        MessageEvent.id.desc()).get()
    assert (last.old_state, last.new_state, last.detail, last.sim, last.at) == (
        "sending", "sent", "1 part(s) sent", SIM, later)


def test_a_part_not_pending_is_refused_as_the_slow_path_would(db: peewee.Database):
    _, (first, _) = claimed_with_parts(db)
    with db.atomic():
        sending.mark_part_sending(first)
    with pytest.raises(InvalidTransition), db.atomic():
        sending.mark_part_sending(first)  # already sending: never two marks
    with pytest.raises(LookupError), db.atomic():
        sending.mark_part_sending(10_000)


def test_a_part_not_sending_cannot_be_marked_sent(db: peewee.Database):
    _, (first, _) = claimed_with_parts(db)
    with pytest.raises(InvalidTransition), db.atomic():
        sending.mark_part_sent(first, 1, NOW)
    with db.atomic():
        transition_part(first, "failed")
    with pytest.raises(InvalidTransition), db.atomic():
        sending.mark_part_sent(first, 1, NOW)


def test_a_message_not_sending_cannot_be_marked_sent(db: peewee.Database):
    with db.atomic():
        (queued,) = accept_messages([NewMessage("+8613800000002", "hi")], now=NOW)
    with pytest.raises(InvalidTransition), db.atomic():
        sending.mark_message_sent(queued, "x", SIM, NOW)
    assert get_message(queued)["state"] == "queued"


def test_counters_are_stored_as_the_slow_path_stores_them(db: peewee.Database):
    start = NOW.replace(minute=0).isoformat()
    first = {"hour": {"start": start, "count": 1}, "day": {"start": start, "count": 1}}
    second = {"hour": {"start": start, "count": 2}, "day": {"start": start, "count": 2}}
    with db.atomic():
        slow_save_counters(SIM, first, TZ)
        slow_rows = sorted((r.window, r.window_start, r.count) for r in SimCounter.select())
        sending.save_counters(SIM, first, TZ)  # same rows, updated in place
        assert sorted((r.window, r.window_start, r.count) for r in SimCounter.select()) == \
            slow_rows
        sending.save_counters(SIM, second, TZ)
    assert SimCounter.select().count() == 2
    assert {w: v["count"] for w, v in load_counters(SIM, TZ).items()} == {"hour": 2, "day": 2}


def test_claim_one_claims_only_a_due_queued_message_not_pinned_elsewhere(db: peewee.Database):
    later = NOW + timedelta(hours=1)
    with db.atomic():
        due, future, expired, pinned = accept_messages([
            NewMessage("+8613800000001", "due"),
            NewMessage("+8613800000002", "later", send_at=later),
            NewMessage("+8613800000003", "gone", expires_at=NOW - timedelta(seconds=1)),
            NewMessage("+8613800000004", "pinned")], now=NOW - timedelta(minutes=1))
        from appliance.store.models import Message
        Message.update(sim="89860000000000000099").where(Message.id == pinned).execute()
    with db.atomic():
        claimed = sending.claim_one(due, SIM, NOW)
        assert claimed is not None
        assert (claimed.id, claimed.recipient, claimed.text, claimed.state, claimed.sim,
                claimed.attempts) == (due, "+8613800000001", "due", "sending", SIM, 1)
        assert sending.claim_one(due, SIM, NOW) is None  # not queued any more
        assert sending.claim_one(future, SIM, NOW) is None
        assert sending.claim_one(expired, SIM, NOW) is None
        assert sending.claim_one(pinned, SIM, NOW) is None
    info = get_message(due)
    assert [e["detail"] for e in info["events"]][-1] == "claimed"
    assert get_message(future)["state"] == "queued"


def test_parts_added_on_the_fast_path_read_back_in_order(db: peewee.Database):
    with db.atomic():
        (msg_id,) = accept_messages([NewMessage("+8613800000001", "hi")], now=NOW)
        assert sending.claim_one(msg_id, SIM, NOW) is not None
        ids = sending.add_parts(msg_id, SIM, [("AA", 10, 7), ("BB", 11, 7)])
    rows = sending.stored_parts(msg_id)
    assert rows == [(ids[0], 1, "AA", 10, "pending", ""), (ids[1], 2, "BB", 11, "pending", "")]
    part = Part.get_by_id(ids[1])
    assert (part.count, part.concat_ref, part.sim) == (2, 7, SIM)
    assert get_message(msg_id)["parts_count"] == 2
