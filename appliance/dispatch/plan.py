"""One scheduling round as a pure function: which waiting message goes to which free SIM now.

Knows: the order of the round's rules — messages with parts already sent finish through their
own SIM first; expired messages leave; a recipient waits for the SIM that last wrote to them
while that SIM is busy but healthy; a message that a SIM just failed goes at once to another
free SIM (back to the same one only when no other is free); the rest are placed by the
balancer (`assign_batch`), one message per SIM per round.
Must not know: asyncio, the database, modems, the clock (`now` is passed in). The scheduler
builds the inputs from its slots and index and carries out the plan; tests build them from
tables.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from appliance.dispatch.balancer import (
    STICKY_MIN_HEALTH,
    Pending,
    SimView,
    assign_batch,
    choose_sim,
)
from appliance.dispatch.pending import Waiting


@dataclass(frozen=True)
class PlanPolicy:
    affinity: bool = True
    """Prefer a free SIM on the recipient's network (dispatch.operator_affinity)."""
    sticky: bool = True
    """Keep a recipient on the SIM that last wrote to them (dispatch.sticky_recipients)."""


@dataclass(frozen=True)
class RoundInput:
    now: datetime
    free: Mapping[str, SimView]
    """SIMs that may be given a message this round (attached, ready, nothing queued on them)."""
    attached: Mapping[str, SimView]
    """Every attached SIM, busy or not: a sticky recipient may wait for a busy one."""
    pinned: Mapping[str, Waiting]
    """For a free SIM, the first waiting message whose earlier parts left through it."""
    heads: Sequence[Waiting]
    """Due messages from the head of every lane, higher priority first."""
    sticky_of: Callable[[str], str | None] = lambda _recipient: None
    """recipient -> ICCID of the SIM that last wrote to them (or that they wrote to)."""
    recent_share: Mapping[Hashable | None, int] = field(default_factory=dict)
    policy: PlanPolicy = PlanPolicy()


@dataclass
class Plan:
    assignments: list[tuple[int, str]] = field(default_factory=list)
    """(message id, ICCID) in send order; at most one message per SIM."""
    expired: list[int] = field(default_factory=list)
    """Due messages whose validity ran out before a SIM took them."""


def _usable_now(view: SimView, now: datetime) -> bool:
    return view.available and view.next_send_at <= now


def _waits_for_sticky_sim(w: Waiting, rin: RoundInput) -> bool:
    """The SIM that last wrote to the recipient is busy but attached, healthy and has room:
    the message waits for it (the reply then lands in one conversation)."""
    if not rin.policy.sticky:
        return False
    iccid = rin.sticky_of(w.pending.recipient)
    if iccid is None or iccid in rin.free:
        return False
    view = rin.attached.get(iccid)
    if view is None or not view.available or view.headroom < w.pending.parts:
        return False
    return view.health >= STICKY_MIN_HEALTH


def plan_round(rin: RoundInput, rng: random.Random) -> Plan:
    now, plan = rin.now, Plan()
    usable = {i: v for i, v in rin.free.items() if _usable_now(v, now)}
    taken: set[str] = set()
    # 1. Messages with parts already sent finish through their own SIM, before anything new.
    for iccid in sorted(usable):
        item = rin.pinned.get(iccid)
        if item is not None and usable[iccid].headroom >= item.pending.parts:
            plan.assignments.append((item.message_id, iccid))
            taken.add(iccid)
    # 2. The heads: expired ones leave, sticky ones may wait, retries go elsewhere at once.
    free: list[Pending] = []
    retries: list[tuple[Pending, frozenset[str]]] = []
    for w in rin.heads:
        if w.expires_at is not None and w.expires_at <= now:
            plan.expired.append(w.message_id)
            continue
        if _waits_for_sticky_sim(w, rin):
            continue
        pending = dataclasses.replace(w.pending, sticky_sim=rin.sticky_of(w.pending.recipient))
        if w.avoid_sims:
            retries.append((pending, w.avoid_sims))
        else:
            free.append(pending)
    for pending, avoid in retries:
        open_ = [v for i, v in usable.items()
                 if i not in taken and v.headroom >= pending.parts]
        others = [v for v in open_ if v.iccid not in avoid]
        # Free means idle: a SIM still sending may take work ahead, but a retry must not wait
        # behind it. The SIM that failed it tries again only when no other is idle.
        candidates = ([v for v in others if v.in_flight == 0]
                      or [v for v in open_ if v.iccid in avoid and v.in_flight == 0]
                      or others or open_)
        iccid = choose_sim(pending, candidates, now, affinity=rin.policy.affinity,
                           sticky=False, rng=rng)
        if iccid is not None:
            plan.assignments.append((int(pending.message_id), iccid))
            taken.add(iccid)
    # 3. The rest, by the balancer, one message per free SIM.
    rest = [v for i, v in usable.items() if i not in taken]
    sticky_of = {int(p.message_id): p.sticky_sim for p in free}
    for mid, iccid in assign_batch(free, rest, now, recent_share=dict(rin.recent_share),
                                   affinity=rin.policy.affinity, sticky=rin.policy.sticky,
                                   rng=rng, max_per_sim=1):
        own = sticky_of.get(int(mid))
        # Placed elsewhere only because its own SIM took another message this round (one per
        # SIM per round): it waits for the next round instead of changing SIM.
        if (rin.policy.sticky and own is not None and own != iccid and own in usable
                and usable[own].headroom >= 1 and usable[own].health >= STICKY_MIN_HEALTH):
            continue
        plan.assignments.append((int(mid), iccid))
    return plan


__all__ = ["Plan", "PlanPolicy", "RoundInput", "plan_round"]
