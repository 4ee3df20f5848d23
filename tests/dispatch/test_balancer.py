"""The balancing policy: choose_sim, order_pending and assign_batch as tables."""

import random
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from appliance.dispatch.balancer import (
    PRIORITY,
    Pending,
    SimView,
    assign_batch,
    choose_sim,
    order_pending,
    priority_of,
)

NOW = datetime(2026, 5, 6, 2, 0, tzinfo=UTC)


def sim(iccid: str, network: str | None = "mobile", *, available: bool = True,
        headroom: int = 100, in_flight: int = 0, sent_today: int = 0, health: float = 1.0,
        due_in: float = 0.0, daily_cap: int = 0) -> SimView:
    return SimView(iccid=iccid, network=network, available=available, headroom=headroom,
                   in_flight=in_flight, sent_today=sent_today, health=health,
                   next_send_at=NOW + timedelta(seconds=due_in), daily_cap=daily_cap)


def msg(message_id: int = 1, network: str | None = "mobile", *, parts: int = 1,
        priority: int = PRIORITY["notice"], campaign: object = None, sticky: str | None = None,
        age: float = 0.0) -> Pending:
    return Pending(message_id=message_id, recipient=f"+86138{message_id:08d}", network=network,
                   parts=parts, priority=priority, campaign_id=campaign, sticky_sim=sticky,
                   created_at=NOW - timedelta(seconds=age))


# (case, message, SIMs, kwargs, expected ICCID)
CHOOSE = [
    ("only usable SIM", msg(), [sim("A", available=False), sim("B")], {}, "B"),
    ("unavailable skipped", msg(), [sim("A", available=False)], {}, None),
    ("not yet due skipped", msg(), [sim("A", due_in=5), sim("B", in_flight=3)], {}, "B"),
    ("due exactly now is usable", msg(), [sim("A", due_in=0)], {}, "A"),
    ("full skipped", msg(), [sim("A", headroom=0), sim("B", in_flight=5)], {}, "B"),
    ("all full -> None", msg(), [sim("A", headroom=0), sim("B", headroom=0)], {}, None),
    ("no SIMs -> None", msg(), [], {}, None),
    ("multipart needs room for every part", msg(parts=3),
     [sim("A", headroom=2), sim("B", headroom=3, in_flight=9)], {}, "B"),
    ("multipart fits nowhere", msg(parts=4), [sim("A", headroom=3)], {}, None),
    ("least in flight wins", msg(),
     [sim("A", in_flight=2), sim("B", in_flight=0), sim("C", in_flight=1)], {}, "B"),
    ("then least sent today", msg(),
     [sim("A", sent_today=500), sim("B", sent_today=20), sim("C", sent_today=300)], {}, "B"),
    ("sent today relative to the day cap", msg(),
     [sim("A", sent_today=400, daily_cap=1000), sim("B", sent_today=300, daily_cap=500)], {},
     "A"),
    ("affinity prefers the recipient's network", msg(network="unicom"),
     [sim("M", "mobile"), sim("U", "unicom", in_flight=4), sim("T", "telecom")], {}, "U"),
    ("affinity off: least loaded regardless", msg(network="unicom"),
     [sim("M", "mobile"), sim("U", "unicom", in_flight=4)], {"affinity": False}, "M"),
    ("affinity falls back when its network is full", msg(network="unicom"),
     [sim("M", "mobile", in_flight=3), sim("U", "unicom", headroom=0)], {}, "M"),
    ("affinity falls back when its network is resting", msg(network="telecom"),
     [sim("M", "mobile"), sim("T", "telecom", available=False)], {}, "M"),
    ("unknown recipient network: least loaded", msg(network=None),
     [sim("M", "mobile", in_flight=1), sim("U", "unicom")], {}, "U"),
    ("sticky kept while healthy enough", msg(sticky="A"),
     [sim("A", health=0.6, in_flight=1), sim("B")], {}, "A"),
    ("sticky kept even when busier and off-network", msg(network="unicom", sticky="M"),
     [sim("M", "mobile", in_flight=5), sim("U", "unicom")], {}, "M"),
    ("sticky off", msg(network="unicom", sticky="M"),
     [sim("M", "mobile"), sim("U", "unicom", in_flight=5)], {"sticky": False}, "U"),
    ("sticky dropped when unhealthy", msg(sticky="A"),
     [sim("A", health=0.3, in_flight=1), sim("B")], {}, "B"),
    ("sticky dropped when full", msg(sticky="A"),
     [sim("A", headroom=0), sim("B", in_flight=2)], {}, "B"),
    ("sticky dropped when unavailable", msg(sticky="A"),
     [sim("A", available=False), sim("B", in_flight=2)], {}, "B"),
    ("sticky dropped when it lacks room for all parts", msg(parts=2, sticky="A"),
     [sim("A", headroom=1), sim("B", in_flight=2)], {}, "B"),
    ("sticky SIM gone from the pool", msg(sticky="Z"), [sim("A", in_flight=1)], {}, "A"),
]


