"""The dispatcher: the outbox drained over the SIM pool, and what SIMs report back.

Knows: the dispatcher's life (recovery at start, an orderly stop), intake into the waiting
index, what the pool's events mean for the SIM slots, one sender task per SIM, expiry, and the
status reports and senders the inbox (appliance.inbox, the drivers' handler) hands over.
Must not know: AT syntax, serial ports, HTTP, SQL (store functions do the reading and
writing). Its parts: `context` (shared state), `scheduler` with the pure `plan` (who sends
what), `sender` (how one message is sent and settled); the balancing rules are the pure
functions of `balancer`, `rates` and `health`.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from appliance.config import DispatchConfig
from appliance.dispatch import health as health_rules
from appliance.dispatch import rates
from appliance.dispatch.acceptor import Acceptor
from appliance.dispatch.balancer import Pending
from appliance.dispatch.context import (
    STICKY_MAX,
    DispatchContext,
    EventListener,
    RecentRecipients,
)
from appliance.dispatch.estimate import SimCapacity
from appliance.dispatch.intake import RecipientBlock
from appliance.dispatch.pending import Waiting
from appliance.dispatch.phone import network_of, network_of_sim
from appliance.dispatch.scheduler import Scheduler
from appliance.dispatch.sender import Carry, MessageSender
from appliance.dispatch.slots import SimSlot
from appliance.hub import EventHub, MessagesAccepted
from appliance.modem.contract import InboundStatusReport
from appliance.policy.holds import HoldSchedule
from appliance.policy.layer import PolicyLayer
from appliance.pool.events import (
    ModemIdentified,
    PoolEvent,
    RegistrationChanged,
    SimAttached,
    SimLost,
)
from appliance.store import messages as outbox
from appliance.store import queue as queue_store
from appliance.store import sims as sim_store
from appliance.store.states import MessageState
from appliance.store.writer import Store

log = logging.getLogger(__name__)
M = MessageState

EXPIRY_TICK = 30.0
STARTUP_GRACE = timedelta(minutes=5)
"""A SIM not seen since start-up keeps the long messages pinned to it at least this long."""

__all__ = ["STICKY_MAX", "Dispatcher", "EventListener", "RecentRecipients"]


class Dispatcher:
    """The outbox drained over the SIM pool (a pool listener; reports come via the inbox).

    `clock` and `rng` are injectable (and replaceable before SIMs attach) so tests can move
    time (caps windows, send_at, expiry) and make balancing choices repeatable.
    """

    def __init__(self, config: DispatchConfig, store: Store, *,
                 clock: Callable[[], datetime] | None = None,
                 rng: random.Random | None = None, send_timeout: float = 60.0,
                 hub: EventHub | None = None):
        self.ctx = DispatchContext(config, store, clock=clock or (lambda: datetime.now(UTC)),
                                   rng=rng or random.Random(), send_timeout=send_timeout,
                                   hub=hub)
        self.sender = MessageSender(self.ctx, self.reload_waiting)
        self.scheduler = Scheduler(self.ctx, prepare=self.sender.prepare_claimed,
                                   expire=self._expire, reload=self.reload_waiting)
        self.acceptor = Acceptor(self.ctx.store, self._index_accepted)
        self.expiry_tick = EXPIRY_TICK
        self._attaching: dict[str, asyncio.Lock] = {}  # per ICCID: one attach at a time
        self._loop_task: asyncio.Task | None = None
        self._expiry_task: asyncio.Task | None = None
        self.recovered: dict[str, int] = {}
        self.started_at: datetime | None = None
        self._unavailable_since: dict[str, datetime] = {}  # attached SIMs that cannot send
        self.recipient_block: RecipientBlock | None = None
        """The blacklist intake checks every recipient against (set by the appliance)."""
        self.policy: PolicyLayer | None = None
        """The enterprise rules intake applies to every request (set by the appliance)."""

    # The shared state, under the names callers and tests use.
    config = property(lambda self: self.ctx.config)
    store = property(lambda self: self.ctx.store)
    limits = property(lambda self: self.ctx.limits)
    tz = property(lambda self: self.ctx.tz)
    slots = property(lambda self: self.ctx.slots)
    pending = property(lambda self: self.ctx.pending)
    sticky = property(lambda self: self.ctx.sticky)
    recent_share = property(lambda self: self.ctx.recent_share)
    listeners = property(lambda self: self.ctx.listeners)
    running = property(lambda self: self.ctx.running)

    @property
    def holds(self) -> HoldSchedule | None:
        """Quiet hours and maintenance: what may not be claimed now (set by the appliance)."""
        return self.ctx.holds

    @holds.setter
    def holds(self, value: HoldSchedule | None) -> None:
        self.ctx.holds = value
        self.wake()

    @property
    def clock(self) -> Callable[[], datetime]:
        return self.ctx.clock

    @clock.setter
    def clock(self, value: Callable[[], datetime]) -> None:
        self.ctx.clock = value

    @property
    def rng(self) -> random.Random:
        return self.ctx.rng

    @rng.setter
    def rng(self, value: random.Random) -> None:
        self.ctx.rng = value

    def now(self) -> datetime:
        return self.ctx.now()

    def wake(self) -> None:
        self.ctx.wake()

    def emit(self, message_id: int, state: str, iccid: str | None = None) -> None:
        self.ctx.emit(message_id, state, iccid)

    def problems(self) -> list[str]:
        """What keeps the dispatcher from working normally right now (empty: all well)."""
        out = self.ctx.problem_list()
        if self.ctx.running and self._loop_task is not None and self._loop_task.done():
            out.append("the scheduler stopped")
        return out

    # -- life ------------------------------------------------------------------------------
    async def start(self) -> None:
        ctx = self.ctx
        resend = ctx.config.resend_ambiguous

        def recover() -> dict[str, int]:
            bad = queue_store.find_unreadable(M.SENDING.value)
            for mid, why in bad:
                log.error("message %s was being sent but cannot be read; failed: %s", mid, why)
            queue_store.quarantine(bad)
            return outbox.recover_after_crash(resend_ambiguous=resend)

        self.recovered = await ctx.store.write(recover)
        if any(self.recovered.values()):
            # Not always a crash: a stop that gave up waiting for an answer leaves the same.
            log.warning("recovered what the last stop left in flight: %s", self.recovered)
        since = self.now() - timedelta(days=30)
        last = await ctx.store.read(
            lambda: sim_store.last_sims_by_recipient(since, limit=STICKY_MAX))
        ctx.sticky = RecentRecipients(STICKY_MAX)
        ctx.sticky.update(last)  # oldest first: the most recent end up the last to go
        await self.reload_waiting(None)
        ctx.running = True
        self.started_at = self.now()
        loop = asyncio.get_running_loop()
        self._loop_task = loop.create_task(self.scheduler.run(), name="dispatch")
        self._expiry_task = loop.create_task(self._expiry_loop(), name="expiry")

    async def stop(self, grace: float = 10.0) -> None:
        """Stop claiming; let each SIM finish the message it is sending (up to `grace`
        seconds: cancelling a +CMGS in flight would make its part ambiguous), hand the claimed
        but unstarted messages back to the queue, and wait for background writes."""
        ctx = self.ctx
        ctx.running = False
        tasks = [t for t in (self._loop_task, self._expiry_task) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        held: list[int] = []
        for slot in ctx.slots.values():
            held += slot.queue.take_all()
            slot.reserved.clear()
            slot.prepared.clear()
        try:
            async with asyncio.timeout(grace):
                while any(s.busy for s in ctx.slots.values()):
                    await asyncio.sleep(0.02)
        except TimeoutError:
            log.warning("stopping with a send still in flight; its part will be ambiguous")
        slot_tasks = [s.task for s in ctx.slots.values() if s.task is not None]
        for task in slot_tasks:
            task.cancel()
        await asyncio.gather(*slot_tasks, return_exceptions=True)
        await ctx.drain_background()
        if held:
            resend = ctx.config.resend_ambiguous
            await ctx.store.write(lambda: queue_store.requeue_unsent(
                held, "the appliance stopped before sending it", resend_ambiguous=resend))

    # -- intake ----------------------------------------------------------------------------
    async def submit(self, requests: list[outbox.NewMessage]) -> list[int]:
        """Store messages durably, then queue them; returns ids once they are on disk.

        Small requests arriving together share one writer job (`acceptor`); the index is filled
        from the accepted rows themselves, not read back."""
        return (await self.acceptor.accept(requests)).ids

    def _index_accepted(self, accepted: list[tuple[list[outbox.NewMessage],
                                                   outbox.Acceptance]]) -> None:
        """Queue the messages the requests of one writer job have just inserted (a replay's
        message is already known: queued, claimed or done), as reload_waiting would from their
        rows: one hub event, one look at the SIMs' queues and one wake-up for the job (they
        were per request: ~10% of this for 32 clients posting one message each)."""
        now, ctx = self.now(), self.ctx
        fresh = tuple(mid for _, acceptance in accepted
                      for mid, new in zip(acceptance.ids, acceptance.new, strict=True) if new)
        # Claimed already: a full reload saw it committed and a SIM took it. Only the SIMs'
        # non-empty queues are looked at, and a set of their ids built only for a batch (a set
        # of every queue's ids per single-recipient request was a measurable share of it).
        queues = [s.queue for s in ctx.slots.values() if not s.queue.empty()]
        claimed: set[int] | None = None
        if queues and len(fresh) > 4:
            claimed = set().union(*(q.ids() for q in queues))
        waiting = []
        for requests, acceptance in accepted:
            at = acceptance.at
            for req, mid, new in zip(requests, acceptance.ids, acceptance.new, strict=True):
                if not new or req.hold:
                    continue
                if queues and ((mid in claimed) if claimed is not None
                               else any(mid in q for q in queues)):
                    continue
                waiting.append(Waiting(
                    pending=Pending(message_id=mid, recipient=req.recipient,
                                    network=network_of(req.recipient),
                                    parts=max(req.parts_count, 1), priority=req.priority,
                                    campaign_id=req.campaign_id, sticky_sim=None,
                                    created_at=at),
                    send_at=req.send_at, expires_at=req.expires_at, pinned_sim=req.via_sim,
                    category=req.category))
        ctx.pending.add_many(waiting, now)
        # Told once indexed: when this raises, the acceptor indexes the job's requests one by
        # one, and an event sent before would be sent again for each of them.
        if fresh:
            ctx.hub.publish(MessagesAccepted(message_ids=fresh))
        self.wake()

    async def cancel(self, message_id: int, reason: str = "cancelled") -> None:
        """Cancel a message none of whose parts has been handed to a modem; `reason` is
        recorded in its history (e.g. "blacklisted: TD").

        Queued or held: cancelled at once. Claimed by a SIM but still waiting in its queue:
        taken out of the queue and cancelled (sending -> queued -> cancelled, one commit).
        Being sent, or sent, or with a part that left (or may have) on an earlier claim, even
        if it is back in the queue pinned to its SIM: InvalidTransition (the API answers 409).
        """
        ctx = self.ctx
        slot = next((s for s in ctx.slots.values() if message_id in s.queue), None)
        if slot is not None:
            slot.queue.remove(message_id)
            parts = slot.reserved.pop(message_id, 1)
            prepared = slot.prepared.pop(message_id, None)
        try:
            await ctx.store.write(lambda: queue_store.cancel(message_id,
                                                             was_claimed=slot is not None,
                                                             reason=reason))
        except Exception:
            if slot is not None:  # it stays claimed: give it back to its SIM
                slot.reserved[message_id] = parts
                if prepared is not None:
                    slot.prepared[message_id] = prepared
                slot.queue.put_nowait(message_id)
            raise
        ctx.pending.discard(message_id)
        self.emit(message_id, M.CANCELLED.value)

    async def release(self, ids: Iterable[int] | Callable[[], Iterable[int]],
                      detail: str = "released") -> list[int]:
        """Move held messages to the queue (held -> queued, durably) and index them, as
        accepted ones are; the ids moved (one no longer held, e.g. expired, stays as it is).

        `ids` may be a store function run first in the same transaction, returning the ids
        (an approval's decision: approved and released commit together, or neither)."""
        now = self.now()

        def job() -> list[int]:
            chosen = ids() if callable(ids) else ids
            return queue_store.release_held(list(chosen), detail, now)

        moved = await self.ctx.store.write(job)
        if moved:
            await self.reload_waiting(moved)
            for mid in moved:
                self.emit(mid, M.QUEUED.value)
        return moved

    async def reload_waiting(self, ids: list[int] | None, *,
                             not_before: datetime | None = None,
                             avoid_sims: frozenset[str] = frozenset()) -> None:
        """(Re)load queued messages into the index: all of them, or those `ids`; `avoid_sims`
        are SIMs that just failed them (a retry goes elsewhere while another SIM is free).
        A row that cannot be read back is failed with the reason; the rest are indexed."""
        ctx = self.ctx
        rows, bad = await ctx.store.read(lambda: queue_store.load_waiting(ids))
        if bad:
            failed = await ctx.store.write(lambda: queue_store.quarantine(bad))
            for mid, why in bad:
                log.error("message %s cannot be scheduled and was failed: %s", mid, why)
            for mid in failed:
                ctx.pending.discard(mid)
                self.emit(mid, M.FAILED.value)
        found = set()
        now = self.now()
        claimed = set().union(*(s.queue.ids() for s in ctx.slots.values())) \
            if ctx.slots else set()
        for row in rows:
            found.add(row.id)
            if row.id in claimed:
                continue  # claimed meanwhile (the read saw it before the claim committed)
            ctx.pending.add(Waiting(
                pending=Pending(message_id=row.id, recipient=row.recipient,
                                network=network_of(row.recipient),
                                parts=max(row.parts_count, 1), priority=row.priority,
                                campaign_id=row.campaign_id, sticky_sim=None,
                                created_at=row.created_at),
                send_at=row.send_at, expires_at=row.expires_at, pinned_sim=row.sim,
                not_before=not_before, avoid_sims=frozenset() if row.sim else avoid_sims,
                category=row.category),
                now)
        for mid in ids or []:
            if mid not in found:
                ctx.pending.discard(mid)
        self.wake()

    # -- the pool tells us -------------------------------------------------------------------
    def pool_event(self, event: PoolEvent) -> None:
        if isinstance(event, SimAttached):
            network = network_of_sim(event.operator_code, event.operator)
            self.ctx.spawn(self._attach(event, network), name=f"attach:{event.iccid}")
        elif isinstance(event, SimLost):
            self._lost(event)
        elif isinstance(event, RegistrationChanged):
            self._registration(event)
        elif isinstance(event, ModemIdentified):
            ident, sim = event.identity, event.identity.sim
            self.ctx.spawn_write(lambda: sim_store.upsert_modem_and_sim(
                imei=ident.imei, manufacturer=ident.manufacturer, model=ident.model,
                revision=ident.revision, port=event.port, iccid=sim.iccid, imsi=sim.imsi,
                operator=sim.operator, operator_code=sim.operator_code,
                own_number=sim.own_number))

    async def _attach(self, event: SimAttached, network: str | None) -> None:
        """Give the SIM its sender, creating its slot the first time.

        Attaches of one ICCID run one at a time (the lock). SimLost is handled synchronously:
        it either comes before the slot has this sender (and then the sender is no longer
        ready when checked below, after the last await) or after (and then it finds the
        sender to drop)."""
        lock = self._attaching.setdefault(event.iccid, asyncio.Lock())
        async with lock:
            await self._attach_locked(event, network)

    async def _attach_locked(self, event: SimAttached, network: str | None) -> None:
        ctx, iccid = self.ctx, event.iccid
        slot = ctx.slots.get(iccid)
        if slot is None:
            counters = await ctx.store.read(lambda: sim_store.load_counters(iccid, ctx.tz))
            health = await ctx.store.read(lambda: sim_store.load_json_setting("health", iccid))
        if not event.sender.ready:
            log.info("SIM %s lost before it could be attached on %s", iccid, event.port)
            return
        if slot is None:
            slot = SimSlot(iccid=iccid, network=network,
                           counters=rates.SimCounters.from_dict(counters),
                           next_send_at=self.now())
            if health:
                slot.health = health_rules.from_dict(health)
            ctx.slots[iccid] = slot
        slot.network = network or slot.network
        slot.sender = event.sender
        slot.lost_at = None
        slot.port = event.port
        slot.health = health_rules.after_registration_change(slot.health, True, self.now())
        if ctx.running and (slot.task is None or slot.task.done()):
            slot.task = asyncio.get_running_loop().create_task(self._slot_loop(slot),
                                                               name=f"sim:{iccid}")
        log.info("SIM %s ready for sending on %s (%s)", iccid, slot.port, network or "?")
        self.wake()

    def _registration(self, event: RegistrationChanged) -> None:
        """A SIM the network denies is taken out as barred (and shown so in /modems); one that
        lost registration is unavailable until it registers again (health rules)."""
        slot = self.ctx.slots.get(event.iccid)
        if slot is None:
            return
        slot.health = health_rules.after_registration_change(
            slot.health, event.registered, self.now(), denied=event.denied)
        if event.denied:
            log.warning("SIM %s: the network denied its registration; taken out of sending",
                        slot.iccid)
        self.ctx.persist_health(slot)
        self.wake()

    def _lost(self, event: SimLost) -> None:
        slot = self.ctx.slots.get(event.iccid)
        if slot is None or slot.port != event.port:
            return
        slot.sender = None
        slot.lost_at = self.now()
        self.ctx.spawn(self._release(slot, event.reason), name=f"release:{event.iccid}")

    async def _release(self, slot: SimSlot, reason: str) -> None:
        """Hand a lost SIM's claimed work back once its current send has ended."""
        while slot.busy:
            await asyncio.sleep(0.02)
        if slot.attached:  # it came back meanwhile: keep its work
            return
        for mid in slot.queue.take_all():  # still `sending` in the database: released below
            slot.reserved.pop(mid, None)
        slot.prepared.clear()
        resend = self.ctx.config.resend_ambiguous
        counts = await self.ctx.store.write(lambda: outbox.release_claims_for_sim(
            slot.iccid, f"SIM lost: {reason}", resend_ambiguous=resend))
        if any(counts.values()):
            log.info("SIM %s lost (%s): work handed back %s", slot.iccid, reason, counts)
        await self.reload_waiting(None)

    # -- sending -----------------------------------------------------------------------------
    async def _slot_loop(self, slot: SimSlot) -> None:
        ctx = self.ctx
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
                now = self.now()
                start = slot.next_send_at
                parts = slot.reserved.get(msg_id, 1)
                if parts > 1:  # paced for one part: the caps must hold room for all of them
                    start = max(start, slot.caps_allow(ctx.limits, now, ctx.tz, parts))
                delay = (start - now).total_seconds()
                if delay > 0:
                    if carry is not None:
                        await self.sender.flush(carry)
                        carry = None
                    await asyncio.sleep(delay)
                carry = await self.sender.send(slot, msg_id, carry, prepared)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.exception("sending message %s via %s failed unexpectedly", msg_id, slot.iccid)
                if carry is not None:  # what the SIM's earlier sends left to record
                    try:
                        await self.sender.flush(carry)
                    except Exception:
                        log.exception("recording the sends before message %s failed", msg_id)
                carry = None
                # A bug met by this message must not leave it claimed for ever, nor be met
                # again and again: it fails alone, with the reason.
                await self._fail_unexpectedly(msg_id, exc)
            finally:
                slot.reserved.pop(msg_id, None)
                slot.plan_next_send(ctx.limits, self.now(), ctx.tz, ctx.rng)
                if carry is None:
                    slot.busy = False
                    slot.current = None
                    self.wake()

    async def _fail_unexpectedly(self, msg_id: int, exc: Exception) -> None:
        try:
            failed = await self.ctx.store.write(lambda: queue_store.quarantine(
                [(msg_id, f"internal error while sending: {type(exc).__name__}: {exc}")]))
        except Exception:
            log.exception("message %s could not be failed after an internal error", msg_id)
            return
        for mid in failed:
            self.emit(mid, M.FAILED.value)

    def _next_in_chain(self, slot: SimSlot) -> int | None:
        """The SIM's next message when it can follow the last one at once (its records then
        commit with this one's first `sending`, one round trip instead of two), else None."""
        if slot.queue.empty() or not slot.attached or not self.ctx.running:
            return None
        if slot.next_send_at > self.now():
            return None  # paced: the last send's records must not wait for the pause
        return slot.queue.take_nowait()

    async def _expire(self, now: datetime) -> None:
        def expire() -> list[int]:
            try:
                with queue_store.savepoint():
                    return outbox.expire_due(now)
            except ValueError:
                # A row whose times do not read back: failed alone, then the rest expire.
                for state in (M.HELD.value, M.QUEUED.value):
                    bad = queue_store.find_unreadable(state)
                    for mid, why in bad:
                        log.error("message %s cannot be read and was failed: %s", mid, why)
                    queue_store.quarantine(bad)
                return outbox.expire_due(now)

        expired = await self.ctx.store.write(expire)
        for mid in expired:
            self.ctx.pending.discard(mid)
            self.emit(mid, M.EXPIRED.value)

    async def _expiry_loop(self) -> None:
        while self.ctx.running:
            await asyncio.sleep(min(self.expiry_tick, self.ctx.config.pinned_grace_seconds / 4))
            for what, job in (("the expiry round", self._expire),
                              ("unpinning", self._unpin_orphans)):
                try:
                    await job(self.now())
                except Exception as exc:
                    self.ctx.problem(what, exc)
                else:
                    self.ctx.resolved(what)

    async def _unpin_orphans(self, now: datetime) -> None:
        """Messages pinned to a SIM that has been gone longer than the grace: what never left
        goes through another SIM; what left (or may have) is never sent again, unless the
        "resend" setting says so (queue_store.unpin says which)."""
        ctx = self.ctx
        grace = timedelta(seconds=ctx.config.pinned_grace_seconds)
        for iccid in ctx.pending.pinned_sims():
            slot = ctx.slots.get(iccid)
            wait = grace
            if slot is None:
                # Not seen since start-up: bring-up after a boot (USB, PIN, registration) can
                # take minutes, so such a SIM gets a longer grace.
                gone_since, wait = self.started_at, max(grace * 10, STARTUP_GRACE)
            elif not slot.attached:
                gone_since = slot.lost_at
            elif slot.health.barred or not slot.health.registered:
                # Present but unable to send (barred, or no network): as good as gone.
                gone_since = self._unavailable_since.setdefault(iccid, now)
            else:
                self._unavailable_since.pop(iccid, None)
                continue
            if gone_since is None or now - gone_since < wait:
                continue
            ids = [w.message_id for w in ctx.pending.pinned_to(iccid)]
            reason = f"its SIM has been gone for over {ctx.config.pinned_grace_seconds:.0f} s"

            def unpin(ids: list[int] = ids, iccid: str = iccid, reason: str = reason,
                      resend: bool = ctx.config.resend_ambiguous,
                      ) -> list[tuple[int, str | None]]:
                out: list[tuple[int, str | None]] = []
                for m in ids:
                    try:
                        with queue_store.savepoint():  # a row that fails, fails alone
                            out.append((m, queue_store.unpin(m, iccid, reason,
                                                             resend_ambiguous=resend)))
                    except Exception:
                        log.exception("message %s pinned to SIM %s could not be unpinned",
                                      m, iccid)
                return out

            outcomes = await ctx.store.write(unpin)
            moved = [m for m, state in outcomes if state == M.QUEUED.value]
            settled = [(m, state) for m, state in outcomes if state not in (None, M.QUEUED.value)]
            if moved:
                log.warning("%d message(s) pinned to SIM %s, gone since %s, go again whole "
                            "through other SIMs", len(moved), iccid,
                            gone_since.isoformat())
                await self.reload_waiting(moved)
            if settled:
                log.warning("%d message(s) pinned to SIM %s, gone since %s, had parts leave "
                            "through it: settled (%s), never sent again elsewhere", len(settled),
                            iccid, gone_since.isoformat(),
                            ", ".join(f"{m} {state}" for m, state in settled))
                for mid, state in settled:
                    ctx.pending.discard(mid)
                    self.emit(mid, state, iccid)

    def persist_health(self, slot: SimSlot) -> None:
        self.ctx.persist_health(slot)

    # -- what modems report (handed on by the inbox) -------------------------------------------
    async def apply_status_report(self, item: InboundStatusReport) -> None:
        """Settle the part a status report is about; returns once committed (the inbox, the
        drivers' handler, returns after it, and only then the modem deletes the report)."""
        msg_id, state = await self.ctx.store.write(lambda: sim_store.apply_status_report(
            iccid=item.sim_iccid, message_reference=item.message_reference,
            recipient=item.recipient, status=item.status, delivered=item.delivered,
            final=item.final, pdu=item.pdu))
        if state is not None and msg_id is not None:
            self.emit(msg_id, state, item.sim_iccid)

    def remember_sender(self, number: str, iccid: str) -> None:
        """`number` wrote to SIM `iccid`: it keeps that SIM (replies land in one conversation)."""
        self.ctx.sticky[number] = iccid

    # -- views -------------------------------------------------------------------------------
    def counters_for(self, iccid: str) -> dict:
        slot = self.ctx.slots.get(iccid)
        if slot is None:
            return {}
        return slot.counters_view(self.ctx.limits, self.now(), self.ctx.tz)

    def send_capacity(self) -> tuple[list[SimCapacity], int]:
        """The SIMs able to send now, as the finish-time estimate sees them (caps, and what is
        left of the daily cap in the sliding day, claimed parts counted), and the messages
        waiting or claimed ahead of a new send (dispatch.estimate). Memory only: cheap."""
        now, limits = self.now(), self.ctx.limits
        sims: list[SimCapacity] = []
        backlog = len(self.ctx.pending)
        for slot in self.ctx.slots.values():
            backlog += slot.queue.qsize() + (1 if slot.busy else 0)
            if not slot.attached or not health_rules.is_available(slot.health, now):
                continue
            left = None
            if limits.per_day:
                left = max(0, limits.per_day - slot.counters.sent_within("day", now)
                           - sum(slot.reserved.values()))
            sims.append(SimCapacity(limits.per_minute, limits.per_hour, limits.per_day, left))
        return sims, backlog

    def describe(self) -> dict[str, Any]:
        """Queue and SIM figures for health views."""
        return {"waiting": len(self.ctx.pending),
                "sims_attached": sum(1 for s in self.ctx.slots.values() if s.attached)}
