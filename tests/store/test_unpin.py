"""queue.unpin: a message pinned to a SIM gone past the grace. What left (or may have) is
never sent again through another SIM unless the "resend" setting says so."""

from __future__ import annotations

import peewee

from appliance.store import queue as queue_store
from appliance.store.messages import get_message, release_claims_for_sim, transition_part
from tests.store.test_messages import NOW, SIM_A, SIM_B, claim, claim_with_parts, part_states

GONE = "its SIM has been gone for over 30 s"


def pinned(db: peewee.Database, *first: str) -> int:
    """A 2-part message claimed on SIM A, part 1 moved through `first` (part states), the
    SIM lost: queued, pinned to SIM A. Its id."""
    msg_id = claim_with_parts(db, SIM_A, 2)
    part = get_message(msg_id)["parts"][0]["id"]
    with db.atomic():
        for state in first:
            transition_part(part, state, message_reference=5 if state == "sent" else None)
        assert release_claims_for_sim(SIM_A, "modem unplugged", now=NOW)["pinned"] == 1
    return msg_id


def test_a_part_that_left_is_not_sent_again_the_message_fails_naming_it(db):
    msg_id = pinned(db, "sending", "sent")
    with db.atomic():
        assert queue_store.unpin(msg_id, SIM_A, GONE, NOW) == "failed"
    info = get_message(msg_id)
    assert part_states(msg_id) == ["sent", "failed"]
    assert f"part(s) 1 left through SIM {SIM_A}" in info["error"]
    assert "part(s) 2 were never sent" in info["error"]
    assert claim(db, SIM_B) == []


def test_a_part_that_may_have_left_leaves_the_message_ambiguous(db):
    msg_id = pinned(db, "sending")  # in flight when the SIM went: ambiguous
    with db.atomic():
        assert queue_store.unpin(msg_id, SIM_A, GONE, NOW) == "ambiguous"
    assert part_states(msg_id) == ["ambiguous", "failed"]
    assert claim(db, SIM_B) == []
    # Its answer after all (a late +CMGS): the part left, but the message is not "sent":
    # part 2 never did.
    part = get_message(msg_id)["parts"][0]["id"]
    with db.atomic():
        assert queue_store.settle_late_answer(part, 9, NOW) is None
    assert get_message(msg_id)["state"] == "ambiguous"
    assert part_states(msg_id) == ["sent", "failed"]


def test_with_resend_the_whole_message_goes_again_elsewhere(db):
    msg_id = pinned(db, "sending", "sent")
    with db.atomic():
        assert queue_store.unpin(msg_id, SIM_A, GONE, NOW, resend_ambiguous=True) == "queued"
    info = get_message(msg_id)
    assert (info["state"], info["sim"], info["parts"]) == ("queued", None, [])
    assert claim(db, SIM_B) == [msg_id]


def test_a_message_no_longer_pinned_there_is_left_alone(db):
    msg_id = pinned(db, "sending", "sent")
    with db.atomic():
        assert queue_store.unpin(msg_id, SIM_B, GONE, NOW) is None
    assert get_message(msg_id)["state"] == "queued"