@pytest.mark.parametrize(("message", "sims", "kwargs", "expected"), [c[1:] for c in CHOOSE],
                         ids=[c[0] for c in CHOOSE])
def test_choose_sim(message: Pending, sims: list[SimView], kwargs: dict,
                    expected: str | None) -> None:
    # Several seeds: the answer must not depend on the random start when there is no tie.
    for seed in range(5):
        assert choose_sim(message, sims, NOW, rng=random.Random(seed), **kwargs) == expected


def test_ties_are_broken_from_a_random_start() -> None:
    sims = [sim(c) for c in "ABCD"]
    picks = Counter(choose_sim(msg(), sims, NOW, rng=random.Random(seed)) for seed in range(400))
    assert set(picks) == set("ABCD")
    assert min(picks.values()) > 60  # ~100 each: not the first in the list every time


def test_priority_table() -> None:
    assert PRIORITY["otp"] > PRIORITY["alert"] > PRIORITY["notice"] > PRIORITY["marketing"]
    assert priority_of("otp") == PRIORITY["otp"]
    assert priority_of(None) == priority_of("unheard-of") == PRIORITY["notice"]


def test_otp_and_alerts_overtake_bulk() -> None:
    bulk = [msg(i, priority=PRIORITY["marketing"], campaign="promo", age=1000 - i)
            for i in range(50)]
    otp = msg(100, priority=PRIORITY["otp"], age=0)
    alert = msg(101, priority=PRIORITY["alert"], age=1)
    ordered = order_pending([*bulk, otp, alert], {})
    assert [m.message_id for m in ordered[:2]] == [100, 101]
    assert [m.message_id for m in ordered[2:]] == list(range(50))  # FIFO within the campaign


def test_two_campaigns_interleave_fairly() -> None:
    # Campaign A queued all 100 first; B's 100 came after. FIFO would give A the first 100 picks.
    a = [msg(i, priority=0, campaign="A", age=10_000 - i) for i in range(100)]
    b = [msg(1000 + i, priority=0, campaign="B", age=5_000 - i) for i in range(100)]
    ordered = order_pending([*a, *b], {})
    first20 = Counter(m.campaign_id for m in ordered[:20])
    assert first20 == {"A": 10, "B": 10}
    for campaign in "AB":  # FIFO within each campaign
        ids = [m.message_id for m in ordered if m.campaign_id == campaign]
        assert ids == sorted(ids)


def test_least_recently_served_campaign_goes_first() -> None:
    a = [msg(i, priority=0, campaign="A", age=100 - i) for i in range(10)]
    b = [msg(100 + i, priority=0, campaign="B", age=50 - i) for i in range(10)]
    ordered = order_pending([*a, *b], {"A": 4, "B": 0})
    assert [m.campaign_id for m in ordered[:4]] == ["B"] * 4
    assert Counter(m.campaign_id for m in ordered[4:12]) == {"A": 4, "B": 4}


