"""The dispatcher: the outbox drained over the SIM pool, and what SIMs report back.

Knows: which SIMs can send (it listens to the pool), the queue of waiting messages, when to ask
the balancer for a plan, claiming the plan durably, one sender task per SIM, retries, expiry,
crash recovery at start, status reports and inbound SMS handed over by the drivers.
Must not know: AT syntax, serial ports, HTTP. The balancing rules are the pure functions of
`balancer`, `rates` and `health`; this module only feeds them and carries out their answers.
The scheduling round (eligibility, the plan, the claim) is the `scheduling` mixin.
"""

from __future__ import annotations

import asyncio
import logging
import random
import zoneinfo
from collections import Counter, OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from appliance.config import DispatchConfig
from appliance.dispatch import health as health_rules
from appliance.dispatch import rates
from appliance.dispatch.acceptor import Acceptor
from appliance.dispatch.balancer import Pending
from appliance.dispatch.pending import PendingIndex, Waiting
from appliance.dispatch.phone import network_of, network_of_sim
from appliance.dispatch.scheduling import SchedulingRound
from appliance.dispatch.sender import Carry, MessageSender, ModemNotReady
from appliance.dispatch.slots import SimSlot
from appliance.modem.contract import (
    Inbound,
    InboundSms,
    InboundStatusReport,
    QuarantinedPdu,
)
from appliance.store import messages as outbox
from appliance.store import sims as sim_store
from appliance.store.models import Message
from appliance.store.states import MessageState
from appliance.store.writer import Store

log = logging.getLogger(__name__)
M = MessageState

EventListener = Callable[[int, str, "str | None"], None]
IDLE_TICK = 0.5  # seconds: the scheduler looks again at least this often
EXPIRY_TICK = 30.0
STICKY_MAX = 100_000
"""Recipients whose last SIM the dispatcher remembers (sticky recipients). At ~150 bytes an
entry, 100k cost ~15 MB on the Pi; a recipient not written to or heard from since 100k others
were starts afresh on whichever SIM the balancer picks (then sticks again)."""


class RecentRecipients(OrderedDict[str, str]):
    """recipient -> ICCID, at most `maxlen` entries; the least recently written or read goes
    first when full."""

    def __init__(self, maxlen: int = STICKY_MAX):
        super().__init__()
        self.maxlen = maxlen

    def __setitem__(self, recipient: str, iccid: str) -> None:
        super().__setitem__(recipient, iccid)
        self.move_to_end(recipient)
        while len(self) > self.maxlen:
            self.popitem(last=False)

    def get(self, recipient: str, default: str | None = None) -> str | None:  # type: ignore[override]
        if recipient not in self:
            return default
        self.move_to_end(recipient)
        return super().__getitem__(recipient)


class SupervisedSender:
    """A PartSender that always uses the supervisor's current modem (it changes on reopen)."""

    def __init__(self, supervisor: Any):
        self.supervisor = supervisor

    @property
    def ready(self) -> bool:
        return bool(self.supervisor.ready)

    async def send_part(self, pdu: str, tpdu_length: int) -> int:
        modem = self.supervisor.modem
        if modem is None or not self.supervisor.ready:
            raise ModemNotReady()
        return await modem.send_part(pdu, tpdu_length)


