"""The scheduling loop: when to plan a round, and carrying the plan out durably.

Knows: which SIMs may take work now (attached, ready, nothing queued on them, pacing), how to
build a round's inputs from the slots and the waiting index, claiming the plan in one write
(each message's parts stored with its claim), handing claims to the SIMs' queues, and keeping
going whatever one round or one row does (a failing round is reported as a problem, a row that
cannot be claimed is failed with the reason).
Must not know: the rules of the round (`plan.plan_round`), how a message is sent (`sender`),
AT, HTTP.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from appliance.dispatch.context import DispatchContext
from appliance.dispatch.plan import PlanPolicy, RoundInput, plan_round
from appliance.dispatch.slots import SimSlot
from appliance.store import queue as queue_store
from appliance.store import sending
from appliance.store.models import Message

log = logging.getLogger(__name__)
IDLE_TICK = 0.5  # seconds: the scheduler looks again at least this often

Prepare = Callable[[Message, str], Any]
"""In the claim's transaction: a claimed message's parts encoded and stored (or None)."""


class Scheduler:
    def __init__(self, ctx: DispatchContext, *, prepare: Prepare,
                 expire: Callable[[datetime], Awaitable[None]],
                 reload: Callable[[list[int]], Awaitable[None]]):
        self.ctx = ctx
        self.prepare = prepare
        self.expire = expire
        self.reload = reload
        self.idle_tick = IDLE_TICK

    def eligible(self, slot: SimSlot) -> bool:
        if not slot.attached or not slot.queue.empty():
            return False
        if not slot.sender_ready:
            return False  # its modem is reopening: claiming now would only hand work back
        # A busy SIM may take its next message ahead only when nothing paces it, so claiming
        # overlaps with sending; otherwise a message would wait on a SIM instead of in the queue.
        return not slot.busy or self.ctx.limits.per_minute == 0

    async def run(self) -> None:
        ctx = self.ctx
        while ctx.running:
            ctx._wake.clear()
            try:
                delay = await self.round()
            except Exception as exc:
                ctx.problem("the scheduling round", exc)
                delay = self.idle_tick
            else:
                if "the scheduling round" in ctx.problems:
                    ctx.resolved("the scheduling round")
            if delay > 0:
                try:
                    await asyncio.wait_for(ctx._wake.wait(), delay)
                except TimeoutError:
                    pass

    def round_input(self, now: datetime, free: list[SimSlot]) -> RoundInput:
        ctx = self.ctx
        views = {s.iccid: s.view(ctx.limits, now, ctx.tz) for s in free}
        attached = dict(views)
        if ctx.config.sticky_recipients:
            for iccid, slot in ctx.slots.items():
                if iccid not in attached and slot.attached:
                    attached[iccid] = slot.view(ctx.limits, now, ctx.tz)
        # Quiet hours and maintenance: a held category is not handed out now (one cached
        # look-up per round; empty, and free, when no hold is in force).
        held = ctx.holds.held(now) if ctx.holds is not None else frozenset()
        pinned = {}
        for iccid in views:
            item = next(iter(ctx.pending.pinned_to(iccid, now, held)), None)
            if item is not None:
                pinned[iccid] = item
        heads = list(ctx.pending.heads(per_lane=max(8, 4 * len(free)), now=now, held=held))
        return RoundInput(
            now=now, free=views, attached=attached, pinned=pinned, heads=heads,
            sticky_of=ctx.sticky.get, recent_share=ctx.recent_share,
            policy=PlanPolicy(affinity=ctx.config.operator_affinity,
                              sticky=ctx.config.sticky_recipients))

    async def round(self) -> float:
        """One round; how long the loop may sleep (0: look again at once)."""
        ctx = self.ctx
        now = ctx.now()
        free = [s for s in ctx.slots.values() if self.eligible(s)]
        if not free or not len(ctx.pending):
            return self.idle_delay(now, [])
        rin = self.round_input(now, free)
        plan = plan_round(rin, ctx.rng)
        if plan.expired:
            await self.expire(now)
        if not plan.assignments:
            return self.idle_delay(now, rin.free.values())
        await self.claim(plan.assignments, now)
        return 0.0

    async def claim(self, assignments: list[tuple[int, str]], now: datetime) -> None:
        ctx = self.ctx

        def claim() -> tuple[list[tuple[bool, Any]], list[tuple[int, str]]]:
            # Each message's parts are stored with its claim, while its SIM may still be
            # sending the one before: its send then starts at once. A row that cannot be
            # claimed (unreadable, a bug) is failed alone with the reason; the rest go on.
            out: list[tuple[bool, Any]] = []
            bad: list[tuple[int, str]] = []
            for mid, iccid in assignments:
                try:
                    with queue_store.savepoint():
                        got = sending.claim_one(mid, iccid, now)
                except Exception as exc:  # noqa: BLE001 - isolate the row
                    bad.append((mid, f"{type(exc).__name__}: {exc}"))
                    out.append((False, None))
                    continue
                out.append((True, self.prepare(got, iccid)) if got is not None
                           else (False, None))
            if bad:
                queue_store.quarantine(bad)
            return out, bad

        claimed, bad = await ctx.store.write(claim)
        for mid, why in bad:
            log.error("message %s could not be claimed and was failed: %s", mid, why)
            ctx.emit(mid, "failed")
        lost: list[tuple[int, str]] = []
        missed: list[int] = []
        bad_ids = {mid for mid, _ in bad}
        for (mid, iccid), (got, prepared) in zip(assignments, claimed, strict=True):
            item = ctx.pending.discard(mid)
            if not got:
                if mid not in bad_ids:
                    missed.append(mid)  # cancelled, or changed meanwhile: read it again
                continue
            slot = ctx.slots[iccid]
            if not slot.attached:
                # The SIM went away while the claim committed: its release may already have
                # run (and missed this claim), so nothing else would give the message back.
                lost.append((mid, iccid))
                continue
            parts = item.pending.parts if item is not None else 1
            if item is not None:
                self.count_share(item.pending.campaign_id, parts)
            slot.reserved[mid] = parts
            if prepared is not None:
                slot.prepared[mid] = prepared
            slot.queue.put_nowait(mid)
        if missed:
            await self.reload(missed)
        if lost:
            resend = ctx.config.resend_ambiguous
            await ctx.store.write(lambda: queue_store.hand_back(
                lost, "its SIM went away as it was claimed", resend_ambiguous=resend))
            await self.reload([mid for mid, _ in lost])

    def count_share(self, campaign: Any, parts: int) -> None:
        # Fairness looks at recent service, not all history: halve every count now and then so
        # a campaign that was busy an hour ago is not starved for it now.
        # A campaign halved to nothing is dropped, or every campaign ever run stays a key.
        share = self.ctx.recent_share
        share[campaign] += parts
        if sum(share.values()) > 10_000:
            for key in list(share):
                share[key] //= 2
                if not share[key]:
                    del share[key]

    def idle_delay(self, now: datetime, views: Any) -> float:
        """How long the scheduler may sleep when it found nothing to do (a wake cuts it short:
        new messages, a SIM attached or freed)."""
        times = [v.next_send_at for v in views if v.next_send_at > now]
        due = self.ctx.pending.next_due(now)
        if due is not None:
            times.append(due)
        if self.ctx.holds is not None:  # a hold ends (or begins): look again then
            change = self.ctx.holds.wake_at(now)
            if change is not None and change > now:
                times.append(change)
        soonest = min(times, default=now + timedelta(seconds=self.idle_tick))
        return max(0.01, min(self.idle_tick, (soonest - now).total_seconds()))
