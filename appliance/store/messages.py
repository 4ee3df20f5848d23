"""The outbox's persistence operations: claim, move through states, recover (acceptance, the
bulk insert, lives in `acceptance` and is re-exported here).

Knows: the Message/Part/MessageEvent tables, the transition tables, and the durability rules of
DESIGN.md "The outbound message" (all parts through one SIM; an in-flight +CMGS at a crash is
ambiguous and recorded, not silently resent).
Must not know: which SIM should send what (the balancer passes candidates or a filter), modems,
PDUs' content, or HTTP.

Every function is synchronous and meant to run inside `Store.write` (or `Store.read` for
`get_message`): the caller supplies the transaction, and on SQLite the single writer thread is
what makes a claim atomic. On PostgreSQL several processes may claim at once, so the claim
query adds FOR UPDATE SKIP LOCKED.

Pinning: once a part of a message has left through a SIM, the message stays tied to that SIM
(`Message.sim` is kept even when it goes back to `queued`), and only that SIM may claim it.
"Left" includes "may have left": a part whose +CMGS went unanswered (`ambiguous`, and with
dispatch.ambiguous = "resend" back to `pending` to go again) carries `sent_at`, the time it
may have reached the network. A long message with such a part stays pinned with its parts: the
resend and the parts still to send go through the same SIM with the same concatenation
reference, since part 1 may already be on the handset. A single-part message with a resent
part is unpinned (nothing to reassemble: at worst the recipient gets it twice, from either
SIM, which is what "resend" accepts). A message with nothing left is unpinned when it goes
back, and its parts (whose concatenation reference belonged to the old SIM) are dropped, to be
rebuilt by whichever SIM claims it next. One with every part tried and one ambiguous is settled
`ambiguous` when its work stops, never pinned (nothing is left to send). A message pinned to a
SIM gone longer than the grace: queue.unpin.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import peewee

from appliance.store import ledger
from appliance.store.acceptance import (
    Acceptance,
    IdempotencyConflict,
    NewMessage,
    accept_many,
    accept_messages,
    accept_new,
    with_changes,
)
from appliance.store.db import utcnow
from appliance.store.models import Message, MessageEvent, MessageOption, Part, Sim
from appliance.store.states import (
    TERMINAL_MESSAGE_STATES,
    InvalidTransition,
    MessageState,
    PartState,
    check_part_transition,
    check_transition,
)

M = MessageState
P = PartState


class MessageNotFound(LookupError):
    def __init__(self, msg_id: int):
        super().__init__(f"no message with id {msg_id}")
        self.msg_id = msg_id


class ConcurrentChange(RuntimeError):
    """The row changed between read and write (only possible with several writer processes)."""


@dataclass(frozen=True)
class NewPart:
    pdu: str
    tpdu_length: int
    concat_ref: int | None = None


# -- reading ---------------------------------------------------------------------------------


def get_message(msg_id: int, *, owner: tuple[str, str] | None = None) -> dict[str, Any]:
    """Everything the API shows about one message, parts and history included.

    `owner` (submitter_kind, submitter_id): only a message that submitter made; another's is
    MessageNotFound, from the same single query as a message that does not exist."""
    where = Message.id == msg_id
    if owner is not None:
        where &= (Message.submitter_kind == owner[0]) & (Message.submitter_id == owner[1])
    msg = Message.get_or_none(where)
    if msg is None:
        raise MessageNotFound(msg_id)
    parts = Part.select().where(Part.message == msg_id).order_by(Part.index)
    events = MessageEvent.select().where(MessageEvent.message == msg_id).order_by(MessageEvent.id)
    return {
        "id": msg.id,
        "recipient": msg.recipient,
        "text": msg.text,
        "state": msg.state,
        "priority": msg.priority,
        "category": msg.category,
        "campaign_id": msg.campaign_id,
        "submitter_kind": msg.submitter_kind,
        "submitter_id": msg.submitter_id,
        "client_ref": msg.client_ref,
        "sim": msg.sim,
        "parts_count": msg.parts_count,
        "attempts": msg.attempts,
        "error": msg.error,
        "send_at": msg.send_at,
        "expires_at": msg.expires_at,
        "created_at": msg.created_at,
        "updated_at": msg.updated_at,
        "queued_at": msg.queued_at,
        "sent_at": msg.sent_at,
        "final_at": msg.final_at,
        "door": msg.door,
        "address": msg.address,
        "api_key_id": msg.api_key_id,
        "user_id": msg.user_id,
        "department_id": msg.department_id,
        "parts": [
            {
                "id": p.id,
                "index": p.index,
                "count": p.count,
                "state": p.state,
                "sim": p.sim,
                "message_reference": p.message_reference,
                "attempts": p.attempts,
                "error": p.error,
                "sent_at": p.sent_at,
                "report_status": p.report_status,
                "report_at": p.report_at,
            }
            for p in parts
        ],
        "events": [
            {"at": e.at, "old_state": e.old_state, "new_state": e.new_state,
             "detail": e.detail, "sim": e.sim}
            for e in events
        ],
    }


def list_messages(*, owner: tuple[str, str] | None = None, since: int | None = None,
                  before: int | None = None, limit: int = 100,
                  states: list[str] | None = None, recipient: str | None = None,
                  sim: str | None = None, client_ref: str | None = None,
                  created_from: datetime | None = None, created_to: datetime | None = None,
                  door: str | None = None, department_id: int | None = None,
                  ascending: bool = False) -> list[dict[str, Any]]:
    """Messages for a listing, without their parts and history: `owner` (submitter_kind,
    submitter_id) sees only its own; ids after `since` / before `before`; the filters are
    ANDed (`door`, `department_id`: who submitted it, migration 12). Newest first unless
    `ascending`."""
    m = Message
    where = []
    if owner is not None:
        where += [m.submitter_kind == owner[0], m.submitter_id == owner[1]]
    if since is not None:
        where.append(m.id > since)
    if before is not None:
        where.append(m.id < before)
    if states:
        where.append(m.state.in_(states))
    if recipient is not None:
        where.append(m.recipient == recipient)
    if sim is not None:
        where.append(m.sim == sim)
    if client_ref is not None:
        where.append(m.client_ref == client_ref)
    if created_from is not None:
        where.append(m.created_at >= created_from)
    if created_to is not None:
        where.append(m.created_at <= created_to)
    if door is not None:
        where.append(m.door == door)
    if department_id is not None:
        where.append(m.department_id == department_id)
    query = (m.select(m.id, m.recipient, m.text, m.state, m.category, m.priority,
                      m.client_ref, m.sim, m.parts_count, m.attempts, m.error, m.send_at,
                      m.expires_at, m.created_at, m.updated_at, m.sent_at, m.final_at,
                      m.door, m.address, m.api_key_id, m.user_id, m.department_id)
             .order_by(m.id.asc() if ascending else m.id.desc()).limit(limit))
    if where:
        query = query.where(*where)
    return list(query.dicts())


def send_options(msg_id: int) -> tuple[bool, int | None] | None:
    """(force_ucs2, message_class) when the message asked for either, else None. Plain SQL:
    asked once per message sent, where peewee's query building cost more than the read."""
    db = MessageOption._meta.database
    found = db.execute_sql('SELECT "force_ucs2", "message_class" FROM "message_option" '
                           f'WHERE "message_id" = {db.param}', (msg_id,)).fetchone()
    return None if found is None else (bool(found[0]), found[1])


