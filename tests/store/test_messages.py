"""The outbox: acceptance, claiming, releasing, crash recovery, expiry, cancellation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import peewee
import pytest

from appliance.store.messages import (
    IdempotencyConflict,
    NewMessage,
    NewPart,
    accept_messages,
    add_parts,
    cancel_message,
    claim_messages,
    expire_due,
    get_message,
    next_concat_ref,
    recover_after_crash,
    release_claims_for_sim,
    requeue_message,
    transition_message,
    transition_part,
)
from appliance.store.models import Message, MessageEvent, Part, Sim
from appliance.store.states import InvalidTransition

NOW = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
SIM_A = "89860000000000000001"
SIM_B = "89860000000000000002"


def msg(n: int = 1, **kw) -> NewMessage:
    return NewMessage(recipient=f"+86138000000{n:02d}", text=f"text {n}", **kw)


def accept(db, *requests: NewMessage) -> list[int]:
    with db.atomic():
        return accept_messages(list(requests), now=NOW)


def claim(db, sim: str, limit: int = 10, **kw) -> list[int]:
    with db.atomic():
        return [m.id for m in claim_messages(sim, limit, NOW, **kw)]


def claim_with_parts(db, sim: str, n_parts: int) -> int:
    """Accept one message, claim it on `sim` and store `n_parts` parts; return its id."""
    (msg_id,) = accept(db, msg(99))
    assert claim(db, sim, candidate_ids=[msg_id]) == [msg_id]
    with db.atomic():
        add_parts(msg_id, sim, [NewPart(pdu="00", tpdu_length=1, concat_ref=7)] * n_parts)
    return msg_id


def part_states(msg_id: int) -> list[str]:
    return [p["state"] for p in get_message(msg_id)["parts"]]


# -- acceptance ------------------------------------------------------------------------------


def test_accepted_messages_are_queued_with_an_event(db: peewee.Database):
    ids = accept(db, msg(1), msg(2, hold=True))
    first, second = get_message(ids[0]), get_message(ids[1])
    assert (first["state"], second["state"]) == ("queued", "held")
    assert first["queued_at"] == NOW and second["queued_at"] is None
    assert [(e["old_state"], e["new_state"]) for e in first["events"]] == [(None, "queued")]


def test_client_ref_makes_a_retry_return_the_same_ids(db: peewee.Database):
    request = [msg(1, client_ref="r-1", submitter_kind="api_key", submitter_id="7"),
               msg(2, client_ref="r-1", submitter_kind="api_key", submitter_id="7")]
    first = accept(db, *request)
    again = accept(db, *request)
    assert first == again and len(set(first)) == 2
    assert Message.select().count() == 2
    # The same client_ref from another submitter is another request.
    other = accept(db, msg(1, client_ref="r-1", submitter_kind="api_key", submitter_id="8"))
    assert other[0] not in first


def test_client_ref_reused_for_another_message_is_a_conflict(db: peewee.Database):
    accept(db, msg(1, client_ref="r-2"))
    with pytest.raises(IdempotencyConflict, match="r-2"):
        accept(db, NewMessage("+8613800000001", "different text", client_ref="r-2"))


def test_a_batch_larger_than_one_insert_keeps_request_order(db: peewee.Database):
    # 1,234 rows: several multi-row INSERT ... RETURNING chunks plus a remainder.
    requests = [NewMessage(f"+8613{n:09d}", f"text {n}", hold=n % 3 == 0,
                           send_at=NOW + timedelta(minutes=n) if n % 5 == 0 else None)
                for n in range(1234)]
    ids = accept(db, *requests)
    assert len(set(ids)) == len(ids) == 1234
    rows = {m.id: m for m in Message.select()}
    for msg_id, req in zip(ids, requests, strict=True):
        row = rows[msg_id]
        assert (row.recipient, row.text, row.state, row.send_at) == (
            req.recipient, req.text, "held" if req.hold else "queued", req.send_at)
        assert row.created_at == NOW and row.attempts == 0 and row.error == ""
        assert row.queued_at == (None if req.hold else NOW)
    events = list(MessageEvent.select().order_by(MessageEvent.id))
    assert [e.message_id for e in events] == ids
    assert all(e.at == NOW and e.old_state is None and e.detail == "accepted" for e in events)


def test_a_partial_retry_returns_old_ids_and_stores_only_the_new(db: peewee.Database):
    def ref(n: int, client_ref: str) -> NewMessage:
        return msg(n, client_ref=client_ref, submitter_kind="api_key", submitter_id="7")

    first = accept(db, ref(1, "a"), msg(2), ref(3, "a"), ref(4, "b"))
    # The same request again, grown by one more recipient under "a" and a new client_ref.
    again = accept(db, ref(5, "c"), ref(1, "a"), msg(2), ref(3, "a"), ref(4, "b"), ref(6, "a"))
    assert again[1] == first[0] and again[3] == first[2] and again[4] == first[3]
    assert again[2] != first[1]  # no client_ref: a new message every time
    assert len(set(again + first)) == 7 == Message.select().count()
    assert MessageEvent.select().count() == 7
    seqs = {m.id: (m.client_ref, m.client_ref_seq) for m in Message.select()}
    assert [seqs[i] for i in again] == [("c", 0), ("a", 0), (None, 0), ("a", 1), ("b", 0),
                                        ("a", 2)]
    assert accept(db, ref(5, "c"), ref(1, "a"), msg(2), ref(3, "a"), ref(4, "b"),
                  ref(6, "a"))[3:] == again[3:]


def test_a_refused_batch_stores_nothing(db: peewee.Database):
    (kept,) = accept(db, msg(1, client_ref="r-3"))
    with pytest.raises(IdempotencyConflict, match=f"id {kept}"):
        accept(db, msg(2), msg(3, client_ref="r-3"), msg(4))
    with pytest.raises(ValueError, match="recipient"):
        accept(db, msg(5), NewMessage("", "no recipient"), msg(6))
    assert Message.select().count() == 1 and MessageEvent.select().count() == 1
    with pytest.raises(ValueError, match="naive"):
        with db.atomic():
            accept_messages([msg(7)], now=datetime(2024, 5, 1, 8, 0))
    assert accept(db) == []
    assert Message.select().count() == 1


# -- claiming --------------------------------------------------------------------------------


def test_claim_takes_ready_messages_by_priority_then_age(db: peewee.Database):
    low, high, later, expired, normal = accept(
        db,
        msg(1, priority=0),
        msg(2, priority=9),
        msg(3, send_at=NOW + timedelta(minutes=5)),
        msg(4, expires_at=NOW - timedelta(seconds=1)),
        msg(5, priority=0),
    )
    assert claim(db, SIM_A, limit=2) == [high, low]
    assert claim(db, SIM_B) == [normal]  # not the future one, not the expired one
    claimed = get_message(high)
    assert claimed["state"] == "sending" and claimed["sim"] == SIM_A and claimed["attempts"] == 1
    assert claimed["events"][-1]["new_state"] == "sending"
    assert claimed["events"][-1]["sim"] == SIM_A
    assert get_message(later)["state"] == "queued" and get_message(expired)["state"] == "queued"


def test_claim_honours_candidates_and_filters(db: peewee.Database):
    alert, notice, otp = accept(db, msg(1, category="alert"), msg(2), msg(3, category="otp"))
    assert claim(db, SIM_A, candidate_ids=[notice]) == [notice]
    assert claim(db, SIM_A, candidate_ids=[]) == []
    assert claim(db, SIM_A, where=Message.category == "otp") == [otp]
    assert claim(db, SIM_B) == [alert]
    assert claim(db, SIM_B) == []  # nothing is claimed twice


def test_held_messages_are_not_claimed_until_released(db: peewee.Database):
    (held,) = accept(db, msg(1, hold=True))
    assert claim(db, SIM_A) == []
    with db.atomic():
        transition_message(held, "queued", "approved")
    assert claim(db, SIM_A) == [held]


# -- giving work back ------------------------------------------------------------------------


def test_release_unsent_message_goes_back_unpinned_and_drops_its_parts(db: peewee.Database):
    msg_id = claim_with_parts(db, SIM_A, 2)
    with db.atomic():
        counts = release_claims_for_sim(SIM_A, "modem unplugged", now=NOW)
    assert counts == {"requeued": 1, "pinned": 0, "ambiguous": 0}
    info = get_message(msg_id)
    assert info["state"] == "queued" and info["sim"] is None and info["parts"] == []
    assert claim(db, SIM_B) == [msg_id]


def test_release_half_sent_message_stays_pinned_to_its_sim(db: peewee.Database):
    msg_id = claim_with_parts(db, SIM_A, 2)
    first = get_message(msg_id)["parts"][0]["id"]
    with db.atomic():
        transition_part(first, "sending")
        transition_part(first, "sent", message_reference=42)
        counts = release_claims_for_sim(SIM_A, "modem unplugged", now=NOW)
    assert counts["pinned"] == 1
    info = get_message(msg_id)
    assert info["state"] == "queued" and info["sim"] == SIM_A
    assert part_states(msg_id) == ["sent", "pending"]
    assert info["parts"][0]["message_reference"] == 42
    assert claim(db, SIM_B) == []  # the second part must leave through SIM A
    assert claim(db, SIM_A) == [msg_id]


def test_release_after_every_part_was_tried_settles_instead_of_pinning(db: peewee.Database):
    """The last part was recorded ambiguous (its port vanished mid-+CMGS) before the message
    was: nothing is left to send, so it is ambiguous now, never pinned to be sent again."""
    msg_id = claim_with_parts(db, SIM_A, 2)
    first, last = (p["id"] for p in get_message(msg_id)["parts"])
    with db.atomic():
        transition_part(first, "sending")
        transition_part(first, "sent", message_reference=42)
        transition_part(last, "sending")
        transition_part(last, "ambiguous", error="port gone during +CMGS")
        counts = release_claims_for_sim(SIM_A, "modem unplugged", now=NOW)
    assert counts == {"requeued": 0, "pinned": 0, "ambiguous": 1}
    assert get_message(msg_id)["state"] == "ambiguous"
    assert part_states(msg_id) == ["sent", "ambiguous"]
    assert claim(db, SIM_A) == [] and claim(db, SIM_B) == []


def test_requeue_after_a_transient_error(db: peewee.Database):
    msg_id = claim_with_parts(db, SIM_A, 1)
    part = get_message(msg_id)["parts"][0]["id"]
    with db.atomic():
        transition_part(part, "sending")
        transition_part(part, "pending", error="+CMS ERROR: 38")
        assert requeue_message(msg_id, "+CMS ERROR: 38") == "requeued"
    assert get_message(msg_id)["state"] == "queued"
    assert claim(db, SIM_B) == [msg_id]
    assert get_message(msg_id)["attempts"] == 2


def test_sent_message_cannot_be_requeued(db: peewee.Database):
    msg_id = claim_with_parts(db, SIM_A, 1)
    with db.atomic():
        transition_message(msg_id, "sent")
        with pytest.raises(InvalidTransition, match="sent to queued"):
            requeue_message(msg_id, "no")


# -- crash recovery --------------------------------------------------------------------------


def crash_scene(db) -> tuple[int, int, int]:
    """Three messages as a power cut might leave them: untouched, half sent, one in flight."""
    untouched = claim_with_parts(db, SIM_A, 2)
    half = claim_with_parts(db, SIM_A, 2)
    in_flight = claim_with_parts(db, SIM_B, 2)
    p_half = get_message(half)["parts"][0]["id"]
    p_flight = get_message(in_flight)["parts"][1]["id"]
    p_flight_first = get_message(in_flight)["parts"][0]["id"]
    with db.atomic():
        transition_part(p_half, "sending")
        transition_part(p_half, "sent", message_reference=1)
        transition_part(p_flight_first, "sending")
        transition_part(p_flight_first, "sent", message_reference=2)
        transition_part(p_flight, "sending")  # +CMGS written, then the power went
    return untouched, half, in_flight


def test_recover_after_crash_marks_the_in_flight_part_ambiguous(db: peewee.Database):
    untouched, half, in_flight = crash_scene(db)
    with db.atomic():
        counts = recover_after_crash(now=NOW)
    assert counts == {"requeued": 1, "pinned": 1, "ambiguous": 1}
    assert get_message(untouched)["state"] == "queued"
    assert get_message(untouched)["sim"] is None
    assert (get_message(half)["state"], get_message(half)["sim"]) == ("queued", SIM_A)
    info = get_message(in_flight)
    assert info["state"] == "ambiguous" and "restart" in info["error"]
    assert part_states(in_flight) == ["sent", "ambiguous"]
    assert Message.select().where(Message.state == "sending").count() == 0
    # Nothing of the ambiguous message is claimable: it is not silently resent.
    assert in_flight not in claim(db, SIM_B)


def test_recover_with_resend_puts_the_in_flight_part_back(db: peewee.Database):
    _, _, in_flight = crash_scene(db)
    with db.atomic():
        counts = recover_after_crash(resend_ambiguous=True, now=NOW)
    assert counts["ambiguous"] == 0
    info = get_message(in_flight)
    assert (info["state"], info["sim"]) == ("queued", SIM_B)  # pinned: part 1 left via SIM B
    assert part_states(in_flight) == ["sent", "pending"]
    assert claim(db, SIM_B, candidate_ids=[in_flight]) == [in_flight]


def test_recovery_is_recorded_as_events(db: peewee.Database):
    _, _, in_flight = crash_scene(db)
    with db.atomic():
        recover_after_crash(now=NOW)
    last = MessageEvent.select().where(MessageEvent.message == in_flight).order_by(
        MessageEvent.id.desc()).get()
    assert (last.old_state, last.new_state) == ("sending", "ambiguous")


# -- expiry, cancellation, references --------------------------------------------------------


def test_expire_due(db: peewee.Database):
    soon, later, never = accept(
        db, msg(1, expires_at=NOW + timedelta(minutes=1)),
        msg(2, expires_at=NOW + timedelta(hours=1)), msg(3),
    )
    with db.atomic():
        assert expire_due(NOW + timedelta(minutes=2)) == [soon]
    assert get_message(soon)["state"] == "expired" and get_message(soon)["final_at"] is not None
    assert get_message(later)["state"] == get_message(never)["state"] == "queued"


def test_cancel_only_before_sending(db: peewee.Database):
    queued, claimed = accept(db, msg(1), msg(2))
    assert claim(db, SIM_A, candidate_ids=[claimed]) == [claimed]
    with db.atomic():
        cancel_message(queued)
    assert get_message(queued)["state"] == "cancelled"
    with pytest.raises(InvalidTransition, match="sending to cancelled"), db.atomic():
        cancel_message(claimed)
    assert get_message(claimed)["state"] == "sending"


def test_parts_only_for_the_claiming_sim(db: peewee.Database):
    msg_id = claim_with_parts(db, SIM_A, 1)
    with pytest.raises(ValueError, match="not claimed by SIM"), db.atomic():
        add_parts(msg_id, SIM_B, [NewPart(pdu="00", tpdu_length=1)])
    assert Part.select().where(Part.message == msg_id).count() == 1


def test_concat_reference_rotates_within_eight_bits(db: peewee.Database):
    with db.atomic():
        Sim.create(iccid=SIM_A, concat_ref=254)
        refs = [next_concat_ref(SIM_A) for _ in range(3)]
    assert refs == [255, 1, 2]


# -- half-sent messages: cancelling, resending ambiguous parts ---------------------------------


def half_sent_back_in_queue(db) -> int:
    """A two-part message whose first part left through SIM A, then the SIM went away."""
    msg_id = claim_with_parts(db, SIM_A, 2)
    first = get_message(msg_id)["parts"][0]["id"]
    with db.atomic():
        transition_part(first, "sending")
        transition_part(first, "sent", message_reference=42)
        release_claims_for_sim(SIM_A, "modem unplugged", now=NOW)
    return msg_id


def test_cancel_refuses_a_queued_message_whose_first_parts_left(db: peewee.Database):
    msg_id = half_sent_back_in_queue(db)
    assert get_message(msg_id)["state"] == "queued"
    with pytest.raises(InvalidTransition, match="queued to cancelled"), db.atomic():
        cancel_message(msg_id)
    info = get_message(msg_id)
    assert info["state"] == "queued" and part_states(msg_id) == ["sent", "pending"]


def test_resent_ambiguous_part_keeps_a_long_message_on_its_sim_and_reference(
        db: peewee.Database):
    msg_id = claim_with_parts(db, SIM_A, 2)
    first = get_message(msg_id)["parts"][0]["id"]
    with db.atomic():
        transition_part(first, "sending")  # +CMGS written, never answered
        assert requeue_message(msg_id, "no answer to +CMGS", resend_ambiguous=True,
                               now=NOW) == "pinned"
    info = get_message(msg_id)
    # Part 1 may already be on the handset from SIM A: the rest, and the resend, follow it
    # through SIM A with the same concatenation reference.
    assert (info["state"], info["sim"]) == ("queued", SIM_A)
    assert part_states(msg_id) == ["pending", "pending"]
    assert [p["id"] for p in info["parts"]][0] == first
    assert claim(db, SIM_B) == []
    # And a later failure that proves nothing left does not unpin it either.
    assert claim(db, SIM_A) == [msg_id]
    with db.atomic():
        transition_part(first, "sending")
        transition_part(first, "pending", error="+CMS ERROR: 38")
        assert requeue_message(msg_id, "+CMS ERROR: 38", resend_ambiguous=True) == "pinned"
    assert get_message(msg_id)["sim"] == SIM_A
    # Nor may it be cancelled: part 1 may have arrived.
    with pytest.raises(InvalidTransition), db.atomic():
        cancel_message(msg_id)


def test_resent_ambiguous_single_part_message_may_go_through_any_sim(db: peewee.Database):
    msg_id = claim_with_parts(db, SIM_A, 1)
    part = get_message(msg_id)["parts"][0]["id"]
    with db.atomic():
        transition_part(part, "sending")
        assert requeue_message(msg_id, "no answer to +CMGS", resend_ambiguous=True,
                               now=NOW) == "requeued"
    assert get_message(msg_id)["sim"] is None  # nothing to reassemble
    assert claim(db, SIM_B) == [msg_id]


def test_requeue_without_counting_gives_the_attempt_back(db: peewee.Database):
    msg_id = claim_with_parts(db, SIM_A, 1)
    assert get_message(msg_id)["attempts"] == 1
    with db.atomic():
        requeue_message(msg_id, "the modem is not ready", count_attempt=False)
    assert get_message(msg_id)["attempts"] == 0


def test_release_and_recovery_report_the_same_counts(db: peewee.Database):
    with db.atomic():
        assert release_claims_for_sim(SIM_A, "gone", now=NOW) == recover_after_crash(now=NOW) == {
            "requeued": 0, "pinned": 0, "ambiguous": 0}


def test_recovery_lets_the_rest_of_a_long_message_follow_its_in_flight_part(
        db: peewee.Database):
    msg_id = claim_with_parts(db, SIM_B, 3)
    first = get_message(msg_id)["parts"][0]["id"]
    with db.atomic():
        transition_part(first, "sending")  # part 1 of 3 in flight at the power cut
    with db.atomic():
        counts = recover_after_crash(now=NOW)
    assert counts == {"requeued": 0, "pinned": 1, "ambiguous": 0}
    info = get_message(msg_id)
    # Parts 2 and 3 still go, through the same SIM; part 1 is not resent.
    assert (info["state"], info["sim"]) == ("queued", SIM_B)
    assert part_states(msg_id) == ["ambiguous", "pending", "pending"]
    assert claim(db, SIM_B, candidate_ids=[msg_id]) == [msg_id]
