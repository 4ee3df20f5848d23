"""Sending one claimed message through one SIM, part by part, and settling the outcome.

Knows: the order of durable steps that makes sending crash-safe (DESIGN.md "The outbound
message"), and what each kind of failure means for the message and the SIM.
Must not know: AT syntax (the driver contract's PartNotSent/PartAmbiguous are all it sees),
which SIM should send (the scheduler decided), HTTP.

The durable steps, in order, for each part:
1. the part is marked `sending` and COMMITTED before its PDU is written to the modem;
2. the PDU goes out (`send_part`);
3. the `+CMGS` reference is committed with the part `sent` in the same transaction as the next
   part's `sending` (or the next message's first part's: see Carry), never later than that;
   a crash before it commits leaves the part `sending`, which recovery turns into `ambiguous` —
   the honest answer for a part whose fate is unknown. So at most one part per SIM is ever
   `sending`, and the next PDU waits on one commit.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, TypeVar

from appliance.dispatch import health as health_rules
from appliance.dispatch.cms_errors import ErrorClass, classify_send_error, describe_error
from appliance.modem.contract import PartAmbiguous, PartNotSent
from appliance.pdu import encode_submit
from appliance.pool.sender import ModemNotReady
from appliance.store import messages as outbox
from appliance.store import queue as queue_store
from appliance.store import sending
from appliance.store import sims as sim_store
from appliance.store.models import Message, Part
from appliance.store.states import MessageState, PartState

if TYPE_CHECKING:
    from appliance.dispatch.context import DispatchContext
    from appliance.dispatch.slots import SimSlot

RequeueWaiting = Callable[..., Awaitable[None]]
"""(ids, *, not_before=None, avoid_sims=frozenset()): the engine indexes requeued messages."""

log = logging.getLogger(__name__)
M = MessageState
P = PartState
T = TypeVar("T")


class PreparedPart:
    __slots__ = ("id", "index", "pdu", "tpdu_length", "state", "error", "late_reference")

    def __init__(self, part_id: int, index: int, pdu: str, tpdu_length: int, state: str,
                 error: str = ""):
        self.id = part_id
        self.index = index
        self.pdu = pdu
        self.tpdu_length = tpdu_length
        self.state = state
        self.error = error
        self.late_reference: int | None = None  # a +CMGS answer that came after its timeout

    @classmethod
    def of(cls, part: Part) -> PreparedPart:
        return cls(part.id, part.index, part.pdu, part.tpdu_length, part.state, part.error)


class PreparedMessage:
    """What a send needs of a claimed message, read in the writer thread."""

    __slots__ = ("id", "recipient", "attempts", "parts")

    def __init__(self, msg: Message, parts: list[PreparedPart]):
        self.id = msg.id
        self.recipient = msg.recipient
        self.attempts = msg.attempts
        self.parts = parts


class Carry:
    """Writes a send has left to commit (a sent part's reference, the SIM's counters, the
    message `sent`), and what to do once they are on disk (tell listeners). They ride with the
    send's next write — or the next message's first one — so records commit in the order things
    happened, at the cost of no extra round trip to the writer thread."""

    __slots__ = ("jobs", "after", "_taken")

    def __init__(self) -> None:
        self.jobs: list[Callable[[], object]] = []
        self.after: list[Callable[[], None]] = []
        self._taken: tuple[list, list] = ([], [])

    def give_back(self) -> None:
        """The transaction that carried the taken writes did not commit: they ride with the
        next write instead (they record what already happened; dropping them would leave a
        message answered by the network `sending` until a restart)."""
        jobs, after = self._taken
        self.jobs[:0], self.after[:0] = jobs, after
        self._taken = ([], [])

    def __bool__(self) -> bool:
        return bool(self.jobs or self.after)

    def wrap(self, fn: Callable[[], T]) -> tuple[Callable[[], tuple[bool, object]],
                                                 list[Callable[[], None]]]:
        """Take the carried writes: a job running them, then `fn` (its result or its error as
        (ok, value): an error of `fn` must not undo the carried writes, which record what
        already happened), and the callbacks due once it has committed."""
        jobs, after = self.jobs, self.after
        self.jobs, self.after = [], []
        self._taken = (jobs, after)

        def run() -> tuple[bool, object]:
            for job in jobs:
                job()
            try:
                return True, fn()
            except Exception as exc:
                return False, exc
        return run, after


class MessageSender:
    """Carries out sends for the dispatcher; one call per claimed message. Depends on the
    shared DispatchContext and on one callback of the engine: `requeue_waiting`, which puts
    requeued messages back into the waiting index."""

    def __init__(self, ctx: DispatchContext, requeue_waiting: RequeueWaiting):
        self.d = ctx
        self.requeue_waiting = requeue_waiting

    # -- preparation (writer thread) --------------------------------------------------------
    def _prepare(self, msg_id: int, iccid: str,
                 msg: Message | None = None) -> PreparedMessage | None:
        if msg is None:
            found = queue_store.claimed_message(msg_id, iccid)
            if found is None:
                return None
            msg = found[0]
        elif msg.state != M.SENDING.value or msg.sim != iccid:
            return None
        parts = [PreparedPart(*row) for row in sending.stored_parts(msg_id)]
        if not parts:
            cfg = self.d.config
            validity = timedelta(seconds=cfg.default_ttl) if cfg.default_ttl else None
            reference = None
            if msg.parts_count > 1:  # counted at intake: a long message needs its reference
                # The SIM's row holds its rotating reference; the pool writes it when the modem
                # is identified, but that write must not be what a first long message waits on.
                sim_store.ensure_sim(iccid)
                reference = outbox.next_concat_ref(iccid)
            # Forced UCS2 or a message class (Kannel coding=2, mclass): a row only if asked.
            force_ucs2, message_class = outbox.send_options(msg_id) or (False, None)
            encoded = encode_submit(msg.recipient, msg.text, reference=reference or 0,
                                    request_status_report=cfg.status_report, validity=validity,
                                    force_ucs2=force_ucs2, message_class=message_class)
            if len(encoded) > 1 and reference is None:  # miscounted (an old row): encode again
                sim_store.ensure_sim(iccid)
                reference = outbox.next_concat_ref(iccid)
                encoded = encode_submit(msg.recipient, msg.text, reference=reference,
                                        request_status_report=cfg.status_report,
                                        validity=validity, force_ucs2=force_ucs2,
                                        message_class=message_class)
            ids = sending.add_parts(msg_id, iccid,
                                    [(p.pdu, p.tpdu_length, p.reference) for p in encoded])
            parts = [PreparedPart(pid, n, p.pdu, p.tpdu_length, P.PENDING.value)
                     for n, (pid, p) in enumerate(zip(ids, encoded, strict=True), start=1)]
        return PreparedMessage(msg, parts)

    def prepare_claimed(self, msg: Message, iccid: str) -> PreparedMessage | None:
        """In the claim's transaction (writer thread): the parts of a message just claimed,
        encoded and stored now, while the SIM is still busy with the one before, so its send
        starts with no round trip to the writer. None if that failed: the send then prepares
        it itself, and reports why (an unencodable message fails alone, with the reason)."""
        try:
            with queue_store.savepoint():
                return self._prepare(msg.id, iccid, msg)
        except Exception:
            return None

    # -- the send ---------------------------------------------------------------------------
    async def _write(self, carry: Carry, fn: Callable[[], T]) -> T:
        """`fn` with the carried writes, as an urgent job (a modem is waiting on it)."""
        run, after = carry.wrap(fn)
        try:
            ok, value = await self.d.store.write(run, urgent=True)
        except Exception:
            carry.give_back()
            raise
        for done in after:
            done()
        if not ok:
            raise value  # type: ignore[misc]
        return value  # type: ignore[return-value]

    async def flush(self, carry: Carry) -> None:
        """Commit what a finished send left to record (nothing follows it on the SIM now)."""
        if carry:
            await self._write(carry, lambda: None)

    async def send(self, slot: SimSlot, msg_id: int, carry: Carry | None = None,
                   prepared: PreparedMessage | None = None) -> Carry:
        """Send one claimed message. `carry`: what the SIM's previous send left to commit
        (committed with this send's first write). Returns what this one leaves: the caller
        passes it to the SIM's next send or flushes it, and must do one or the other before
        the SIM counts as idle (its release reads what these writes record)."""
        d = self.d
        carry = carry if carry is not None else Carry()
        if prepared is None:
            await self.flush(carry)
            try:
                prepared = await d.store.write(lambda: self._prepare(msg_id, slot.iccid))
            except Exception as exc:  # an unencodable message fails alone, with the reason
                log.exception("message %s cannot be prepared", msg_id)
                await self._fail(msg_id, f"cannot be encoded: {exc}")
                return carry
            if prepared is None:
                # Cancelled or settled meanwhile, or handed back to the queue (the SIM's release
                # ran just after the claim): the index must learn which, or a queued message is
                # lost to it until the next restart.
                await self.requeue_waiting([msg_id])
                return carry
        # A sent part's records (its +CMGS reference, the SIM's counters) ride with the next
        # write of this message, and the last part's `sent` with the message's, itself carried
        # to the SIM's next message: a crash can never leave a message `sent` with a part
        # still `sending`, and the next PDU waits on one commit, not three.
        first = next((p for p in prepared.parts if p.state == P.PENDING.value), None)
        unanswered: list[PreparedPart] = [p for p in prepared.parts
                                          if p.state == P.AMBIGUOUS.value]
        loop = asyncio.get_running_loop()
        for part in prepared.parts:
            if part.state != P.PENDING.value:
                continue
            sender = slot.sender
            if sender is None:
                await self.flush(carry)
                await self._requeue(slot, prepared, "the SIM's modem went away before sending")
                return carry
            committed = False

            async def commit_sending(pid: int = part.id, wake: bool = part is first) -> None:
                # Durable step 1, while the modem's "> " prompt is open: `sending` is on disk
                # before a byte of the PDU goes out, and a crash before this commit leaves
                # the part pending (nothing reached the modem; start-up's ESC closes the
                # prompt), so it is sent again, never held as ambiguous.
                nonlocal committed
                await self._write(carry, lambda: sending.mark_part_sending(pid))
                committed = True
                if wake and d.limits.per_minute == 0:
                    # Its queue has room again: the scheduler claims (and prepares) its next
                    # message while this PDU is in flight. Not sooner: that round's work (and
                    # the claim's, in the writer) would only delay this `sending` commit.
                    d.wake()

            started = loop.time()
            try:
                reference = await sender.send_part(
                    part.pdu, part.tpdu_length, timeout=self.answer_timeout(slot),
                    before_pdu=commit_sending,
                    on_late_answer=lambda mr, p=part, t=started: self.late_answer(
                        slot, p, mr, loop.time() - t))
            except PartNotSent as exc:
                if committed:
                    await self._write(carry, lambda pid=part.id, e=exc: outbox.transition_part(
                        pid, P.PENDING, error=e.reason))
                else:
                    await self.flush(carry)
                if isinstance(exc, ModemNotReady):
                    await self._requeue(slot, prepared, exc.reason, count_attempt=False)
                else:
                    await self._not_sent(slot, prepared, exc)
                return carry
            except PartAmbiguous as exc:
                await self.flush(carry)  # the parts before it did leave: record that first
                outcome = await self._ambiguous(slot, prepared, part, exc)
                if outcome == "stop":
                    return carry
                if outcome == "ambiguous":
                    unanswered.append(part)
                continue  # the rest of a long message goes on through the same SIM
            # What the carried write will record, known here at once: `_ambiguous` asks whether
            # any part is still to send, and one that left is not.
            part.state = P.SENT.value
            slot.record_turnaround(loop.time() - started)
            now = d.now()
            slot.record_sent(now, d.tz, 1)
            slot.health = health_rules.after_success(slot.health, now)
            counters = slot.counters.to_dict()
            carry.jobs.append(lambda pid=part.id, ref=reference, at=now, c=counters: (
                sending.mark_part_sent(pid, ref, at),
                sending.save_counters(slot.iccid, c, d.tz)))
        d.sticky[prepared.recipient] = slot.iccid
        # A part answered late (after its timeout) left: late_answer settled it already.
        unanswered = [p for p in unanswered if p.late_reference is None]
        if unanswered:
            await self.flush(carry)
            reason = "; ".join(f"part {p.index}: {p.error or 'no answer to +CMGS'}"
                               for p in unanswered)
            await d.store.write(lambda: queue_store.hold_ambiguous(prepared.id, slot.iccid,
                                                                   reason))
            log.warning("message %s is ambiguous via %s: %s", prepared.id, slot.iccid, reason)
            d.emit(prepared.id, M.AMBIGUOUS.value, slot.iccid)
            return carry
        detail = f"{len(prepared.parts)} part(s) sent"
        now = d.now()
        carry.jobs.append(lambda: sending.mark_message_sent(msg_id, detail, slot.iccid, now))
        carry.after.append(lambda: d.emit(msg_id, M.SENT.value, slot.iccid))
        return carry

    def answer_timeout(self, slot: SimSlot) -> float:
        """How long a +CMGS may stay unanswered on this SIM: from its own recent turnaround,
        between the configured floor and ceiling (turnaround.py)."""
        cfg = self.d.config
        return slot.send_timeout(cfg.send_timeout_floor, self.d.send_timeout,
                                 cfg.send_timeout_factor)

    def late_answer(self, slot: SimSlot, part: PreparedPart, reference: int,
                    turnaround: float) -> None:
        """The modem answered +CMGS after the timeout: the part left. Settled in the database
        once it is recorded ambiguous; an answer that comes sooner (while the timeout is being
        handled) is kept on the part for `_ambiguous` to find. Either way it counts: its
        turnaround (the next timeout learns from it), the caps and the SIM's health."""
        d = self.d
        log.info("late +CMGS answer on SIM %s: part %s left (reference %s) after %.1f s",
                 slot.iccid, part.id, reference, turnaround)
        part.late_reference = reference
        slot.record_turnaround(turnaround)
        now = d.now()
        slot.record_sent(now, d.tz, 1)
        slot.health = health_rules.after_success(slot.health, now)
        counters = slot.counters.to_dict()
        d.spawn_write(lambda: sending.save_counters(slot.iccid, counters, d.tz))
        if part.state != P.AMBIGUOUS.value:
            return

        async def settle() -> None:
            moved = await d.store.write(
                lambda: queue_store.settle_late_answer(part.id, reference, d.now()))
            if moved is not None:
                d.emit(moved[0], moved[1], slot.iccid)

        d.spawn(settle(), name=f"late-answer:{part.id}")

    async def _fail(self, msg_id: int, reason: str, iccid: str | None = None) -> None:
        await self.d.store.write(lambda: queue_store.fail_message(msg_id, reason, iccid))
        self.d.emit(msg_id, M.FAILED.value, iccid)

    async def _requeue(self, slot: SimSlot, prepared: PreparedMessage, reason: str,
                       not_before: datetime | None = None, *, count_attempt: bool = True,
                       avoid_sim: bool = False) -> None:
        d = self.d
        # Only if it is still this SIM's: a release racing this send may have handed it back.
        outcome = await d.store.write(lambda: queue_store.requeue_if_claimed(
            prepared.id, slot.iccid, reason, resend_ambiguous=d.config.resend_ambiguous,
            count_attempt=count_attempt))
        await self.requeue_waiting([prepared.id], not_before=not_before,
                                   avoid_sims=frozenset({slot.iccid}) if avoid_sim
                                   else frozenset())
        d.emit(prepared.id, M.AMBIGUOUS.value if outcome == "ambiguous" else M.QUEUED.value,
               slot.iccid)

    async def _not_sent(self, slot: SimSlot, prepared: PreparedMessage, exc: PartNotSent) -> None:
        d = self.d
        now = d.now()
        error_class = classify_send_error(exc.cms_error, exc.cme_error)
        if exc.cms_error is None and exc.cme_error is None:
            reason = exc.reason
            error_class = ErrorClass.TRANSIENT
        else:
            reason = describe_error(exc.cms_error, exc.cme_error)
        slot.health = health_rules.after_failure(slot.health, error_class, exc.cms_error, now,
                                                 policy=d.health_policy)
        slot.failed_total += 1
        d.persist_health(slot)
        if error_class is ErrorClass.PERMANENT:
            log.info("message %s failed permanently via %s: %s", prepared.id, slot.iccid, reason)
            await self._fail(prepared.id, reason, slot.iccid)
            return
        if prepared.attempts > d.config.retries:
            await self._fail(prepared.id, f"gave up after {prepared.attempts} attempts: {reason}",
                             slot.iccid)
            return
        log.info("message %s not sent via %s (%s); will retry", prepared.id, slot.iccid, reason)
        # The retry goes at once to another free SIM; back through this one only when no
        # other is free (plan.plan_round). A long message with parts already sent is pinned
        # to this SIM and goes first when it is free again.
        await self._requeue(slot, prepared, reason, avoid_sim=True)

    async def _ambiguous(self, slot: SimSlot, prepared: PreparedMessage, part: PreparedPart,
                         exc: PartAmbiguous) -> str:
        """A part's +CMGS went unanswered within its timeout. Returns "ambiguous" (recorded so;
        the message goes on), "sent" (its answer came while this ran: recorded sent; the
        message goes on) or "stop" (the message was settled or handed back here)."""
        d = self.d
        reason = f"no answer to +CMGS: {exc.reason}"
        part.error = reason
        slot.failed_total += 1
        if not d.config.resend_ambiguous:
            # Recorded before the modem is asked anything: a late +CMGS answer may come while
            # it is asked, and settles only a part already recorded ambiguous.
            await d.store.write(lambda: queue_store.mark_part_ambiguous(part.id, reason))
            part.state = P.AMBIGUOUS.value
        # A silent modem is as likely hung as the network slow: ask it, at once, whether it
        # still answers; one that does goes back to work, one that does not is the
        # supervisor's to recover (reopen, reset) while its SIM rests.
        alive = slot.sender is not None and await slot.sender.check_alive()
        slot.health = health_rules.after_silence(slot.health, d.now(), policy=d.health_policy)
        d.persist_health(slot)
        if d.config.resend_ambiguous and part.late_reference is None:
            await self._requeue(slot, prepared, reason)
            return "stop"
        outcome = "ambiguous"
        if part.late_reference is not None:  # answered meanwhile: it left, with this reference
            late, marked = part.late_reference, part.state == P.AMBIGUOUS.value

            def settle() -> None:
                if not marked:  # "resend" leaves it `sending` until requeued
                    queue_store.mark_part_ambiguous(part.id, reason)
                queue_store.settle_late_answer(part.id, late, d.now())

            await d.store.write(settle)
            part.state = P.SENT.value
            outcome = "sent"
        else:
            log.warning("message %s: part %d via %s got no answer (%s); the modem %s",
                        prepared.id, part.index, slot.iccid, exc.reason,
                        "answers again" if alive else "is silent")
        if alive or not any(p.state == P.PENDING.value for p in prepared.parts):
            return outcome
        # The rest must follow through this SIM once its modem answers again: pinned.
        await self._requeue(slot, prepared, reason)
        return "stop"