# -- state changes ---------------------------------------------------------------------------


def _load(msg_id: int) -> Message:
    msg = Message.get_or_none(Message.id == msg_id)
    if msg is None:
        raise MessageNotFound(msg_id)
    return msg


def _move(
    msg: Message,
    new: MessageState,
    detail: str = "",
    sim: str | None = None,
    *,
    now: datetime,
    error: str | None = None,
    fields: dict[str, Any] | None = None,
) -> Message:
    """Check the table, update the row (only if still in the state we read), record the event.
    `sim` is the SIM named in the event; `fields` are further columns to set."""
    old = msg.state
    check_transition(old, new)
    fields = fields or {}
    changes: dict[str, Any] = {"state": new.value, "updated_at": now, **fields}
    if new is M.QUEUED:
        changes["queued_at"] = now
    elif new is M.SENT:
        changes["sent_at"] = now
    if new in TERMINAL_MESSAGE_STATES:
        changes["final_at"] = now
    if error is not None:
        changes["error"] = error
    updated = (
        Message.update(**changes).where((Message.id == msg.id) & (Message.state == old)).execute()
    )
    if updated != 1:
        raise ConcurrentChange(f"message {msg.id} left state {old} while being changed")
    MessageEvent.create(message=msg.id, at=now, old_state=old, new_state=new.value,
                        detail=detail, sim=sim or msg.sim)
    for name, value in changes.items():
        setattr(msg, name, value)
    return msg