class Dispatcher(SchedulingRound):
    """The outbox drained over the SIM pool (a pool listener and the drivers' inbound handler).

    `clock` and `rng` are injectable so tests can move time (caps windows, send_at, expiry)
    and make balancing choices repeatable.
    """

    def __init__(self, config: DispatchConfig, store: Store, *,
                 clock: Callable[[], datetime] | None = None,
                 rng: random.Random | None = None):
        self.config = config
        self.store = store
        self.tz = zoneinfo.ZoneInfo(config.timezone)
        self.limits = rates.RateLimits.from_config(config)
        self.clock = clock or (lambda: datetime.now(UTC))
        self.rng = rng or random.Random()
        self.slots: dict[str, SimSlot] = {}
        self.pending = PendingIndex()
        self.sticky = RecentRecipients(STICKY_MAX)
        self.recent_share: Counter = Counter()
        self.listeners: list[EventListener] = []
        self.sender = MessageSender(self)
        self.idle_tick = IDLE_TICK
        self.expiry_tick = EXPIRY_TICK
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task] = set()
        self._attaching: dict[str, asyncio.Lock] = {}  # per ICCID: one attach at a time
        self._loop_task: asyncio.Task | None = None
        self._expiry_task: asyncio.Task | None = None
        self.running = False
        self.recovered: dict[str, int] = {}

    def now(self) -> datetime:
        return self.clock()

    # -- life ------------------------------------------------------------------------------
    async def start(self) -> None:
        resend = self.config.resend_ambiguous
        self.recovered = await self.store.write(
            lambda: outbox.recover_after_crash(resend_ambiguous=resend))
        if any(self.recovered.values()):
            log.warning("recovered after an unclean stop: %s", self.recovered)
        since = self.now() - timedelta(days=30)
        last = await self.store.read(
            lambda: sim_store.last_sims_by_recipient(since, limit=STICKY_MAX))
        self.sticky = RecentRecipients(STICKY_MAX)
        self.sticky.update(last)  # oldest first: the most recent end up the last to go
        await self.reload_waiting(None)
        self.running = True
        loop = asyncio.get_running_loop()
        self._loop_task = loop.create_task(self._schedule_loop(), name="dispatch")
        self._expiry_task = loop.create_task(self._expiry_loop(), name="expiry")

    async def stop(self, grace: float = 10.0) -> None:
        """Stop claiming; let each SIM finish the message it is sending (up to `grace`
        seconds: cancelling a +CMGS in flight would make its part ambiguous), hand the claimed
        but unstarted messages back to the queue, and wait for background writes."""
        self.running = False
        for task in (self._loop_task, self._expiry_task):
            if task is not None:
                task.cancel()
        await asyncio.gather(*(t for t in (self._loop_task, self._expiry_task) if t),
                             return_exceptions=True)
        held: list[int] = []
        for slot in self.slots.values():
            held += slot.queue.take_all()
            slot.reserved.clear()
            slot.prepared.clear()
        try:
            async with asyncio.timeout(grace):
                while any(s.busy for s in self.slots.values()):
                    await asyncio.sleep(0.02)
        except TimeoutError:
            log.warning("stopping with a send still in flight; its part will be ambiguous")
        slot_tasks = [s.task for s in self.slots.values() if s.task is not None]
        for task in slot_tasks:
            task.cancel()
        await asyncio.gather(*slot_tasks, return_exceptions=True)
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        if held:
            resend = self.config.resend_ambiguous
            await self.store.write(lambda: [
                outbox.requeue_message(mid, "the appliance stopped before sending it",
                                       resend_ambiguous=resend)
                for mid in held if Message.get_by_id(mid).state == M.SENDING.value])

    def wake(self) -> None:
        self._wake.set()

    def emit(self, message_id: int, state: str, iccid: str | None = None) -> None:
        for listener in self.listeners:
            try:
                listener(message_id, state, iccid)
            except Exception:  # a subscriber's bug must not stop sending
                log.exception("message event listener failed")

    def spawn(self, coro: Any, name: str | None = None) -> asyncio.Task:
        """A background task the dispatcher waits for at stop (a SIM's release, a write)."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)

        def done(t: asyncio.Task) -> None:
            self._tasks.discard(t)
            if not t.cancelled() and t.exception() is not None:
                log.error("background task %s failed: %r", t.get_name(), t.exception())

        task.add_done_callback(done)
        return task

    def spawn_write(self, fn: Callable[[], Any]) -> None:
        """A write whose result nobody waits for (the writer keeps its order)."""
        self.spawn(self.store.write(fn), name="write")

    # -- intake ----------------------------------------------------------------------------
    async def submit(self, requests: list[outbox.NewMessage]) -> list[int]:
        """Store messages durably, then queue them; returns ids once they are on disk.

        Small requests arriving together share one writer job (`acceptor`); the index is filled
        from the accepted rows themselves, not read back."""
        acceptor = self.__dict__.get("_acceptor")
        if acceptor is None:  # made here, not in __init__, to keep intake's change in one place
            acceptor = self._acceptor = Acceptor(self.store, self._index_accepted)
        return (await acceptor.accept(requests)).ids

    def _index_accepted(self, requests: list[outbox.NewMessage],
                        accepted: outbox.Acceptance) -> None:
        """Queue the messages `accepted` has just inserted (a replay's message is already
        known: queued, claimed or done), as reload_waiting would from their rows."""
        now = self.now()
        for req, mid, new in zip(requests, accepted.ids, accepted.new, strict=True):
            if not new or req.hold:
                continue
            if any(mid in s.queue for s in self.slots.values()):
                continue  # a full reload saw it committed and a SIM claimed it already
            self.pending.add(Waiting(
                pending=Pending(message_id=mid, recipient=req.recipient,
                                network=network_of(req.recipient),
                                parts=max(req.parts_count, 1), priority=req.priority,
                                campaign_id=req.campaign_id, sticky_sim=None,
                                created_at=accepted.at),
                send_at=req.send_at, expires_at=req.expires_at), now)
        self.wake()

    async def cancel(self, message_id: int) -> None:
        """Cancel a message none of whose parts has been handed to a modem.

        Queued or held: cancelled at once. Claimed by a SIM but still waiting in its queue:
        taken out of the queue and cancelled (sending -> queued -> cancelled, one commit).
        Being sent, or sent, or with a part that left (or may have) on an earlier claim, even
        if it is back in the queue pinned to its SIM: InvalidTransition (the API answers 409).
        """
        slot = next((s for s in self.slots.values() if message_id in s.queue), None)
        if slot is not None:
            slot.queue.remove(message_id)
            parts = slot.reserved.pop(message_id, 1)
            prepared = slot.prepared.pop(message_id, None)

        def cancel() -> None:
            msg = Message.get_or_none(Message.id == message_id)
            if msg is not None and msg.state == M.SENDING.value and slot is not None:
                # No part of it can be in flight: it never left the SIM's queue. A part that
                # left on an earlier claim makes cancel_message refuse, and this rolls back.
                outbox.requeue_message(message_id, "cancelled before sending")
            outbox.cancel_message(message_id)

        try:
            await self.store.write(cancel)
        except Exception:
            if slot is not None:  # it stays claimed: give it back to its SIM
                slot.reserved[message_id] = parts
                if prepared is not None:
                    slot.prepared[message_id] = prepared
                slot.queue.put_nowait(message_id)
            raise
        self.pending.discard(message_id)
        self.emit(message_id, M.CANCELLED.value)

    async def reload_waiting(self, ids: list[int] | None, *,
                             not_before: datetime | None = None,
                             avoid_sims: frozenset[str] = frozenset()) -> None:
        """(Re)load queued messages into the index: all of them, or those `ids`; `avoid_sims`
        are SIMs that just failed them (a retry goes elsewhere while another SIM can take it)."""
        def load() -> list[tuple]:
            base = Message.select(Message.id, Message.recipient, Message.priority,
                                  Message.campaign, Message.created_at, Message.send_at,
                                  Message.expires_at, Message.sim, Message.parts_count,
                                  Message.state).where(Message.state == M.QUEUED.value)
            queries = [base] if ids is None else [
                base.where(Message.id.in_(ids[i:i + 500])) for i in range(0, len(ids), 500)]
            return [(m.id, m.recipient, m.priority, m.campaign_id, m.created_at, m.send_at,
                     m.expires_at, m.sim, m.parts_count) for q in queries for m in q]

        rows = await self.store.read(load)
        found = set()
        now = self.now()
        for (mid, recipient, priority, campaign, created, send_at, expires, sim, parts) in rows:
            found.add(mid)
            if any(mid in s.queue for s in self.slots.values()):
                continue  # claimed meanwhile (the read saw it before the claim committed)
            self.pending.add(Waiting(
                pending=Pending(message_id=mid, recipient=recipient,
                                network=network_of(recipient), parts=max(parts, 1),
                                priority=priority, campaign_id=campaign, sticky_sim=None,
                                created_at=created),
                send_at=send_at, expires_at=expires, pinned_sim=sim, not_before=not_before,
                avoid_sims=frozenset() if sim else avoid_sims),
                now)
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
        self.spawn(self._attach(supervisor, sim.iccid,
                                network_of_sim(sim.operator_code, sim.operator)),
                   name=f"attach:{sim.iccid}")

    async def _attach(self, supervisor: Any, iccid: str, network: str | None) -> None:
        """Give the SIM a sender on `supervisor`'s modem, creating its slot the first time.

        Attaches of one ICCID run one at a time (the lock). modem_lost is synchronous: it either
        runs before the slot has this sender (and then `supervisor.ready` is already false when
        checked below, after the last await) or after (and then it finds the sender to drop).
        """
        lock = self._attaching.setdefault(iccid, asyncio.Lock())
        async with lock:
            await self._attach_locked(supervisor, iccid, network)

    async def _attach_locked(self, supervisor: Any, iccid: str, network: str | None) -> None:
        slot = self.slots.get(iccid)
        if slot is None:
            counters = await self.store.read(lambda: sim_store.load_counters(iccid, self.tz))
            health = await self.store.read(lambda: sim_store.load_json_setting("health", iccid))
        if not supervisor.ready:  # lost while we read (or before this task ran): nothing to do
            log.info("SIM %s lost before it could be attached on %s", iccid,
                     supervisor.port.path)
            return
        if slot is None:
            slot = SimSlot(iccid=iccid, network=network,
                           counters=rates.SimCounters.from_dict(counters),
                           next_send_at=self.now())
            if health:
                slot.health = health_rules.from_dict(health)
            self.slots[iccid] = slot
        slot.network = network or slot.network
        slot.sender = SupervisedSender(supervisor)
        slot.port = supervisor.port.path
        slot.health = health_rules.after_registration_change(slot.health, True, self.now())
        if self.running and (slot.task is None or slot.task.done()):
            slot.task = asyncio.get_running_loop().create_task(self._slot_loop(slot),
                                                               name=f"sim:{iccid}")
        log.info("SIM %s ready for sending on %s (%s)", iccid, slot.port, network or "?")
        self.wake()

    def registration_changed(self, supervisor: Any) -> None:
        """A SIM the network denies is taken out as barred (and shown so in /modems); one that
        lost registration is unavailable until it registers again (health rules)."""
        slot = self.slots.get(supervisor.status.identity.sim.iccid)
        if slot is None:
            return
        registered = supervisor.status.registered
        denied = supervisor.status.registration == "denied"
        slot.health = health_rules.after_registration_change(slot.health, registered, self.now(),
                                                            denied=denied)
        if denied:
            log.warning("SIM %s: the network denied its registration; taken out of sending",
                        slot.iccid)
        self.persist_health(slot)
        self.wake()

    def modem_lost(self, supervisor: Any, reason: str) -> None:
        iccid = supervisor.status.identity.sim.iccid
        slot = self.slots.get(iccid)
        if slot is None or slot.port != supervisor.port.path:
            return
        slot.sender = None
        self.spawn(self._release(slot, reason), name=f"release:{iccid}")

    async def _release(self, slot: SimSlot, reason: str) -> None:
        """Hand a lost SIM's claimed work back once its current send has ended."""
        while slot.busy:
            await asyncio.sleep(0.02)
        if slot.attached:  # it came back meanwhile: keep its work
            return
        for mid in slot.queue.take_all():  # still `sending` in the database: released below
            slot.reserved.pop(mid, None)
        slot.prepared.clear()
        counts = await self.store.write(lambda: outbox.release_claims_for_sim(
            slot.iccid, f"SIM lost: {reason}", resend_ambiguous=self.config.resend_ambiguous))
        if any(counts.values()):
            log.info("SIM %s lost (%s): work handed back %s", slot.iccid, reason, counts)
        await self.reload_waiting(None)

    # -- sending (the scheduling round is in `scheduling`) ------------------------------
    async def _slot_loop(self, slot: SimSlot) -> None:
        carry: Carry | None = None  # what the last send left to commit (see sender.Carry)
        while True:
            msg_id = self._next_in_chain(slot) if carry is not None else None
            if carry is not None and msg_id is None:
                # Nothing to send right after it: commit its records now, and only then
                # is the SIM idle (a release or a stop reads what they record).
                try:
                    await self.sender.flush(carry)
                except Exception:
                    log.exception("recording the last send via %s failed", slot.iccid)
                finally:
                    carry = None
                    slot.busy = False
                    slot.current = None
                    self.wake()
            if msg_id is None:
                msg_id = await slot.queue.get()
            # No await between taking it and marking it current: cancel() relies on a message
            # being either in the queue or current.
            slot.busy = True
            slot.current = msg_id
            prepared = slot.prepared.pop(msg_id, None)
            try:
                delay = (slot.next_send_at - self.now()).total_seconds()
                if delay > 0:
                    if carry is not None:
                        await self.sender.flush(carry)
                        carry = None
                    await asyncio.sleep(delay)
                carry = await self.sender.send(slot, msg_id, carry, prepared)
            except asyncio.CancelledError:
                raise
            except Exception:
                carry = None
                log.exception("sending message %s via %s failed unexpectedly", msg_id, slot.iccid)
            finally:
                slot.reserved.pop(msg_id, None)
                slot.plan_next_send(self.limits, self.now(), self.tz, self.rng)
                if carry is None:
                    slot.busy = False
                    slot.current = None
                    self.wake()

    def _next_in_chain(self, slot: SimSlot) -> int | None:
        """The SIM's next message when it can follow the last one at once (its records then
        commit with this one's first `sending`, one round trip instead of two), else None."""
        if slot.queue.empty() or not slot.attached or not self.running:
            return None
        if slot.next_send_at > self.now():
            return None  # paced: the last send's records must not wait for the pause
        return slot.queue.take_nowait()

    async def _expire(self, now: datetime) -> None:
        expired = await self.store.write(lambda: outbox.expire_due(now))
        for mid in expired:
            self.pending.discard(mid)
            self.emit(mid, M.EXPIRED.value)

    async def _expiry_loop(self) -> None:
        while self.running:
            await asyncio.sleep(self.expiry_tick)
            try:
                await self._expire(self.now())
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

    def problems(self) -> list[str]:
        """What keeps the dispatcher from working as it should, one reason per line (e.g. a
        scheduling round that keeps failing); empty when all is well. The health endpoint
        reports the appliance degraded while this is not empty."""
        return []
