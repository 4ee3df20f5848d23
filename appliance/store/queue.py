"""The dispatcher's reads and writes of the outbox that are not on the per-part hot path.

Knows: which rows wait to be sent and how to read them defensively (one bad row must not stop
the gateway), how claimed work goes back to the queue, how a message fails or settles.
Must not know: SIM choice, modems, asyncio. Every function runs inside `Store.read` or
`Store.write` (the writer thread), like those of `messages` and `sending`.
The hot path's fixed SQL is `sending`; state moves with their rules are `messages`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from appliance.store import ledger
from appliance.store import messages as outbox
from appliance.store.db import utcnow
from appliance.store.models import Message, MessageEvent, Part
from appliance.store.states import MessageState, PartState

M = MessageState
P = PartState
CHUNK = 500  # ids per IN (...) clause: SQLite's old bound on host parameters is 999


@dataclass(frozen=True)
class WaitingRow:
    """A queued message as the dispatcher indexes it."""

    id: int
    recipient: str
    priority: int
    campaign_id: int | None
    created_at: datetime
    send_at: datetime | None
    expires_at: datetime | None
    sim: str | None
    parts_count: int
    category: str = "notice"


def _aware(value: object, name: str, *, optional: bool) -> datetime | None:
    if value is None and optional:
        return None
    if not isinstance(value, datetime):
        raise ValueError(f"{name} is not a readable time: {value!r}")
    if value.tzinfo is None:
        raise ValueError(f"{name} has no time zone: {value!r}")
    return value


_WAITING_FIELDS = (Message.id, Message.recipient, Message.priority, Message.campaign,
                   Message.created_at, Message.send_at, Message.expires_at, Message.sim,
                   Message.parts_count, Message.category)


def _row(raw: tuple) -> WaitingRow:
    """A raw row as plain values, or ValueError naming what later code could not use. Raw
    tuples are converted here, one row at a time, so one unreadable value fails its row and
    not the whole read."""
    (mid, recipient, priority, campaign, created, send_at, expires, sim, parts, category) = raw
    if not isinstance(recipient, str) or not recipient:
        raise ValueError(f"recipient is not a number: {recipient!r}")
    if not isinstance(priority, int):
        raise ValueError(f"priority is not a number: {priority!r}")
    times = [field.python_value(value) for field, value in (
        (Message.created_at, created), (Message.send_at, send_at),
        (Message.expires_at, expires))]
    return WaitingRow(
        id=mid, recipient=recipient, priority=priority, campaign_id=campaign,
        created_at=_aware(times[0], "created_at", optional=False),  # type: ignore[arg-type]
        send_at=_aware(times[1], "send_at", optional=True),
        expires_at=_aware(times[2], "expires_at", optional=True),
        sim=sim, parts_count=parts if isinstance(parts, int) else 0,
        category=category if isinstance(category, str) else "notice")


def load_waiting(ids: Iterable[int] | None = None
                 ) -> tuple[list[WaitingRow], list[tuple[int, str]]]:
    """Queued messages (all, or those of `ids`): the readable rows, and (id, why) for rows that
    cannot be scheduled (a time stored in a form that does not read back, a bad type)."""
    # Raw values (no conversion by peewee while iterating): see _row.
    base = Message.select(*_WAITING_FIELDS).where(
        Message.state == M.QUEUED.value)
    if ids is None:
        queries = [base]
    else:
        wanted = list(ids)
        queries = [base.where(Message.id.in_(wanted[i:i + CHUNK]))
                   for i in range(0, len(wanted), CHUNK)]
    rows: list[WaitingRow] = []
    bad: list[tuple[int, str]] = []
    db = Message._meta.database
    for query in queries:
        for raw in db.execute(query):  # the cursor's rows: nothing converted yet
            try:
                rows.append(_row(raw))
            except Exception as exc:  # noqa: BLE001 - any unreadable value isolates the row
                bad.append((raw[0], str(exc)))
    return rows, bad


_TIME_FIELDS = (Message.send_at, Message.expires_at, Message.queued_at, Message.sent_at,
                Message.final_at, Message.created_at, Message.updated_at)


def _make_readable(msg_id: int, now: datetime) -> None:
    """Times that do not read back are replaced (NULL, or now where one is required), so the
    failed message can still be shown; the reason recorded with it quotes what was there."""
    db = Message._meta.database
    row = db.execute(Message.select(*_TIME_FIELDS).where(Message.id == msg_id)).fetchone()
    if row is None:
        return
    fixes = {}
    for field, value in zip(_TIME_FIELDS, row, strict=True):
        try:
            field.python_value(value)
        except ValueError:
            fixes[field] = None if field.null else now
    if fixes:
        Message.update(fixes).where(Message.id == msg_id).execute()


def find_unreadable(state: str) -> list[tuple[int, str]]:
    """(id, why) of messages in `state` with a time that does not read back (start-up checks
    the rows recovery is about to load, so one bad row cannot stop the appliance starting)."""
    db = Message._meta.database
    bad = []
    query = Message.select(Message.id, *_TIME_FIELDS).where(Message.state == state)
    for msg_id, *values in db.execute(query):
        for field, value in zip(_TIME_FIELDS, values, strict=True):
            try:
                field.python_value(value)
            except ValueError as exc:
                bad.append((msg_id, str(exc)))
                break
    return bad


def quarantine(items: Iterable[tuple[int, str]], now: datetime | None = None) -> list[int]:
    """Fail messages the dispatcher cannot schedule, encode or read back, with the reason.

    Plain UPDATEs by id: the row may not load through the model (that is why it is here)."""
    now = now or utcnow()
    done: list[int] = []
    for msg_id, why in items:
        reason = f"cannot be sent: {why}"[:500]
        _make_readable(msg_id, now)
        state = Message.select(Message.state).where(Message.id == msg_id).scalar()
        if state is None or state in (M.SENT.value, M.DELIVERED.value, M.FAILED.value,
                                      M.EXPIRED.value, M.CANCELLED.value, M.AMBIGUOUS.value):
            continue
        # A part in flight may have left: it is ambiguous, and so is the message.
        in_flight = Part.update(state=P.AMBIGUOUS.value, error=reason, sent_at=now).where(
            (Part.message == msg_id) & (Part.state == P.SENDING.value)).execute()
        new = M.AMBIGUOUS.value if in_flight else M.FAILED.value
        Message.update(state=new, error=reason, updated_at=now, final_at=now).where(
            Message.id == msg_id).execute()
        Part.update(state=P.FAILED.value, error=reason).where(
            (Part.message == msg_id) & (Part.state == P.PENDING.value)).execute()
        MessageEvent.insert(message=msg_id, at=now, old_state=state, new_state=new,
                            detail=reason).execute()
        if new == M.FAILED.value:
            ledger.refund_message(msg_id, now, reason)
        done.append(msg_id)
    return done


def state_of(msg_id: int) -> tuple[str, str | None] | None:
    """(state, sim) of a message, or None if there is none."""
    row = Message.select(Message.state, Message.sim).where(Message.id == msg_id).tuples().first()
    return (row[0], row[1]) if row else None


def requeue_if_claimed(msg_id: int, iccid: str, reason: str, *, resend_ambiguous: bool,
                       count_attempt: bool = True) -> str | None:
    """Put a message back if it is still `sending` on `iccid` (what requeue_message returns),
    else None: someone (a release, a cancel) settled it already."""
    now = state_of(msg_id)
    if now is None or now != (M.SENDING.value, iccid):
        return None
    return outbox.requeue_message(msg_id, reason, resend_ambiguous=resend_ambiguous,
                                  count_attempt=count_attempt)


def cancel(msg_id: int, *, was_claimed: bool, reason: str = "cancelled") -> None:
    """Cancel a message, recording `reason`; `was_claimed`: it was taken out of its SIM's queue
    unsent, so a `sending` row goes back to the queue first (one commit). A part that left on
    an earlier claim makes cancel_message refuse (InvalidTransition), and the caller's write
    rolls back."""
    current = state_of(msg_id)
    if current is not None and current[0] == M.SENDING.value and was_claimed:
        outbox.requeue_message(msg_id, "cancelled before sending")
    outbox.cancel_message(msg_id, reason)


def claimed_message(msg_id: int, iccid: str) -> tuple[Message, list[Part]] | None:
    """A message claimed by `iccid` with its stored parts (in order), or None if it is no
    longer `sending` on that SIM (cancelled, settled or handed back meanwhile)."""
    msg = Message.get_or_none(Message.id == msg_id)
    if msg is None or msg.state != M.SENDING.value or msg.sim != iccid:
        return None
    return msg, parts_of(msg_id)


def parts_of(msg_id: int) -> list[Part]:
    return list(Part.select().where(Part.message == msg_id).order_by(Part.index))


def savepoint():  # noqa: ANN201 - peewee's context manager
    """A nested transaction: a failure inside it undoes only its own writes."""
    return Message._meta.database.atomic()


def fail_message(msg_id: int, reason: str, iccid: str | None = None, *,
                 now: datetime | None = None) -> None:
    """The message failed for good: it and its unsent parts, with the reason; what its parts
    were charged is refunded (store.ledger)."""
    now = now or utcnow()
    outbox.transition_message(msg_id, M.FAILED, reason, iccid, error=reason, now=now)
    Part.update(state=P.FAILED.value, error=reason).where(
        (Part.message == msg_id) & (Part.state == P.PENDING.value)).execute()
    ledger.refund_message(msg_id, now, reason)


def release_held(ids: list[int], detail: str, now: datetime | None = None) -> list[int]:
    """held -> queued for those of `ids` still held (an approval granted); the ids moved."""
    return outbox.move_many(ids, [M.HELD], M.QUEUED, detail, now=now or utcnow())


def hold_ambiguous(msg_id: int, iccid: str, reason: str) -> None:
    """Every part has been tried and at least one got no answer: the message is `ambiguous`
    (its parts keep their own states: sent ones have their references)."""
    outbox.transition_message(msg_id, M.AMBIGUOUS, reason, iccid, error=reason)


def mark_part_ambiguous(part_id: int, reason: str) -> None:
    outbox.transition_part(part_id, P.AMBIGUOUS, error=reason)


def settle_late_answer(part_id: int, message_reference: int,
                       now: datetime | None = None) -> tuple[int, str] | None:
    """A +CMGS answer arrived after its part was recorded ambiguous: the part left, with this
    reference. The message becomes `sent` when no part is left ambiguous or pending.
    Returns (message id, its new state) when the message moved, else None."""
    now = now or datetime.now(UTC)
    part = Part.get_or_none(Part.id == part_id)
    if part is None or part.state != P.AMBIGUOUS.value:
        return None  # settled meanwhile (a status report), or resent
    outbox.transition_part(part_id, P.SENT, message_reference=message_reference, now=now)
    ledger.charge_part(part_id, now)  # it left after all: charged as any part sent
    msg = Message.get_by_id(part.message_id)
    if msg.state != M.AMBIGUOUS.value:
        return None  # still sending its other parts: their end decides
    # A part failed: one that never left, its message settled without it (unpin).
    left = Part.select().where((Part.message == msg.id) & (Part.state.in_(
        [P.AMBIGUOUS.value, P.PENDING.value, P.SENDING.value, P.FAILED.value]))).count()
    if left:
        return None
    outbox.transition_message(msg.id, M.SENT, "the modem's late +CMGS answer settled it",
                              msg.sim, now=now, error="")
    return msg.id, M.SENT.value


def unpin(msg_id: int, iccid: str, reason: str, now: datetime | None = None, *,
          resend_ambiguous: bool = False) -> str | None:
    """A queued message pinned to `iccid` whose SIM is gone for good (or cannot send): what
    becomes of it. None if it is no longer queued on that SIM; else its new state:

    - "queued": nothing of it left through that SIM (a reply pinned to the SIM written to),
      or the "resend" setting chooses delivery over duplicates: it goes again, whole, through
      any SIM (its old parts forgotten; the event names what had left, and where);
    - "ambiguous": a part may have left (its +CMGS went unanswered, or its port vanished
      while it was in flight): never sent again; the parts that never left fail with it;
    - "failed": parts left, provably, and the rest cannot follow through another SIM (a
      handset joins the parts of a message by sender): sending it again would duplicate what
      left, so it fails with the reason, naming the parts that left."""
    now = now or utcnow()
    msg = Message.get_or_none(Message.id == msg_id)
    if msg is None or msg.state != M.QUEUED.value or msg.sim != iccid:
        return None
    parts = list(Part.select(Part.id, Part.index, Part.state).where(Part.message == msg_id)
                 .order_by(Part.index))
    left = [p.index for p in parts if p.state in (P.SENT.value, P.DELIVERED.value)]
    maybe = [p.index for p in parts if p.state == P.AMBIGUOUS.value]
    if (left or maybe) and not resend_ambiguous:
        rest = [p.index for p in parts if p.state == P.PENDING.value]
        what = "; ".join(f"part(s) {', '.join(map(str, idx))} {how}" for idx, how in (
            (left, f"left through SIM {iccid}"), (maybe, "may have left (unanswered)"),
            (rest, "were never sent")) if idx)
        detail = f"{reason}; {what}: never sent again through another SIM"[:500]
        if maybe:
            outbox.transition_message(msg_id, M.AMBIGUOUS, detail, iccid, error=detail, now=now)
            Part.update(state=P.FAILED.value, error=reason).where(
                (Part.message == msg_id) & (Part.state == P.PENDING.value)).execute()
            return M.AMBIGUOUS.value
        fail_message(msg_id, detail, iccid, now=now)
        return M.FAILED.value
    Part.delete().where(Part.message == msg_id).execute()
    Message.update(sim=None, updated_at=now).where(Message.id == msg_id).execute()
    had_left = ", ".join(map(str, left + maybe)) or "none"
    detail = (f"{reason}; part(s) {had_left} had left through SIM "
              f"{iccid}: the whole message goes again through another SIM")
    MessageEvent.insert(message=msg_id, at=now, old_state=M.QUEUED.value,
                        new_state=M.QUEUED.value, detail=detail[:500], sim=iccid).execute()
    return M.QUEUED.value


def requeue_unsent(ids: Iterable[int], reason: str, *, resend_ambiguous: bool) -> None:
    """At stop: messages claimed but not started go back to the queue."""
    for msg_id in ids:
        current = state_of(msg_id)
        if current is not None and current[0] == M.SENDING.value:
            outbox.requeue_message(msg_id, reason, resend_ambiguous=resend_ambiguous)


def hand_back(claims: Iterable[tuple[int, str]], reason: str, *,
              resend_ambiguous: bool) -> None:
    """Requeue messages claimed for a SIM that went away as the claim committed, without
    counting the attempt (the SIM never tried), unless its release got there first."""
    for msg_id, iccid in claims:
        requeue_if_claimed(msg_id, iccid, reason, resend_ambiguous=resend_ambiguous,
                           count_attempt=False)


__all__ = ["WaitingRow", "cancel", "claimed_message", "fail_message", "find_unreadable",
           "hand_back",
           "hold_ambiguous", "load_waiting", "mark_part_ambiguous", "parts_of", "quarantine",
           "release_held",
           "requeue_if_claimed", "requeue_unsent", "savepoint", "settle_late_answer", "state_of",
           "unpin"]
