"""The dispatcher: the outbox drained over the SIM pool, and what SIMs report back.

Knows: which SIMs can send (it listens to the pool), the queue of waiting messages, when to ask
the balancer for a plan, claiming the plan durably, one sender task per SIM, retries, expiry,
crash recovery at start, status reports and inbound SMS handed over by the drivers.
Must not know: AT syntax, serial ports, HTTP. The balancing rules are the pure functions of
`balancer`, `rates` and `health`; this module only feeds them and carries out their answers.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import zoneinfo
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from appliance.config import DispatchConfig
from appliance.dispatch import health as health_rules
from appliance.dispatch import rates
from appliance.dispatch.balancer import Pending, assign_batch
from appliance.dispatch.pending import PendingIndex, Waiting
from appliance.dispatch.phone import network_of, network_of_sim
from appliance.dispatch.sender import MessageSender
from appliance.dispatch.slots import SimSlot
from appliance.modem.contract import (
    Inbound,
    InboundSms,
    InboundStatusReport,
    PartNotSent,
    QuarantinedPdu,
)
from appliance.store import messages as outbox
from appliance.store import sims as sim_store
from appliance.store.models import Message
from appliance.store.writer import Store

log = logging.getLogger(__name__)

EventListener = Callable[[int, str, "str | None"], None]
IDLE_TICK = 0.5  # seconds: the scheduler looks again at least this often
EXPIRY_TICK = 30.0


class SupervisedSender:
    """A PartSender that always uses the supervisor's current modem (it changes on reopen)."""

    def __init__(self, supervisor: Any):
        self.supervisor = supervisor

    async def send_part(self, pdu: str, tpdu_length: int) -> int:
        modem = self.supervisor.modem
        if modem is None or not self.supervisor.ready:
            raise PartNotSent("the modem is not ready")
        return await modem.send_part(pdu, tpdu_length)


