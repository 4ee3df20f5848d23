"""The balancing policy: which waiting message goes next, and through which SIM.

Knows: the rules of card-sent balancing (DESIGN.md) as pure functions over plain values — Kannel's
smsc2_rout() (start at a random SIM, skip the inactive and the full, prefer the least loaded, keep
every part of a message on one SIM) plus what a card-sent gateway adds: the recipient's own
network preferred, a recipient kept on the SIM that last wrote to them, alerts and one-time codes
ahead of bulk, campaigns sharing SIMs fairly.
Must not know: the database, modems, the clock or asyncio. The caller builds SimView and Pending
snapshots (from rates.headroom/next_send_time and health.is_available), passes `now` and a
random.Random, and carries out the decisions.
"""

from __future__ import annotations

import dataclasses
import heapq
import random
from collections import defaultdict
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from datetime import datetime

PRIORITY: dict[str, int] = {
    "otp": 30,        # one-time codes: useless a minute late
    "alert": 20,      # alarms from LAN devices (PLCs, NAS, monitoring)
    "notice": 10,     # ordinary notices from office staff; the default
    "marketing": 0,   # bulk campaigns: go when nothing else waits
}
DEFAULT_PRIORITY = PRIORITY["notice"]
STICKY_MIN_HEALTH = 0.5
"""Below this health score the SIM that last wrote to a recipient is no longer kept for them:
a reply on a flaky SIM is worth less than a message that arrives."""


def priority_of(category: str | None) -> int:
    """The priority of a message category (PRIORITY's keys); unknown or None → notice."""
    return PRIORITY.get(category or "", DEFAULT_PRIORITY)


@dataclass(frozen=True)
class SimView:
    """One SIM as the balancer sees it at one instant."""

    iccid: str
    network: str | None
    """"mobile" | "unicom" | "telecom" | None (phone.network_of_sim)."""
    available: bool
    """health.is_available: registered, not barred, not resting."""
    headroom: int
    """Parts it may still send before a cap (rates.headroom)."""
    in_flight: int
    """Messages claimed by it and not yet finished."""
    sent_today: int
    """Parts sent in the current local day."""
    health: float
    """health.SimHealth.score, 0..1."""
    next_send_at: datetime
    """rates.next_send_time: not given a message before this."""
    daily_cap: int = 0
    """Its per-day cap, so that load compares SIMs with different caps; 0 = compare raw counts."""


@dataclass(frozen=True, slots=True)  # slots: one object per queued message, not two
class Pending:
    """One queued message as the balancer sees it."""

    message_id: int | str
    recipient: str
    network: str | None
    """The recipient's original network (phone.network_of)."""
    parts: int
    priority: int
    campaign_id: Hashable | None
    """None for messages outside a campaign (API alerts, single notices): they share one lane."""
    sticky_sim: str | None
    """ICCID of the SIM that last wrote to this recipient, if any."""
    created_at: datetime


def _usable(sim: SimView, parts: int, now: datetime) -> bool:
    # All parts leave through the same SIM (the handset reassembles by sender), so the SIM needs
    # room for every part now, not just the first.
    return sim.available and sim.headroom >= parts and sim.next_send_at <= now


def _load(sim: SimView) -> tuple[int, float]:
    today = sim.sent_today / sim.daily_cap if sim.daily_cap > 0 else float(sim.sent_today)
    return (sim.in_flight, today)


def _least_loaded(candidates: list[SimView], rng: random.Random) -> SimView:
    # Kannel starts its scan at a random connection and keeps the first of the least loaded:
    # equal SIMs then share the load instead of the first in the list taking everything.
    start = rng.randrange(len(candidates))
    rotated = candidates[start:] + candidates[:start]
    return min(rotated, key=_load)


def choose_sim(msg: Pending, sims: Iterable[SimView], now: datetime, *, affinity: bool = True,
               sticky: bool = True, rng: random.Random) -> str | None:
    """The ICCID to send `msg` through now, or None when no SIM can take it now.

    Order of preference: the sticky SIM (if `sticky`, usable and healthy); else among usable SIMs
    those on the recipient's network (if `affinity` and there is one: a preference, never a rule,
    as ported numbers keep their old prefix); then the least loaded (fewest in flight, then the
    smallest share of its day used), ties broken from a random start.
    """
    usable = [s for s in sims if _usable(s, msg.parts, now)]
    if not usable:
        return None
    if sticky and msg.sticky_sim is not None:
        for sim in usable:
            if sim.iccid == msg.sticky_sim and sim.health >= STICKY_MIN_HEALTH:
                return sim.iccid
    candidates = usable
    if affinity and msg.network is not None:
        same_network = [s for s in usable if s.network == msg.network]
        if same_network:
            candidates = same_network
    return _least_loaded(candidates, rng).iccid