def transition_message(
    msg_id: int,
    new_state: MessageState | str,
    detail: str = "",
    sim: str | None = None,
    *,
    error: str | None = None,
    now: datetime | None = None,
) -> Message:
    """Move a message to `new_state` (InvalidTransition if the table forbids it)."""
    return _move(_load(msg_id), MessageState(new_state), detail, sim, now=now or utcnow(),
                 error=error)


MOVE_CHUNK = 500  # ids per IN (...) clause: SQLite's old bound on host parameters is 999


def move_many(ids: Iterable[int], old_states: Iterable[MessageState | str],
              new: MessageState | str, detail: str = "", *, now: datetime,
              error: str | None = None, unpinned_only: bool = False) -> list[int]:
    """`_move` for many messages at once: those of `ids` now in one of `old_states` go to
    `new` (each old -> new checked against the table first), with one event each (unsent parts
    failed when `new` is final); the ids moved. `unpinned_only`: leave out queued messages
    pinned to a SIM (a part of them has left: they finish).

    Set-wise, in plain SQL whose text is cached per shape: a campaign of 100,000 is paused or
    released in about a second, where a transition per row (or peewee building each
    500-id statement) took many seconds of the one writer's time."""
    new = MessageState(new)
    olds = [MessageState(s).value for s in old_states]
    for old in olds:
        check_transition(old, new)
    db = Message._meta.database
    db = getattr(db, "obj", None) or db
    stamp = Message.updated_at.db_value(now)
    sets: list[tuple[str, Any]] = [("state", new.value), ("updated_at", stamp)]
    if new is M.QUEUED:
        sets.append(("queued_at", stamp))
    if new in TERMINAL_MESSAGE_STATES:
        sets.append(("final_at", stamp))
    if error is not None:
        sets.append(("error", error))
    final = new in TERMINAL_MESSAGE_STATES
    wanted = list(ids)
    moved: list[int] = []
    for i in range(0, len(wanted), MOVE_CHUNK):
        part = wanted[i:i + MOVE_CHUNK]
        sql = _move_sql(db.param, db.quote, len(part), len(olds), unpinned_only,
                        tuple(name for name, _ in sets), final)
        chunk = [mid for (mid,) in db.execute_sql(sql[0], [*part, *olds]).fetchall()]
        if not chunk:
            continue
        if len(chunk) != len(part):
            sql = _move_sql(db.param, db.quote, len(chunk), len(olds), unpinned_only,
                            tuple(name for name, _ in sets), final)
        db.execute_sql(sql[1], [stamp, new.value, detail, *chunk])
        db.execute_sql(sql[2], [*(value for _, value in sets), *chunk])
        if final:
            db.execute_sql(sql[3], [P.FAILED.value, detail, *chunk, P.PENDING.value])
        moved += chunk
    return moved


@functools.lru_cache(maxsize=64)
def _move_sql(param: str, quotes: str, n: int, olds: int, unpinned_only: bool,
              sets: tuple[str, ...], final: bool) -> tuple[str, str, str, str]:
    """(select the movable ids, insert their events, update them, fail their pending parts)
    for `n` ids."""
    def q(name: str) -> str:
        return name.join(quotes)

    ids = ", ".join([param] * n)
    states = ", ".join([param] * olds)
    pinned = f" AND {q('sim')} IS NULL" if unpinned_only else ""
    select = (f"SELECT {q('id')} FROM {q('message')} WHERE {q('id')} IN ({ids}) "
              f"AND {q('state')} IN ({states}){pinned}")
    events = (f"INSERT INTO {q('message_event')} ({q('message_id')}, {q('at')}, "
              f"{q('old_state')}, {q('new_state')}, {q('detail')}, {q('sim')}) "
              f"SELECT {q('id')}, {param}, {q('state')}, {param}, {param}, {q('sim')} "
              f"FROM {q('message')} WHERE {q('id')} IN ({ids})")
    assignments = ", ".join(f"{q(name)} = {param}" for name in sets)
    update = f"UPDATE {q('message')} SET {assignments} WHERE {q('id')} IN ({ids})"
    parts = (f"UPDATE {q('part')} SET {q('state')} = {param}, {q('error')} = {param} "
             f"WHERE {q('message_id')} IN ({ids}) AND {q('state')} = {param}") if final else ""
    return select, events, update, parts