class Dispatcher:
    def __init__(self, config: DispatchConfig, store: Store, *,
                 clock: Callable[[], datetime] | None = None,
                 rng: random.Random | None = None):
        self.config = config
        self.store = store
        self.tz = zoneinfo.ZoneInfo(config.timezone)
        self.limits = rates.RateLimits.from_config(config)
        self._clock = clock or (lambda: datetime.now(UTC))
        self.rng = rng or random.Random()
        self.slots: dict[str, SimSlot] = {}
        self.pending = PendingIndex()
        self.sticky: dict[str, str] = {}
        self.recent_share: Counter = Counter()
        self.listeners: list[EventListener] = []
        self.sender = MessageSender(self)
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task] = set()
        self._loop_task: asyncio.Task | None = None
        self._expiry_task: asyncio.Task | None = None
        self.running = False
        self.recovered: dict[str, int] = {}

    def now(self) -> datetime:
        return self._clock()

    # -- life ------------------------------------------------------------------------------
    async def start(self) -> None:
        resend = self.config.ambiguous == "resend"
        self.recovered = await self.store.write(
            lambda: outbox.recover_after_crash(resend_ambiguous=resend))
        if any(self.recovered.values()):
            log.warning("recovered after an unclean stop: %s", self.recovered)
        since = self.now() - timedelta(days=30)
        self.sticky = await self.store.read(lambda: sim_store.last_sims_by_recipient(since))
        await self.reload_waiting(None)
        self.running = True
        self._loop_task = asyncio.get_running_loop().create_task(self._schedule_loop(),
                                                                 name="dispatch")
        self._expiry_task = asyncio.get_running_loop().create_task(self._expiry_loop(),
                                                                   name="expiry")

    async def stop(self) -> None:
        self.running = False
        for task in [self._loop_task, self._expiry_task,
                     *(s.task for s in self.slots.values())]:
            if task is not None:
                task.cancel()
        await asyncio.gather(*(t for t in [self._loop_task, self._expiry_task,
                                           *(s.task for s in self.slots.values())] if t),
                             return_exceptions=True)
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def wake(self) -> None:
        self._wake.set()

    def emit(self, message_id: int, state: str, iccid: str | None = None) -> None:
        for listener in self.listeners:
            try:
                listener(message_id, state, iccid)
            except Exception:  # a subscriber's bug must not stop sending
                log.exception("message event listener failed")

    def spawn_write(self, fn: Callable[[], Any]) -> None:
        """A write whose result nobody waits for (the writer keeps its order)."""
        task = asyncio.get_running_loop().create_task(self.store.write(fn))
        self._tasks.add(task)

        def done(t: asyncio.Task) -> None:
            self._tasks.discard(t)
            if not t.cancelled() and t.exception() is not None:
                log.error("background write failed: %s", t.exception())

        task.add_done_callback(done)

    # -- intake ----------------------------------------------------------------------------
    async def submit(self, requests: list[outbox.NewMessage]) -> list[int]:
        """Store messages durably, then queue them; returns ids once they are on disk."""
        ids = await self.store.write(lambda: outbox.accept_messages(requests))
        await self.reload_waiting(ids)
        return ids

    async def cancel(self, message_id: int) -> None:
        await self.store.write(lambda: outbox.cancel_message(message_id))
        self.pending.discard(message_id)
        self.emit(message_id, "cancelled")

    async def reload_waiting(self, ids: list[int] | None, *,
                             not_before: datetime | None = None) -> None:
        """(Re)load queued messages into the index: all of them, or those `ids`."""
        def load() -> list[tuple]:
            query = Message.select(Message.id, Message.recipient, Message.priority,
                                   Message.campaign, Message.created_at, Message.send_at,
                                   Message.expires_at, Message.sim, Message.parts_count,
                                   Message.state).where(Message.state == "queued")
            if ids is not None:
                query = query.where(Message.id.in_(ids))
            return [(m.id, m.recipient, m.priority, m.campaign_id, m.created_at, m.send_at,
                     m.expires_at, m.sim, m.parts_count) for m in query]

        rows = await self.store.read(load)
        found = set()
        for (mid, recipient, priority, campaign, created, send_at, expires, sim, parts) in rows:
            found.add(mid)
            self.pending.add(Waiting(
                pending=Pending(message_id=mid, recipient=recipient,
                                network=network_of(recipient), parts=max(parts, 1),
                                priority=priority, campaign_id=campaign, sticky_sim=None,
                                created_at=created),
                send_at=send_at, expires_at=expires, pinned_sim=sim, not_before=not_before))
        for mid in ids or []:
            if mid not in found:
                self.pending.discard(mid)
        self.wake()

    # -- the pool tells us -------------------------------------------------------------------
    def modem_identified(self, supervisor: Any) -> None:
        ident = supervisor.status.identity
        sim = ident.sim
        self.spawn_write(lambda: sim_store.upsert_modem_and_sim(
            imei=ident.imei, manufacturer=ident.manufacturer, model=ident.model,
            revision=ident.revision, port=supervisor.port.path, iccid=sim.iccid, imsi=sim.imsi,
            operator=sim.operator, operator_code=sim.operator_code, own_number=sim.own_number))

    def modem_ready(self, supervisor: Any) -> None:
        sim = supervisor.status.identity.sim
        if not sim.iccid:
            log.warning("modem on %s is ready but its SIM has no ICCID; not used for sending",
                        supervisor.port.path)
            return
        loop = asyncio.get_running_loop()
        loop.create_task(self._attach(supervisor, sim.iccid,
                                      network_of_sim(sim.operator_code, sim.operator)))

    async def _attach(self, supervisor: Any, iccid: str, network: str | None) -> None:
        slot = self.slots.get(iccid)
        if slot is None:
            counters = await self.store.read(lambda: sim_store.load_counters(iccid, self.tz))
            health = await self.store.read(lambda: sim_store.load_json_setting("health", iccid))
            slot = SimSlot(iccid=iccid, network=network,
                           counters=rates.SimCounters.from_dict(counters))
            if health:
                slot.health = health_rules.from_dict(health)
            self.slots[iccid] = slot
        slot.network = network or slot.network
        slot.sender = SupervisedSender(supervisor)
        slot.port = supervisor.port.path
        slot.health = health_rules.after_registration_change(slot.health, True, self.now())
        if slot.task is None or slot.task.done():
            slot.task = asyncio.get_running_loop().create_task(self._slot_loop(slot),
                                                               name=f"sim:{iccid}")
        log.info("SIM %s ready for sending on %s (%s)", iccid, slot.port, network or "?")
        self.wake()

    def modem_lost(self, supervisor: Any, reason: str) -> None:
        iccid = supervisor.status.identity.sim.iccid
        slot = self.slots.get(iccid)
        if slot is None or slot.port != supervisor.port.path:
            return
        slot.sender = None
        asyncio.get_running_loop().create_task(self._release(slot, reason))

    async def _release(self, slot: SimSlot, reason: str) -> None:
        """Hand a lost SIM's claimed work back once its current send has ended."""
        while slot.busy:
            await asyncio.sleep(0.05)
        held: list[int] = []
        while not slot.queue.empty():
            held.append(slot.queue.get_nowait())
        if slot.attached:  # it came back meanwhile: keep its work
            for mid in held:
                slot.queue.put_nowait(mid)
            return
        counts = await self.store.write(lambda: outbox.release_claims_for_sim(
            slot.iccid, f"SIM lost: {reason}",
            resend_ambiguous=self.config.ambiguous == "resend"))
        if any(counts.values()):
            log.info("SIM %s lost (%s): work handed back %s", slot.iccid, reason, counts)
        await self.reload_waiting(None)

    # -- scheduling --------------------------------------------------------------------------
    def _eligible(self, slot: SimSlot) -> bool:
        if not slot.attached or not slot.queue.empty():
            return False
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
                delay = IDLE_TICK
            if delay > 0:
                try:
                    await asyncio.wait_for(self._wake.wait(), delay)
                except TimeoutError:
                    pass

    async def _schedule_once(self) -> float:
        now = self.now()
        slots = [s for s in self.slots.values() if self._eligible(s)]
        if not slots or not len(self.pending):
            return IDLE_TICK
        views = [s.view(self.limits, now, self.tz) for s in slots]
        waiting = list(self.pending.heads(per_lane=max(8, 4 * len(slots)), now=now))
        by_id = {w.message_id: w for w in waiting}
        usable = {v.iccid for v in views if v.available and v.next_send_at <= now}
        plan: list[tuple[int, str]] = []
        # Messages with parts already sent must finish through their own SIM.
        free = []
        for w in waiting:
            if w.pinned_sim is None:
                free.append(dataclasses.replace(
                    w.pending, sticky_sim=self.sticky.get(w.pending.recipient)))
            elif w.pinned_sim in usable and w.pinned_sim not in {s for _, s in plan}:
                plan.append((w.message_id, w.pinned_sim))
        taken = {s for _, s in plan}
        plan += [(int(mid), iccid) for mid, iccid in assign_batch(
            free, [v for v in views if v.iccid not in taken], now,
            recent_share=self.recent_share, affinity=self.config.operator_affinity,
            sticky=self.config.sticky_recipients, rng=self.rng, max_per_sim=1)]
        if not plan:
            later = [v.next_send_at for v in views if v.next_send_at > now]
            soonest = min(later, default=now + timedelta(seconds=IDLE_TICK))
            return max(0.01, min(IDLE_TICK, (soonest - now).total_seconds()))
        claimed = await self.store.write(lambda: [
            (iccid, [m.id for m in outbox.claim_messages(iccid, 1, now, candidate_ids=[mid])])
            for mid, iccid in plan])
        for (mid, iccid), (_, got) in zip(plan, claimed, strict=True):
            item = self.pending.discard(mid)
            if not got:
                continue  # cancelled or changed meanwhile: the index forgets it
            w = by_id.get(mid) or item
            if w is not None:
                self.recent_share[w.pending.campaign_id] += w.pending.parts
            self.slots[iccid].queue.put_nowait(mid)
        return 0.0

    async def _slot_loop(self, slot: SimSlot) -> None:
        while True:
            msg_id = await slot.queue.get()
            slot.busy = True
            try:
                delay = (slot.next_send_at - self.now()).total_seconds()
                if delay > 0:
                    await asyncio.sleep(delay)
                await self.sender.send(slot, msg_id)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("sending message %s via %s failed unexpectedly", msg_id, slot.iccid)
            finally:
                slot.busy = False
                slot.plan_next_send(self.limits, self.now(), self.tz, self.rng)
                self.wake()

    async def _expiry_loop(self) -> None:
        while self.running:
            await asyncio.sleep(EXPIRY_TICK)
            try:
                now = self.now()
                expired = await self.store.write(lambda n=now: outbox.expire_due(n))
                for mid in expired:
                    self.pending.discard(mid)
                    self.emit(mid, "expired")
            except Exception:
                log.exception("expiry round failed")

    def persist_health(self, slot: SimSlot) -> None:
        h = slot.health
        state = "barred" if h.barred else ("resting" if h.rest_until and h.rest_until > self.now()
                                           else "active")
        self.spawn_write(lambda: sim_store.save_sim_health(
            slot.iccid, health_rules.to_dict(h), state=state, score=h.score,
            rest_until=h.rest_until, failures=h.consecutive_failures,
            barred_reason=h.barred_reason))

    # -- what modems report ------------------------------------------------------------------
    async def handle_inbound(self, item: Inbound) -> None:
        """The drivers' InboundHandler: returns once the item is committed (contract rule 3)."""
        if isinstance(item, InboundStatusReport):
            msg_id, state = await self.store.write(lambda: sim_store.apply_status_report(
                iccid=item.sim_iccid, message_reference=item.message_reference,
                recipient=item.recipient, status=item.status, delivered=item.delivered,
                final=item.final, pdu=item.pdu))
            if state is not None and msg_id is not None:
                self.emit(msg_id, state, item.sim_iccid)
        elif isinstance(item, InboundSms):
            await self.store.write(lambda: sim_store.store_inbound(
                iccid=item.sim_iccid, sender=item.sender, text=item.text,
                received_at=item.received_at, concat_ref=item.concat_reference,
                concat_count=item.concat_count, concat_index=item.concat_index,
                smsc=item.smsc, pdu=item.pdu))
            # A recipient who wrote to this SIM keeps it (replies land in one conversation).
            if item.sender.startswith("+"):
                self.sticky[item.sender] = item.sim_iccid
        elif isinstance(item, QuarantinedPdu):
            await self.store.write(lambda: sim_store.store_quarantined(
                item.sim_iccid, item.pdu, item.error))
            log.warning("undecodable PDU from SIM %s quarantined: %s", item.sim_iccid, item.error)

    # -- views -------------------------------------------------------------------------------
    def counters_for(self, iccid: str) -> dict:
        slot = self.slots.get(iccid)
        if slot is None:
            return {}
        return slot.counters_view(self.limits, self.now(), self.tz)
