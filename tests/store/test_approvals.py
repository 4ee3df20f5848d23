"""Approvals in the store: a held message is linked to its approval in its own transaction; a
decision moves the messages still held (approved: queued; rejected: cancelled with who and
why) in the decision's transaction; nobody decides their own request; an expired held message
stays expired. Real SQLite files, no mocks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import peewee
import pytest

from appliance.store import approvals, queue
from appliance.store.acceptance import IdempotencyConflict
from appliance.store.approvals import ApprovalProblem, Decider, Submitter
from appliance.store.messages import NewMessage, accept_messages, expire_due, get_message
from appliance.store.models import Approval, ApprovalMessage, Message

NOW = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
ALICE = Submitter(door="api", address="10.0.0.5", api_key_id=1, user_id=10, department_id=2)


def held(db: peewee.Database, count: int = 2, submitter: Submitter = ALICE,
         expires_at: datetime | None = None) -> tuple[int, list[int]]:
    with db.atomic():
        aid = approvals.create(submitter, category="notice", text="hi", recipients=count,
                               parts=1, now=NOW)
        ids = accept_messages([NewMessage(f"+861380000000{n}", "hi", hold=True, approval_id=aid,
                                          expires_at=expires_at) for n in range(count)], now=NOW)
    return aid, ids


def test_held_messages_are_linked_to_their_approval(db: peewee.Database):
    aid, ids = held(db)
    assert {m.state for m in Message.select()} == {"held"}
    assert approvals.approval_of(ids) == {i: (aid, "pending") for i in ids}
    view = approvals.get(aid)
    assert [m["id"] for m in view["messages"]] == ids
    assert view["first_recipients"] == ["+8613800000000", "+8613800000001"]


def test_messages_refused_at_acceptance_leave_no_link(db: peewee.Database):
    aid, _ = held(db, 1)
    first = NewMessage("+8613800000009", "one", client_ref="r1")
    with db.atomic():
        accept_messages([first])
    with pytest.raises(IdempotencyConflict), db.atomic():
        accept_messages([NewMessage("+8613800000009", "other", client_ref="r1", hold=True,
                                    approval_id=aid)])
    assert ApprovalMessage.select().where(ApprovalMessage.approval == aid).count() == 1
    orphan = approvals.create(ALICE, category="notice", text="x", recipients=1, parts=1)
    assert orphan not in [a["id"] for a in approvals.listing()]  # its messages never came


def test_approving_queues_what_is_still_held(db: peewee.Database):
    aid, ids = held(db, 3)
    with db.atomic():
        queue.cancel(ids[2], was_claimed=False, reason="the submitter changed their mind")
    bob = Decider("bob", api_key_id=2, user_id=11)
    with db.atomic():
        released = queue.release_held(approvals.approve(aid, bob, NOW), "approved by bob", NOW)
    assert released == ids[:2]
    assert [Message.get_by_id(i).state for i in ids] == ["queued", "queued", "cancelled"]
    assert get_message(ids[0])["events"][-1]["detail"] == "approved by bob"
    row = Approval.get_by_id(aid)
    assert (row.state, row.decided_by, row.decided_by_user_id, row.decided_at) == (
        "approved", "bob", 11, NOW)


def test_rejecting_cancels_with_who_and_why(db: peewee.Database):
    aid, ids = held(db)
    with db.atomic():
        cancelled = approvals.reject(aid, Decider("bob", api_key_id=2), " 内容不合规 ", NOW)
    assert cancelled == ids
    for mid in ids:
        msg = Message.get_by_id(mid)
        assert (msg.state, msg.error) == ("cancelled", "rejected by bob: 内容不合规")
    assert approvals.get(aid)["reason"] == "内容不合规"


@pytest.mark.parametrize(("decider", "own"), [
    (Decider("alice", api_key_id=1, user_id=10), True),
    (Decider("alice's other key", api_key_id=9, user_id=10), True),   # same user, another key
    (Decider("shared key", api_key_id=1, user_id=11), False),         # both users known: differ
    (Decider("alice's key, no user", api_key_id=1), True),            # no user: the same key
    (Decider("bob", api_key_id=2), False),
    (Decider("bob", api_key_id=2, user_id=11), False),
])
def test_nobody_decides_their_own_request(db: peewee.Database, decider: Decider, own: bool):
    aid, ids = held(db, 1)
    if own:
        with pytest.raises(ApprovalProblem) as err, db.atomic():
            approvals.approve(aid, decider, NOW)
        assert err.value.code == "own_request"
        assert Approval.get_by_id(aid).state == "pending"
    else:
        with db.atomic():
            assert approvals.approve(aid, decider, NOW) == ids


def test_a_decision_is_made_once(db: peewee.Database):
    aid, _ = held(db, 1)
    bob = Decider("bob", api_key_id=2)
    with db.atomic():
        approvals.approve(aid, bob, NOW)
    for decide in (lambda: approvals.approve(aid, bob, NOW),
                   lambda: approvals.reject(aid, bob, "no", NOW)):
        with pytest.raises(ApprovalProblem) as err, db.atomic():
            decide()
        assert err.value.code == "already_decided"


@pytest.mark.parametrize("reason", ["", "   ", None, 5, "x" * 501])
def test_a_rejection_needs_a_reason(db: peewee.Database, reason: object):
    aid, ids = held(db, 1)
    with pytest.raises(ApprovalProblem) as err, db.atomic():
        approvals.reject(aid, Decider("bob", api_key_id=2), reason, NOW)
    assert err.value.field == "reason"
    assert Message.get_by_id(ids[0]).state == "held"


def test_held_for_approval_and_expired_is_expired_and_never_released(db: peewee.Database):
    aid, ids = held(db, 1, expires_at=NOW + timedelta(hours=1))
    with db.atomic():
        assert expire_due(NOW + timedelta(hours=2)) == ids
    # Nothing is left to release: approving it is refused, rejecting it closes it.
    with db.atomic(), pytest.raises(ApprovalProblem) as refused:
        approvals.approve(aid, Decider("bob", api_key_id=2), NOW)
    assert refused.value.code == "nothing_held"
    with db.atomic():
        assert approvals.reject(aid, Decider("bob", api_key_id=2), "expired", NOW) == []
    assert Message.get_by_id(ids[0]).state == "expired"


def test_department_rules_are_stored_and_checked(db: peewee.Database):
    cats = ("otp", "alert", "notice", "marketing")
    with db.atomic():
        approvals.set_rule(2, approvals.check_rule("above", 50, [], cats))
        approvals.set_rule(2, approvals.check_rule("category", 0, ["marketing"], cats))
    assert approvals.rule_of(2) == approvals.Rule("category", 0, ("marketing",))
    assert approvals.rule_of(3) is None
    for mode, above, categories, field in [("some", 0, [], "mode"), ("above", -1, [], "above"),
                                           ("above", 2**63, [], "above"),
                                           ("category", 0, [], "categories"),
                                           ("category", 0, ["spam"], "categories")]:
        with pytest.raises(ApprovalProblem) as err:
            approvals.check_rule(mode, above, categories, cats)
        assert err.value.field == field