def _fail_pending_parts(msg_id: int, reason: str) -> None:
    Part.update(state=P.FAILED.value, error=reason).where(
        (Part.message == msg_id) & (Part.state == P.PENDING.value)
    ).execute()


def _some_part_left(msg_id: int) -> bool:
    """Whether a part of the message has left, or may have (see "Pinning" above)."""
    return Part.select().where(
        (Part.message == msg_id)
        & (Part.state.in_([P.SENT.value, P.DELIVERED.value, P.AMBIGUOUS.value])
           | Part.sent_at.is_null(False))
    ).exists()


def cancel_message(msg_id: int, detail: str = "cancelled", now: datetime | None = None) -> Message:
    """Cancel a message not yet sending (InvalidTransition once it is sending or beyond, and
    for a queued message some of whose parts left: cutting it short would leave the recipient
    half a message)."""
    msg = _load(msg_id)
    if _some_part_left(msg_id):
        raise InvalidTransition(msg.state, M.CANCELLED.value)
    msg = _move(msg, M.CANCELLED, detail, now=now or utcnow())
    _fail_pending_parts(msg_id, detail)
    return msg


def expire_due(now: datetime) -> list[int]:
    """Expire held/queued messages whose expires_at has passed; return their ids."""
    due = list(
        Message.select().where(
            Message.state.in_([M.HELD.value, M.QUEUED.value])
            & Message.expires_at.is_null(False)
            & (Message.expires_at <= now)
        )
    )
    for msg in due:
        _move(msg, M.EXPIRED, "expired before it could be sent", now=now)
        _fail_pending_parts(msg.id, "expired")
        # A long message whose first parts left before its SIM went away: those come back.
        ledger.refund_message(msg.id, now, "expired")
    return [m.id for m in due]


# -- claiming --------------------------------------------------------------------------------


def _is_postgresql(model: type[peewee.Model]) -> bool:
    db = model._meta.database
    return isinstance(getattr(db, "obj", None) or db, peewee.PostgresqlDatabase)


def claim_messages(
    sim_iccid: str,
    limit: int,
    now: datetime,
    *,
    candidate_ids: Iterable[int] | None = None,
    where: peewee.Expression | None = None,
) -> list[Message]:
    """Move up to `limit` ready messages to `sending` for one SIM; return them, best first.

    Ready: queued, send_at reached, not expired, and not pinned to another SIM. The balancer
    narrows the choice with `candidate_ids` and/or a peewee `where` expression on Message;
    order is priority (higher first), then age.
    """
    if limit <= 0:
        return []
    query = (
        Message.select(Message.id)
        .where(
            (Message.state == M.QUEUED.value)
            & (Message.send_at.is_null() | (Message.send_at <= now))
            & (Message.expires_at.is_null() | (Message.expires_at > now))
            & (Message.sim.is_null() | (Message.sim == sim_iccid))
        )
        .order_by(Message.priority.desc(), Message.id)
        .limit(limit)
    )
    if candidate_ids is not None:
        ids = list(candidate_ids)
        if not ids:
            return []
        query = query.where(Message.id.in_(ids))
    if where is not None:
        query = query.where(where)
    if _is_postgresql(Message):
        # Other gateway processes claim from the same table: skip rows they hold.
        query = query.for_update(skip_locked=True)
    chosen = [row.id for row in query]
    if not chosen:
        return []
    check_transition(M.QUEUED, M.SENDING)
    Message.update(
        state=M.SENDING.value, sim=sim_iccid, attempts=Message.attempts + 1, updated_at=now
    ).where(Message.id.in_(chosen) & (Message.state == M.QUEUED.value)).execute()
    MessageEvent.insert_many(
        [{"message": i, "at": now, "old_state": M.QUEUED.value, "new_state": M.SENDING.value,
          "detail": "claimed", "sim": sim_iccid} for i in chosen]
    ).execute()
    claimed = {m.id: m for m in Message.select().where(Message.id.in_(chosen))}
    return [claimed[i] for i in chosen]