def test_fair_share_counts_parts() -> None:
    a = [msg(i, priority=0, campaign="A", parts=3, age=100 - i) for i in range(10)]
    b = [msg(100 + i, priority=0, campaign="B", parts=1, age=50 - i) for i in range(30)]
    ordered = order_pending([*a, *b], {})
    parts = Counter()
    for m in ordered[:16]:
        parts[m.campaign_id] += m.parts
    assert abs(parts["A"] - parts["B"]) <= 3


def test_campaign_ids_of_mixed_types_do_not_break_ordering() -> None:
    ordered = order_pending([msg(1, campaign=None), msg(2, campaign=7), msg(3, campaign="x")], {})
    assert sorted(m.message_id for m in ordered) == [1, 2, 3]


def test_assign_batch_spreads_evenly_over_equal_sims() -> None:
    sims = [sim(f"S{i:02}", headroom=200) for i in range(16)]
    pending = [msg(i, network=None, age=10_000 - i) for i in range(1000)]
    plan = assign_batch(pending, sims, NOW, rng=random.Random(42))
    per_sim = Counter(iccid for _, iccid in plan)
    assert len(plan) == 1000 and len(per_sim) == 16
    assert max(per_sim.values()) / min(per_sim.values()) <= 1.1
    assert len({m for m, _ in plan}) == 1000  # each message planned once


def test_assign_batch_never_exceeds_headroom() -> None:
    rng = random.Random(9)
    sims = [sim(f"S{i}", rng.choice(["mobile", "unicom", "telecom"]),
                headroom=rng.randrange(0, 40)) for i in range(10)]
    pending = [msg(i, rng.choice(["mobile", "unicom", None]), parts=rng.randint(1, 4),
                   age=5000 - i, sticky=rng.choice([None, "S1", "S2"])) for i in range(400)]
    parts_of = {m.message_id: m.parts for m in pending}
    plan = assign_batch(pending, sims, NOW, rng=rng)
    used = Counter()
    for message_id, iccid in plan:
        used[iccid] += parts_of[message_id]
    room = {s.iccid: s.headroom for s in sims}
    assert plan and all(used[i] <= room[i] for i in used)
    # The pool is close to full: little room is left that a 1-part message could still use.
    assert sum(room.values()) - sum(used.values()) < len(sims)


def test_assign_batch_puts_priority_first_and_skips_what_fits_nowhere() -> None:
    sims = [sim("A", headroom=3)]
    pending = [msg(1, parts=5, priority=PRIORITY["otp"]),  # fits nowhere
               msg(2, priority=PRIORITY["marketing"], age=100),
               msg(3, priority=PRIORITY["alert"])]
    plan = assign_batch(pending, sims, NOW, rng=random.Random(0))
    assert plan == [(3, "A"), (2, "A")]


def test_assign_batch_respects_max_per_sim_and_availability() -> None:
    sims = [sim("A"), sim("B"), sim("C", available=False), sim("D", due_in=30)]
    plan = assign_batch([msg(i, age=100 - i) for i in range(20)], sims, NOW,
                        rng=random.Random(1), max_per_sim=6)
    assert Counter(i for _, i in plan) == {"A": 6, "B": 6}


def test_assign_batch_keeps_sticky_and_affinity() -> None:
    sims = [sim("M", "mobile"), sim("U", "unicom"), sim("T", "telecom")]
    pending = [msg(1, "unicom", sticky="T"), msg(2, "telecom"), msg(3, "unicom"),
               msg(4, "mobile")]
    plan = dict(assign_batch(pending, sims, NOW, rng=random.Random(5)))
    assert plan == {1: "T", 2: "T", 3: "U", 4: "M"}


def test_messages_accepted_in_the_same_instant_go_in_numeric_id_order():
    t = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    pending = [Pending(message_id=i, recipient=f"+86138000000{i:02d}", network=None, parts=1,
                       priority=10, campaign_id=None, sticky_sim=None, created_at=t)
               for i in (10, 9, 100, 11)]
    assert [p.message_id for p in order_pending(pending, {})] == [9, 10, 11, 100]
