"""Decider: the unsubscribe before the rules, the safety catch on each planned action, and the
client_refs that make a second run a replay — as tables, with no store or modem."""

from datetime import UTC, datetime, timedelta

import pytest

from appliance.config import RulesConfig
from appliance.inbox.rules.decide import Decider
from appliance.inbox.rules.definition import compile_rule
from appliance.inbox.rules.evaluate import Received, Sender

AT = datetime(2026, 12, 7, 2, 30, tzinfo=UTC)
SIM = "89860000000000000001"
OWN = "+8613900000001"


def decider(**config) -> Decider:
    d = Decider(RulesConfig(**config))
    d.own_numbers = frozenset({OWN})
    d.rules = [
        compile_rule(1, 1, {"name": "price", "match": "exact", "pattern": "价格", "stop": False,
                            "actions": [{"type": "reply", "template": "价格表"},
                                        {"type": "forward", "to": ["+8613700000000"]}]}),
        compile_rule(2, 2, {"name": "else", "match": "any",
                            "actions": [{"type": "reply", "template": "收到"},
                                        {"type": "blacklist", "reason": "x"}]}),
    ]
    return d


def received(text: str, sender: str = "+8613800138000", inbox_id: int = 7) -> Received:
    # The senders here are already in the form the inbox stores (E.164, or as received).
    return Received(inbox_id, sender, sender, text, SIM, AT)


def kinds(decision) -> list[tuple[str, str]]:
    return [(s.kind, s.action) for s in decision.steps]


# (case, text, sender, steps, refused actions)
CASES = [
    ("unsubscribe ends it", "TD", "+8613800138000",
     [("blacklist", "unsubscribe"), ("send", "unsubscribe_reply")], []),
    ("resubscribe", "start", "+8613800138000",
     [("unblacklist", "resubscribe"), ("send", "resubscribe_reply")], []),
    ("TD from a name is no unsubscribe; rules run, reply refused", "TD", "BANK",
     [], ["reply", "blacklist"]),
    ("two replies: the second meets the cooldown", "价格", "+8613800138000",
     [("send", "reply"), ("send", "forward"), ("blacklist", "blacklist")], ["reply"]),
    ("own SIM: no reply, no forward", "价格", OWN,
     [("blacklist", "blacklist")], ["reply", "forward", "reply"]),
    ("short code", "hello", "10086", [], ["reply", "blacklist"]),
]


@pytest.mark.parametrize("case,text,sender,steps,refused", CASES, ids=[c[0] for c in CASES])
def test_decisions(case, text, sender, steps, refused):
    decision = decider().decide(received(text, sender), Sender(), AT)
    assert kinds(decision) == steps
    assert [r.action for r in decision.blocked] == refused
    assert all(r.why for r in decision.blocked)


def test_replies_go_through_the_receiving_sim_with_replayable_refs():
    decision = decider().decide(received("价格"), Sender(), AT)
    reply, forward = decision.steps[0], decision.steps[1]
    assert (reply.via_sim, reply.client_ref, reply.to) == (SIM, "rules:7:1:0",
                                                           ("+8613800138000",))
    assert (forward.via_sim, forward.client_ref) == (None, "rules:7:1:1")
    unsub = decider().decide(received("退订"), Sender(), AT).steps[1]
    assert unsub.ignore_blacklist and unsub.client_ref == "rules:7:unsubscribe"


def test_confirmation_ignores_the_cooldown_but_not_the_loop():
    d = decider(reply_cooldown_seconds=600, loop_limit=2, loop_window_seconds=3600)
    assert kinds(d.decide(received("hi", inbox_id=1), Sender(), AT))[0] == ("send", "reply")
    # Within the cooldown: a rule's reply is refused, a TD's confirmation is not.
    assert kinds(d.decide(received("hi", inbox_id=2), Sender(), AT + timedelta(seconds=5))) \
        == [("blacklist", "blacklist")]
    assert kinds(d.decide(received("TD", inbox_id=3), Sender(), AT + timedelta(seconds=6))) \
        == [("blacklist", "unsubscribe"), ("send", "unsubscribe_reply")]
    # Two answers within the window: the loop bound stops even a confirmation.
    later = d.decide(received("START", inbox_id=4), Sender(), AT + timedelta(seconds=7))
    assert kinds(later) == [("unblacklist", "resubscribe")]
    assert "loop" in later.blocked[0].why and d.loops == 1


def test_dry_run_changes_no_state():
    d = decider(reply_cooldown_seconds=600)
    dry = d.decide(received("hi"), Sender(), AT, dry=True)
    assert kinds(dry)[0] == ("send", "reply")
    real = d.decide(received("hi"), Sender(), AT)
    assert kinds(real)[0] == ("send", "reply")  # the dry run started no cooldown