def _interrupt(msg: Message, reason: str, resend_ambiguous: bool, now: datetime) -> str:
    """A sending message whose work stopped (restart, SIM gone, transient error): settle it.

    Returns "ambiguous", "pinned" (back to queue, tied to its SIM) or "requeued".
    """
    parts = list(Part.select().where(Part.message == msg.id))
    in_flight = [p for p in parts if p.state == P.SENDING.value]
    for part in in_flight:
        # Its +CMGS was written and never answered: the network may have taken it (sent_at
        # says when; it also keeps a resent part's message pinned, see the module docstring).
        _move_part(part, P.AMBIGUOUS, error=reason, now=now)
        if resend_ambiguous:
            _move_part(part, P.PENDING, error=reason, now=now)
    if in_flight and not resend_ambiguous:
        if not any(p.state == P.PENDING.value for p in parts):
            _move(msg, M.AMBIGUOUS, f"a part was in flight: {reason}", now=now, error=reason)
            return "ambiguous"
        # A long message with parts still to send: they follow through the same SIM (if the
        # in-flight part left, the handset reassembles; if not, a fragment is no worse than
        # nothing). The message ends `ambiguous` once they have gone (the sender sees the part).
        _move(msg, M.QUEUED, f"a part was in flight: {reason}; the rest follows through the "
                             f"same SIM", now=now, error=reason)
        return "pinned"
    if (not resend_ambiguous and parts and any(p.state == P.AMBIGUOUS.value for p in parts)
            and not any(p.state == P.PENDING.value for p in parts)):
        # Every part was tried and one may have left (recorded ambiguous before the work
        # stopped): nothing is left to send, so nothing to pin it for. Pinned, it would wait
        # for its SIM and, that SIM gone, go again whole through another (a duplicate).
        _move(msg, M.AMBIGUOUS, f"a part may have left: {reason}", now=now, error=reason)
        return "ambiguous"
    sent = any(p.state in (P.SENT.value, P.DELIVERED.value) for p in parts)
    maybe_sent = any(p.sent_at is not None for p in parts)
    if sent or (maybe_sent and len(parts) > 1):
        _move(msg, M.QUEUED, f"{reason}; the rest must follow through the same SIM", now=now)
        return "pinned"
    Part.delete().where(Part.message == msg.id).execute()
    _move(msg, M.QUEUED, reason, now=now, fields={"sim": None})
    return "requeued"


def requeue_message(
    msg_id: int, reason: str, *, resend_ambiguous: bool = False, count_attempt: bool = True,
    now: datetime | None = None,
) -> str:
    """Put a sending message back after a failure that proves nothing more left (a transient
    +CMS ERROR, the modem gone before the write). Returns what happened (see _interrupt).

    `count_attempt=False` gives back the attempt its claim counted: the SIM never got to try
    (its modem was not ready, or it went away as the claim committed), so the message's retry
    budget must not pay for it."""
    msg = _load(msg_id)
    check_transition(msg.state, M.QUEUED)
    if not count_attempt and msg.attempts > 0:
        Message.update(attempts=Message.attempts - 1).where(Message.id == msg_id).execute()
        msg.attempts -= 1
    return _interrupt(msg, reason, resend_ambiguous, now or utcnow())


def _settle_all(messages: Iterable[Message], reason: str, resend_ambiguous: bool,
                now: datetime) -> dict[str, int]:
    """_interrupt each message; how many went each way (every key present, zeros included)."""
    counts: Counter[str] = Counter()
    for msg in messages:
        counts[_interrupt(msg, reason, resend_ambiguous, now)] += 1
    return {key: counts[key] for key in ("requeued", "pinned", "ambiguous")}


