"""One scheduling round (plan.plan_round) from tables: SIM views, waiting heads, pinned
messages and sticky history in, the plan out."""

from __future__ import annotations

import dataclasses
import random
from datetime import timedelta

import pytest

from appliance.dispatch.pending import Waiting
from appliance.dispatch.plan import PlanPolicy, RoundInput, plan_round
from tests.dispatch.test_balancer import NOW, msg, sim


def waiting(mid: int, *, network: str | None = "mobile", parts: int = 1, avoid: str = "",
            pinned: str | None = None, expires_in: float | None = None, priority: int = 10,
            recipient: str | None = None) -> Waiting:
    pending = msg(mid, network, parts=parts, priority=priority)
    if recipient is not None:
        pending = dataclasses.replace(pending, recipient=recipient)
    return Waiting(pending=pending, pinned_sim=pinned,
                   avoid_sims=frozenset(avoid.split(",")) if avoid else frozenset(),
                   expires_at=NOW + timedelta(seconds=expires_in) if expires_in is not None
                   else None)


DEFAULT = PlanPolicy()


def run(free, heads, *, attached=None, pinned=None, sticky=None, policy=DEFAULT):
    views = {v.iccid: v for v in free}
    everyone = dict(views)
    everyone.update({v.iccid: v for v in attached or []})
    rin = RoundInput(now=NOW, free=views, attached=everyone, pinned=pinned or {},
                     heads=heads, sticky_of=(sticky or {}).get, policy=policy)
    return plan_round(rin, random.Random(3))


# (case, free SIMs, heads, extra, expected assignments, expected expired)
TABLE = [
    ("one message, one SIM", [sim("A")], [waiting(1)], {}, [(1, "A")], []),
    ("one message per SIM per round", [sim("A")], [waiting(1), waiting(2)], {}, [(1, "A")], []),
    ("two SIMs share", [sim("A"), sim("B")], [waiting(1), waiting(2)], {},
     [(1, "A"), (2, "B")], []),
    ("a resting SIM gets nothing", [sim("A", available=False)], [waiting(1)], {}, [], []),
    ("a paced SIM gets nothing yet", [sim("A", due_in=3)], [waiting(1)], {}, [], []),
    ("expired heads leave", [sim("A")], [waiting(1, expires_in=0), waiting(2)], {},
     [(2, "A")], [1]),
    ("a pinned message goes first through its SIM", [sim("A"), sim("B")], [waiting(2)],
     {"pinned": {"A": waiting(1, pinned="A")}}, [(1, "A"), (2, "B")], []),
    ("a pinned message needs room for its parts", [sim("A", headroom=1)], [],
     {"pinned": {"A": waiting(1, parts=2, pinned="A")}}, [], []),
    ("a retry goes at once to another free SIM", [sim("A"), sim("B", sent_today=500)],
     [waiting(1, avoid="A")], {}, [(1, "B")], []),
    ("a retry goes back to its SIM only when no other is free", [sim("A")],
     [waiting(1, avoid="A")], {}, [(1, "A")], []),
    ("a retry does not wait for a busy other SIM", [sim("A")], [waiting(1, avoid="A")],
     {"attached": [sim("B")]}, [(1, "A")], []),
    ("nor queue behind one that may take work ahead", [sim("A"), sim("B", in_flight=1)],
     [waiting(1, avoid="A")], {}, [(1, "A")], []),
    ("an idle other SIM is preferred to a busy one", [sim("A"), sim("B", in_flight=1),
                                                      sim("C")],
     [waiting(1, avoid="A")], {}, [(1, "C")], []),
    ("a sticky recipient waits for its busy SIM", [sim("A")],
     [waiting(1, recipient="+8613800000001")],
     {"attached": [sim("B")], "sticky": {"+8613800000001": "B"}}, [], []),
    ("but not for a sick one", [sim("A")], [waiting(1, recipient="+8613800000001")],
     {"attached": [sim("B", health=0.2)], "sticky": {"+8613800000001": "B"}}, [(1, "A")], []),
    ("nor with sticky recipients off", [sim("A")], [waiting(1, recipient="+8613800000001")],
     {"attached": [sim("B")], "sticky": {"+8613800000001": "B"},
      "policy": PlanPolicy(sticky=False)}, [(1, "A")], []),
    ("a sticky recipient goes to its free SIM", [sim("A"), sim("B", in_flight=3)],
     [waiting(1, recipient="+8613800000001")], {"sticky": {"+8613800000001": "B"}},
     [(1, "B")], []),
    ("higher priority first", [sim("A")], [waiting(1, priority=0), waiting(2, priority=30)],
     {}, [(2, "A")], []),
]


@pytest.mark.parametrize(("free", "heads", "extra", "assignments", "expired"),
                         [row[1:] for row in TABLE], ids=[row[0] for row in TABLE])
def test_plan_round(free, heads, extra, assignments, expired):
    plan = run(free, heads, **extra)
    assert plan.assignments == assignments
    assert plan.expired == expired


def test_a_plan_never_gives_a_sim_two_messages():
    sims = [sim(c) for c in "ABCD"]
    heads = [waiting(i, network=None) for i in range(1, 40)]
    plan = run(sims, heads)
    chosen = [iccid for _, iccid in plan.assignments]
    assert sorted(chosen) == list("ABCD")
