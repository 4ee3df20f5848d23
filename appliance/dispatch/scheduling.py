"""The dispatcher's scheduling round: which SIMs may take work now, the plan the balancer makes
for them, and claiming it durably (each message's parts stored with its claim).

Knows: the eligibility rules (attached, ready, room in its queue, pacing), pinned messages
first, sticky recipients, fairness counts. Must not know: AT syntax, how a message is sent
(the sender does that), HTTP. A mixin of `engine.Dispatcher`, whose state it reads.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections import Counter
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from appliance.dispatch.balancer import STICKY_MIN_HEALTH, Pending, assign_batch, choose_sim
from appliance.dispatch.pending import Waiting
from appliance.dispatch.slots import SimSlot
from appliance.store import messages as outbox
from appliance.store.models import Message
from appliance.store.states import MessageState

if TYPE_CHECKING:
    import random

    from appliance.config import DispatchConfig
    from appliance.dispatch import rates
    from appliance.dispatch.engine import RecentRecipients
    from appliance.dispatch.pending import PendingIndex
    from appliance.dispatch.sender import MessageSender
    from appliance.store.writer import Store

log = logging.getLogger(__name__)
M = MessageState


class SchedulingRound:
    """The scheduling half of `Dispatcher` (see the module docstring)."""

    config: DispatchConfig
    store: Store
    limits: rates.RateLimits
    rng: random.Random
    slots: dict[str, SimSlot]
    pending: PendingIndex
    sticky: RecentRecipients
    recent_share: Counter
    sender: MessageSender
    idle_tick: float
    running: bool
    _wake: asyncio.Event

    if TYPE_CHECKING:  # Dispatcher's
        def now(self) -> datetime: ...

        async def _expire(self, now: datetime) -> None: ...

        async def reload_waiting(self, ids: list[int] | None, *,
                                 not_before: datetime | None = None) -> None: ...

    def _eligible(self, slot: SimSlot) -> bool:
        if not slot.attached or not slot.queue.empty():
            return False
        if not getattr(slot.sender, "ready", True):
            return False  # its modem is reopening: claiming now would only hand work back
        # A busy SIM may take its next message ahead only when nothing paces it, so claiming
        # overlaps with sending; otherwise a message would wait on a SIM instead of in the queue.
        return not slot.busy or self.limits.per_minute == 0

    async def _schedule_loop(self) -> None:
        while self.running:
            self._wake.clear()
            try:
                delay = await self._schedule_once()
            except Exception:
                log.exception("scheduling round failed")
                delay = self.idle_tick
            if delay > 0:
                try:
                    await asyncio.wait_for(self._wake.wait(), delay)
                except TimeoutError:
                    pass

    def _sticky_wait(self, w: Waiting, views: dict[str, Any], now: datetime) -> str | None:
        """The SIM a message should wait for: the one that last wrote to its recipient, when
        that SIM is attached, healthy and has room but is busy right now."""
        if not self.config.sticky_recipients:
            return None
        iccid = self.sticky.get(w.pending.recipient)
        slot = self.slots.get(iccid) if iccid else None
        if slot is None or not slot.attached or iccid in views:
            return None
        view = slot.view(self.limits, now, self.tz)
        if not view.available or view.headroom < w.pending.parts:
            return None
        return iccid if view.health >= STICKY_MIN_HEALTH else None

    async def _schedule_once(self) -> float:
        now = self.now()
        slots = [s for s in self.slots.values() if self._eligible(s)]
        if not slots or not len(self.pending):
            return self._idle_delay(now, [])
        views = {v.iccid: v for v in (s.view(self.limits, now, self.tz) for s in slots)}
        usable = {i for i, v in views.items() if v.available and v.next_send_at <= now}
        plan: list[tuple[int, str]] = []
        # Messages with parts already sent must finish through their own SIM, first.
        for iccid in sorted(usable):
            item = next(iter(self.pending.pinned_to(iccid, now)), None)
            if item is not None:
                plan.append((item.message_id, iccid))
        taken = {s for _, s in plan}
        expired: list[int] = []
        free = []
        waiting_heads = list(self.pending.heads(per_lane=max(8, 4 * len(slots)), now=now))
        for w in waiting_heads:
            if w.expires_at is not None and w.expires_at <= now:
                expired.append(w.message_id)
            elif self._sticky_wait(w, views, now) is None:
                free.append(dataclasses.replace(
                    w.pending, sticky_sim=self.sticky.get(w.pending.recipient)))
        if expired:
            await self._expire(now)
        avoided = {w.message_id: w.avoid_sims for w in waiting_heads if w.avoid_sims}
        if avoided:
            free = self._place_retries(free, avoided, views, taken, plan, now)
        sticky_of = {int(p.message_id): p.sticky_sim for p in free}
        taken = {s for _, s in plan}
        for mid, iccid in assign_batch(
                free, [v for v in views.values() if v.iccid not in taken], now,
                recent_share=self.recent_share, affinity=self.config.operator_affinity,
                sticky=self.config.sticky_recipients, rng=self.rng, max_per_sim=1):
            own = sticky_of.get(int(mid))
            # Placed elsewhere only because its own SIM took another message this round (one
            # per SIM per round): it waits for the next round instead of changing SIM.
            if (self.config.sticky_recipients and own is not None and own != iccid
                    and own in usable and views[own].headroom >= 1
                    and views[own].health >= STICKY_MIN_HEALTH):
                continue
            plan.append((int(mid), iccid))
        if not plan:
            return self._idle_delay(now, views.values())
        def claim() -> list[tuple[bool, Any]]:
            # Each message's parts are stored with its claim (sender.prepare_claimed), while
            # its SIM may still be sending the one before: its send then starts at once.
            out: list[tuple[bool, Any]] = []
            for mid, iccid in plan:
                got = outbox.claim_messages(iccid, 1, now, candidate_ids=[mid])
                out.append((True, self.sender.prepare_claimed(got[0], iccid)) if got
                           else (False, None))
            return out

        claimed = await self.store.write(claim)
        lost: list[tuple[int, str]] = []
        for (mid, iccid), (got, prepared) in zip(plan, claimed, strict=True):
            item = self.pending.discard(mid)
            if not got:
                continue  # cancelled or changed meanwhile: the index forgets it
            if not self.slots[iccid].attached:
                # The SIM went away while the claim committed: its release may already have
                # run (and missed this claim), so nothing else would give the message back.
                lost.append((mid, iccid))
                continue
            parts = item.pending.parts if item is not None else 1
            if item is not None:
                self._count_share(item.pending.campaign_id, parts)
            self.slots[iccid].reserved[mid] = parts
            if prepared is not None:
                self.slots[iccid].prepared[mid] = prepared
            self.slots[iccid].queue.put_nowait(mid)
        if lost:
            await self._hand_back(lost)
        return 0.0

    def _place_retries(self, free: list[Pending], avoided: dict[int, frozenset[str]],
                       views: dict[str, Any], taken: set[str], plan: list[tuple[int, str]],
                       now: datetime) -> list[Pending]:
        """Place messages that a SIM just failed on another SIM; returns the rest of `free`.

        A retry waits for another SIM while one is attached and healthy (busy or not); with no
        other, it is an ordinary message again and may go back through the SIM that failed it.
        """
        rest: list[Pending] = []
        for msg in free:
            avoid = avoided.get(int(msg.message_id))
            others = [i for i, slot in self.slots.items() if avoid and i not in avoid
                      and slot.attached and slot.view(self.limits, now, self.tz).available]
            if not avoid or not others:
                rest.append(msg)
                continue
            candidates = [v for i, v in views.items() if i in others and i not in taken]
            iccid = choose_sim(msg, candidates, now, affinity=self.config.operator_affinity,
                               sticky=False, rng=self.rng)
            if iccid is not None:
                plan.append((int(msg.message_id), iccid))
                taken.add(iccid)
        return rest

    async def _hand_back(self, claims: list[tuple[int, str]]) -> None:
        """Requeue messages claimed for a SIM that went away as the claim committed, without
        counting the attempt (the SIM never tried), unless its release got there first."""
        resend = self.config.resend_ambiguous

        def hand_back() -> None:
            for mid, iccid in claims:
                msg = Message.get_or_none(Message.id == mid)
                if msg is not None and msg.state == M.SENDING.value and msg.sim == iccid:
                    outbox.requeue_message(mid, "its SIM went away as it was claimed",
                                           resend_ambiguous=resend, count_attempt=False)

        await self.store.write(hand_back)
        await self.reload_waiting([mid for mid, _ in claims])

    def _count_share(self, campaign: Any, parts: int) -> None:
        # Fairness looks at recent service, not all history: halve every count now and then so
        # a campaign that was busy an hour ago is not starved for it now.
        # A campaign halved to nothing is dropped, or every campaign ever run stays a key.
        self.recent_share[campaign] += parts
        if sum(self.recent_share.values()) > 10_000:
            for key in list(self.recent_share):
                self.recent_share[key] //= 2
                if not self.recent_share[key]:
                    del self.recent_share[key]

    def _idle_delay(self, now: datetime, views: Any) -> float:
        """How long the scheduler may sleep when it found nothing to do (a wake cuts it short:
        new messages, a SIM attached or freed)."""
        times = [v.next_send_at for v in views if v.next_send_at > now]
        due = self.pending.next_due(now)
        if due is not None:
            times.append(due)
        soonest = min(times, default=now + timedelta(seconds=self.idle_tick))
        return max(0.01, min(self.idle_tick, (soonest - now).total_seconds()))