def release_claims_for_sim(
    iccid: str, reason: str, *, resend_ambiguous: bool = False, now: datetime | None = None
) -> dict[str, int]:
    """Hand a lost SIM's claimed, unfinished messages back to the queue; return counts."""
    claimed = Message.select().where((Message.state == M.SENDING.value) & (Message.sim == iccid))
    return _settle_all(claimed, reason, resend_ambiguous, now or utcnow())


def recover_after_crash(
    *, resend_ambiguous: bool = False, now: datetime | None = None
) -> dict[str, int]:
    """At start-up, before any modem sends: settle every message left `sending`.

    Parts all still pending -> queued (unpinned); some parts sent, none in flight -> queued,
    pinned to their SIM; a part in flight -> that part and the message `ambiguous` (with
    `resend_ambiguous`, the part goes back to pending and the message to the queue instead,
    pinned if it has several parts).
    """
    claimed = Message.select().where(Message.state == M.SENDING.value)
    return _settle_all(claimed, "interrupted by a restart", resend_ambiguous, now or utcnow())


# -- parts -----------------------------------------------------------------------------------


def next_concat_ref(iccid: str) -> int:
    """The next 8-bit concatenation reference for a SIM (1..255, rotating)."""
    sim = Sim.get_by_id(iccid)
    ref = sim.concat_ref % 255 + 1
    Sim.update(concat_ref=ref).where(Sim.iccid == iccid).execute()
    return ref


def add_parts(msg_id: int, sim_iccid: str, parts: list[NewPart], *,
              claimed: Message | None = None) -> list[int]:
    """Store the encoded parts of a claimed message (once per claim; see module docstring).
    `claimed`: the message's row as just read in this transaction (saves reading it again)."""
    msg = claimed if claimed is not None and claimed.id == msg_id else _load(msg_id)
    if msg.state != M.SENDING.value or msg.sim != sim_iccid:
        raise ValueError(f"message {msg_id} is not claimed by SIM {sim_iccid}")
    ids = [
        Part.insert(message=msg_id, index=n, count=len(parts), concat_ref=p.concat_ref,
                    pdu=p.pdu, tpdu_length=p.tpdu_length, sim=sim_iccid).execute()
        for n, p in enumerate(parts, start=1)
    ]
    Message.update(parts_count=len(parts)).where(Message.id == msg_id).execute()
    return ids


def _move_part(part: Part, new: PartState, *, now: datetime, error: str | None = None,
               **fields: Any) -> Part:
    check_part_transition(part.state, new)
    changes: dict[str, Any] = {"state": new.value, **fields}
    if error is not None:
        changes["error"] = error
    if new is P.SENDING:
        changes["attempts"] = part.attempts + 1
    elif new in (P.SENT, P.AMBIGUOUS):
        # For an ambiguous part: when it may have reached the network (status-report matching
        # and pinning read it; see "Pinning" in the module docstring).
        changes["sent_at"] = now
    updated = Part.update(**changes).where((Part.id == part.id) & (Part.state == part.state))
    if updated.execute() != 1:
        raise ConcurrentChange(f"part {part.id} left state {part.state} while being changed")
    for name, value in changes.items():
        setattr(part, name, value)
    return part


def transition_part(
    part_id: int, new_state: PartState | str, *, error: str | None = None,
    message_reference: int | None = None, now: datetime | None = None,
) -> Part:
    """Move one part (InvalidTransition if the part table forbids it). Mark it `sending`
    before writing the PDU: that committed mark is what makes a crash mid-send ambiguous."""
    part = Part.get_or_none(Part.id == part_id)
    if part is None:
        raise LookupError(f"no part with id {part_id}")
    fields = {} if message_reference is None else {"message_reference": message_reference}
    return _move_part(part, PartState(new_state), now=now or utcnow(), error=error, **fields)


__all__ = [
    "Acceptance",
    "ConcurrentChange",
    "IdempotencyConflict",
    "MessageNotFound",
    "NewMessage",
    "NewPart",
    "accept_many",
    "accept_messages",
    "accept_new",
    "add_parts",
    "cancel_message",
    "claim_messages",
    "expire_due",
    "get_message",
    "move_many",
    "next_concat_ref",
    "recover_after_crash",
    "release_claims_for_sim",
    "requeue_message",
    "transition_message",
    "transition_part",
    "with_changes",
]
