"""Sending one claimed message through one SIM, part by part, and settling the outcome.

Knows: the order of durable steps that makes sending crash-safe (DESIGN.md "The outbound
message"), and what each kind of failure means for the message and the SIM.
Must not know: AT syntax (the driver contract's PartNotSent/PartAmbiguous are all it sees),
which SIM should send (the scheduler decided), HTTP.

The durable steps, in order, for each part:
1. the part is marked `sending` and COMMITTED before its PDU is written to the modem;
2. the PDU goes out (`send_part`);
3. the `+CMGS` reference is committed with the part `sent` (not awaited before the next part:
   the single writer keeps the order, and a crash before it commits leaves the part `sending`,
   which recovery turns into `ambiguous` — the honest answer for a part whose fate is unknown).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, TypeVar

from appliance.dispatch import health as health_rules
from appliance.dispatch.cms_errors import ErrorClass, classify_send_error, describe_error
from appliance.modem.contract import PartAmbiguous, PartNotSent
from appliance.pdu import encode_submit
from appliance.store import messages as outbox
from appliance.store import sims as sim_store
from appliance.store.models import Message, Part
from appliance.store.states import MessageState, PartState

if TYPE_CHECKING:
    from appliance.dispatch.engine import Dispatcher
    from appliance.dispatch.slots import SimSlot

log = logging.getLogger(__name__)
M = MessageState
P = PartState
T = TypeVar("T")


class ModemNotReady(PartNotSent):
    """The SIM's modem was not ready to take the PDU (gone, or reopening): nothing was tried,
    so the message is handed back without using up an attempt and the SIM's health is left
    alone (its loss is the pool's news, not a failure of the SIM)."""

    def __init__(self) -> None:
        super().__init__("the modem is not ready")


class PreparedPart:
    __slots__ = ("id", "index", "pdu", "tpdu_length", "state")

    def __init__(self, part: Part):
        self.id = part.id
        self.index = part.index
        self.pdu = part.pdu
        self.tpdu_length = part.tpdu_length
        self.state = part.state


class PreparedMessage:
    __slots__ = ("id", "recipient", "attempts", "parts")

    def __init__(self, msg: Message, parts: list[Part]):
        self.id = msg.id
        self.recipient = msg.recipient
        self.attempts = msg.attempts
        self.parts = [PreparedPart(p) for p in parts]


class MessageSender:
    """Carries out sends for the dispatcher; one call per claimed message."""

    def __init__(self, dispatcher: Dispatcher):
        self.d = dispatcher

    # -- preparation (writer thread) --------------------------------------------------------
    def _prepare(self, msg_id: int, iccid: str) -> PreparedMessage | None:
        msg = Message.get_or_none(Message.id == msg_id)
        if msg is None or msg.state != M.SENDING.value or msg.sim != iccid:
            return None
        parts = list(Part.select().where(Part.message == msg_id).order_by(Part.index))
        if not parts:
            cfg = self.d.config
            validity = timedelta(seconds=cfg.default_ttl) if cfg.default_ttl else None
            encoded = encode_submit(msg.recipient, msg.text,
                                    request_status_report=cfg.status_report, validity=validity)
            if len(encoded) > 1:
                # The SIM's row holds its rotating reference; the pool writes it when the modem
                # is identified, but that write must not be what a first long message waits on.
                sim_store.ensure_sim(iccid)
                ref = outbox.next_concat_ref(iccid)
                encoded = encode_submit(msg.recipient, msg.text, reference=ref,
                                        request_status_report=cfg.status_report,
                                        validity=validity)
            outbox.add_parts(msg_id, iccid, [
                outbox.NewPart(pdu=p.pdu, tpdu_length=p.tpdu_length, concat_ref=p.reference)
                for p in encoded])
            parts = list(Part.select().where(Part.message == msg_id).order_by(Part.index))
        return PreparedMessage(msg, parts)

    # -- the send ---------------------------------------------------------------------------
    async def send(self, slot: SimSlot, msg_id: int) -> None:
        d = self.d
        try:
            prepared = await d.store.write(lambda: self._prepare(msg_id, slot.iccid))
        except Exception as exc:  # an unencodable message fails alone, with the reason
            log.exception("message %s cannot be prepared", msg_id)
            await self._fail(msg_id, f"cannot be encoded: {exc}")
            return
        if prepared is None:
            # Cancelled or settled meanwhile, or handed back to the queue (the SIM's release ran
            # just after the claim): the index must learn which, or a queued message is lost
            # to it until the next restart.
            await d.reload_waiting([msg_id])
            return
        # What a sent part leaves to record (its +CMGS reference, the SIM's counters) rides
        # with the next write of this message, so the records commit in the order things
        # happened, and the last part's `sent` commits together with the message's: a crash
        # can never leave a message `sent` with a part still `sending`.
        carry: list[Callable[[], object]] = []

        def then(fn: Callable[[], T]) -> Callable[[], T]:
            jobs = list(carry)
            carry.clear()

            def run() -> T:
                for job in jobs:
                    job()
                return fn()
            return run

        for part in prepared.parts:
            if part.state != P.PENDING.value:
                continue
            sender = slot.sender
            if sender is None:
                await d.store.write(then(lambda: None))
                await self._requeue(slot, prepared, "the SIM's modem went away before sending")
                return
            # Durable step 1: `sending` is on disk before a byte of the PDU goes to the modem.
            await d.store.write(then(lambda pid=part.id: outbox.transition_part(pid, P.SENDING)))
            try:
                reference = await sender.send_part(part.pdu, part.tpdu_length)
            except PartNotSent as exc:
                await d.store.write(then(lambda pid=part.id, e=exc: outbox.transition_part(
                    pid, P.PENDING, error=e.reason)))
                if isinstance(exc, ModemNotReady):
                    await self._requeue(slot, prepared, exc.reason, count_attempt=False)
                else:
                    await self._not_sent(slot, prepared, exc)
                return
            except PartAmbiguous as exc:
                if carry:  # the parts before it did leave: record that first
                    await d.store.write(then(lambda: None))
                await self._ambiguous(slot, prepared, part, exc)
                return
            now = d.now()
            slot.record_sent(now, d.tz, 1)
            counters = slot.counters.to_dict()
            carry.append(lambda pid=part.id, ref=reference, c=counters: (
                outbox.transition_part(pid, P.SENT, message_reference=ref),
                sim_store.save_counters(slot.iccid, c, d.tz)))
        await d.store.write(then(lambda: outbox.transition_message(
            msg_id, M.SENT, f"{len(prepared.parts)} part(s) sent", slot.iccid)))
        slot.health = health_rules.after_success(slot.health, d.now())
        d.sticky[prepared.recipient] = slot.iccid
        d.emit(msg_id, M.SENT.value, slot.iccid)

    async def _fail(self, msg_id: int, reason: str, iccid: str | None = None) -> None:
        def fail() -> None:
            outbox.transition_message(msg_id, M.FAILED, reason, iccid, error=reason)
            Part.update(state=P.FAILED.value, error=reason).where(
                (Part.message == msg_id) & (Part.state == P.PENDING.value)).execute()

        await self.d.store.write(fail)
        self.d.emit(msg_id, M.FAILED.value, iccid)

    async def _requeue(self, slot: SimSlot, prepared: PreparedMessage, reason: str,
                       not_before: datetime | None = None, *, count_attempt: bool = True) -> None:
        d = self.d
        outcome = await d.store.write(lambda: outbox.requeue_message(
            prepared.id, reason, resend_ambiguous=d.config.resend_ambiguous,
            count_attempt=count_attempt))
        await d.reload_waiting([prepared.id], not_before=not_before)
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
        slot.health = health_rules.after_failure(slot.health, error_class, exc.cms_error, now)
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
        # The failing SIM now rests (health), so the retry goes to another SIM at once; with one
        # SIM it waits out the rest.
        await self._requeue(slot, prepared, reason)

    async def _ambiguous(self, slot: SimSlot, prepared: PreparedMessage, part: PreparedPart,
                         exc: PartAmbiguous) -> None:
        d = self.d
        now = d.now()
        # A silent modem is as likely hung as the network slow: rest the SIM like a failure.
        slot.health = health_rules.after_failure(slot.health, ErrorClass.TRANSIENT, None, now)
        slot.failed_total += 1
        d.persist_health(slot)
        reason = f"no answer to +CMGS: {exc.reason}"
        if d.config.resend_ambiguous:
            await self._requeue(slot, prepared, reason)
            return

        def hold() -> None:
            outbox.transition_part(part.id, P.AMBIGUOUS, error=reason)
            outbox.transition_message(prepared.id, M.AMBIGUOUS, reason, slot.iccid, error=reason)

        await d.store.write(hold)
        log.warning("message %s is ambiguous (part %d via %s): %s", prepared.id, part.index,
                    slot.iccid, reason)
        d.emit(prepared.id, M.AMBIGUOUS.value, slot.iccid)