def _fifo_key(msg: Pending) -> tuple[datetime, int, int | str]:
    # Numeric ids compare as numbers (message 9 before message 10); other ids as text.
    mid = msg.message_id
    return (msg.created_at, 0, mid) if isinstance(mid, int) else (msg.created_at, 1, str(mid))


def order_pending(pending: Iterable[Pending],
                  recent_share: dict[Hashable | None, int] | None = None) -> list[Pending]:
    """The order in which to offer messages to SIMs.

    Higher priority first, so an OTP or alert overtakes a bulk campaign. Within one priority,
    campaigns take turns: the next message comes from the campaign served least so far (counted in
    parts, starting from `recent_share`, e.g. parts sent per campaign in the last few minutes), the
    oldest campaign head breaking ties; within a campaign, first in, first out. A campaign of
    100,000 thus cannot hold back one of ten queued after it.
    """
    recent_share = recent_share or {}
    by_priority: dict[int, dict[Hashable | None, list[Pending]]] = defaultdict(
        lambda: defaultdict(list))
    for msg in pending:
        by_priority[msg.priority][msg.campaign_id].append(msg)
    ordered: list[Pending] = []
    for priority in sorted(by_priority, reverse=True):
        lanes = by_priority[priority]
        for lane in lanes.values():
            lane.sort(key=_fifo_key)
        # Heap of (parts served, head's FIFO key, lane number); lane number keeps entries unique
        # so the heap never compares campaign ids of different types.
        keys = list(lanes)
        heap = [(recent_share.get(cid, 0), _fifo_key(lanes[cid][0]), i)
                for i, cid in enumerate(keys)]
        heapq.heapify(heap)
        positions = [0] * len(keys)
        while heap:
            served, _, i = heapq.heappop(heap)
            lane = lanes[keys[i]]
            msg = lane[positions[i]]
            ordered.append(msg)
            positions[i] += 1
            if positions[i] < len(lane):
                heapq.heappush(heap, (served + msg.parts, _fifo_key(lane[positions[i]]), i))
    return ordered


def assign_batch(pending: Iterable[Pending], sims: Iterable[SimView], now: datetime, *,
                 recent_share: dict[Hashable | None, int] | None = None, affinity: bool = True,
                 sticky: bool = True, rng: random.Random,
                 max_per_sim: int | None = None) -> list[tuple[int | str, str]]:
    """Plan one dispatch round: (message_id, iccid) pairs, in send order.

    Messages are taken in order_pending order and each is placed with choose_sim; after each
    placement that SIM's view is updated (one more in flight, its headroom and today's count
    grown by the message's parts), so the plan never exceeds a SIM's headroom and spreads evenly.
    A SIM due now may take several messages: they queue on it and its pacing (rates) spaces them;
    `max_per_sim` bounds that queue (e.g. the per-minute rate). Messages no SIM can take are left
    out: a large message that fits nowhere does not hold back smaller ones behind it.
    """
    views = {s.iccid: s for s in sims}
    planned: dict[str, int] = defaultdict(int)
    plan: list[tuple[int | str, str]] = []
    for msg in order_pending(pending, recent_share):
        eligible = [v for v in views.values()
                    if max_per_sim is None or planned[v.iccid] < max_per_sim]
        iccid = choose_sim(msg, eligible, now, affinity=affinity, sticky=sticky, rng=rng)
        if iccid is None:
            continue
        view = views[iccid]
        views[iccid] = dataclasses.replace(
            view,
            headroom=view.headroom - msg.parts,
            in_flight=view.in_flight + 1,
            sent_today=view.sent_today + msg.parts,
        )
        planned[iccid] += 1
        plan.append((msg.message_id, iccid))
    return plan


__all__ = [
    "DEFAULT_PRIORITY", "PRIORITY", "STICKY_MIN_HEALTH",
    "Pending", "SimView",
    "assign_batch", "choose_sim", "order_pending", "priority_of",
]
