"""The outbox's persistence operations: accept, claim, move through states, recover.

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
A message with no part sent is unpinned when it goes back, and its parts (whose concatenation
reference belonged to the old SIM) are dropped, to be rebuilt by whichever SIM claims it next.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import peewee

from appliance.store.db import utcnow
from appliance.store.models import Message, MessageEvent, Part, Sim
from appliance.store.states import (
    TERMINAL_MESSAGE_STATES,
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


class IdempotencyConflict(ValueError):
    """A client_ref reused for a different message (not a retry of the same request)."""


class ConcurrentChange(RuntimeError):
    """The row changed between read and write (only possible with several writer processes)."""


@dataclass(frozen=True)
class NewMessage:
    """One message to accept: one recipient (a request to N recipients is N of these)."""

    recipient: str
    text: str
    priority: int = 0
    category: str = "notice"
    campaign_id: int | None = None
    submitter_kind: str = "system"  # api_key / user / system
    submitter_id: str = ""
    client_ref: str | None = None
    send_at: datetime | None = None
    expires_at: datetime | None = None
    hold: bool = False  # start `held` (approval, quiet hours...): a policy layer releases it
    parts_count: int = 0  # the codec's count, when the caller knows it


@dataclass(frozen=True)
class NewPart:
    pdu: str
    tpdu_length: int
    concat_ref: int | None = None


# -- acceptance ------------------------------------------------------------------------------


def accept_messages(requests: list[NewMessage], now: datetime | None = None) -> list[int]:
    """Store the messages; return their ids in order.

    Idempotent on (submitter_kind, submitter_id, client_ref): the k-th message carrying a given
    client_ref in one call is matched with the k-th stored under it, so a retried request
    returns the same ids and stores nothing new.

    The hot path of acceptance (the writer's group commit calls it for every API request), so
    it works in whole batches: one query per chunk of client_refs to find earlier copies, one
    multi-row INSERT ... RETURNING per chunk of new messages, one multi-row INSERT per chunk of
    events, no model instances. Nothing is written when a request is refused (empty recipient,
    IdempotencyConflict); the first refused request, in request order, names the error.
    """
    now_db = _AT.db_value(now or utcnow())  # also refuses a naive datetime
    kind_seq: list[tuple[str, str, str, int] | None] = []
    seen: Counter[tuple[str, str, str]] = Counter()
    for req in requests:
        if req.client_ref is None:
            kind_seq.append(None)
        else:
            key = (req.submitter_kind, req.submitter_id, req.client_ref)
            kind_seq.append((*key, seen[key]))
            seen[key] += 1
    stored = _stored_by_client_ref(seen) if seen else {}

    ids: list[int | None] = []
    new_rows: list[tuple[Any, ...]] = []
    new_at: list[int] = []  # index in `requests` of each new row
    new_states: list[str] = []
    queued, held = M.QUEUED.value, M.HELD.value
    send_at_value, expires_at_value = Message.send_at.db_value, Message.expires_at.db_value
    for n, (req, ref) in enumerate(zip(requests, kind_seq, strict=True)):
        if not req.recipient:
            raise ValueError("a message needs a recipient")
        if ref is not None:
            old = stored.get(ref)
            if old is not None:
                old_id, recipient, text = old
                if (recipient, text) != (req.recipient, req.text):
                    raise IdempotencyConflict(
                        f'client_ref "{req.client_ref}" was already used for a different '
                        f"message (id {old_id})"
                    )
                ids.append(old_id)
                continue
        state = held if req.hold else queued
        # In _MESSAGE_COLUMNS order.
        new_rows.append((
            req.recipient, req.text, state, req.priority, req.category, req.campaign_id,
            req.submitter_kind, req.submitter_id, req.client_ref,
            0 if ref is None else ref[3],
            None if req.send_at is None else send_at_value(req.send_at),
            None if req.expires_at is None else expires_at_value(req.expires_at),
            req.parts_count, 0, "", now_db, now_db, now_db if state == queued else None,
        ))
        new_at.append(n)
        new_states.append(state)
        ids.append(None)
    if not new_rows:
        return ids  # type: ignore[return-value]

    new_ids = _insert_messages(new_rows)
    for n, msg_id in zip(new_at, new_ids, strict=True):
        ids[n] = msg_id
    _insert_rows(
        MessageEvent,
        _EVENT_COLUMNS,
        [(msg_id, now_db, None, state, "accepted", None)
         for msg_id, state in zip(new_ids, new_states, strict=True)],
    )
    return ids  # type: ignore[return-value]


# Acceptance writes raw parameter tuples (already in storage form) through these column lists,
# in one statement per chunk; the column names come from the models, the quoting and parameter
# style from the database, so the same code serves SQLite and PostgreSQL.
_AT = MessageEvent.at
_MESSAGE_COLUMNS = tuple(f.column_name for f in (
    Message.recipient, Message.text, Message.state, Message.priority, Message.category,
    Message.campaign, Message.submitter_kind, Message.submitter_id, Message.client_ref,
    Message.client_ref_seq, Message.send_at, Message.expires_at, Message.parts_count,
    Message.attempts, Message.error, Message.created_at, Message.updated_at, Message.queued_at,
))
_EVENT_COLUMNS = tuple(f.column_name for f in (
    MessageEvent.message, MessageEvent.at, MessageEvent.old_state, MessageEvent.new_state,
    MessageEvent.detail, MessageEvent.sim,
))
_MAX_PARAMS = 30_000
"""Bound parameters per statement: under SQLite's SQLITE_MAX_VARIABLE_NUMBER (32,766 since
3.32; Debian builds allow 250,000) and PostgreSQL's 65,535."""
_MAX_ROWS = 500
"""Rows per INSERT: keeps each statement, and the SQL texts cached for them, modest in size."""


def _database() -> peewee.Database:
    db = Message._meta.database
    return getattr(db, "obj", None) or db


@functools.lru_cache(maxsize=256)
def _insert_sql(param: str, quotes: str, table: str, columns: tuple[str, ...], rows: int,
                returning: str | None) -> str:
    """The INSERT for `rows` rows in this database's quoting and parameter style (cached: the
    same text also lets the driver reuse its prepared statement)."""
    def quote(name: str) -> str:
        return name.join(quotes)

    names = ", ".join(quote(c) for c in columns)
    one = "(" + ", ".join([param] * len(columns)) + ")"
    tail = "" if returning is None else f" RETURNING {quote(returning)}"
    return f"INSERT INTO {quote(table)} ({names}) VALUES " + ", ".join([one] * rows) + tail


def _insert_rows(model: type[peewee.Model], columns: tuple[str, ...],
                 rows: list[tuple[Any, ...]], returning: str | None = None) -> list[Any]:
    """Multi-row INSERT of storage-form tuples into these columns; with `returning`, that
    column of every row, in insertion order."""
    db = _database()
    table = model._meta.table_name
    size = max(1, min(_MAX_ROWS, _MAX_PARAMS // len(columns)))
    out: list[Any] = []
    for i in range(0, len(rows), size):
        chunk = rows[i:i + size]
        sql = _insert_sql(db.param, db.quote, table, columns, len(chunk), returning)
        params = [value for row in chunk for value in row]
        cursor = db.execute_sql(sql, params)
        if returning is not None:
            got = [r[0] for r in cursor.fetchall()]
            if len(got) != len(chunk):
                raise RuntimeError(f"INSERT of {len(chunk)} rows returned {len(got)} ids")
            # Neither SQLite nor PostgreSQL promises the order RETURNING emits rows in, but
            # both number the rows of one VALUES list in that list's order (SQLite: max + 1
            # under the write lock; PostgreSQL: one nextval per row, increasing): sorted,
            # the ids line up with the rows.
            got.sort()
            out.extend(got)
    return out


def _insert_messages(rows: list[tuple[Any, ...]]) -> list[int]:
    return _insert_rows(Message, _MESSAGE_COLUMNS, rows, returning=Message.id.column_name)


def _stored_by_client_ref(
    keys: Counter[tuple[str, str, str]],
) -> dict[tuple[str, str, str, int], tuple[int, str, str]]:
    """Earlier messages under these (submitter_kind, submitter_id, client_ref) keys:
    (kind, submitter, client_ref, seq) -> (id, recipient, text). One query per submitter and
    chunk of client_refs, on the unique index's leading columns."""
    by_submitter: dict[tuple[str, str], list[str]] = {}
    for kind, submitter, ref in keys:
        by_submitter.setdefault((kind, submitter), []).append(ref)
    found: dict[tuple[str, str, str, int], tuple[int, str, str]] = {}
    for (kind, submitter), refs in by_submitter.items():
        for i in range(0, len(refs), _MAX_ROWS):
            query = (
                Message.select(Message.id, Message.recipient, Message.text, Message.client_ref,
                               Message.client_ref_seq)
                .where(
                    (Message.submitter_kind == kind)
                    & (Message.submitter_id == submitter)
                    & Message.client_ref.in_(refs[i:i + _MAX_ROWS])
                )
                .tuples()
            )
            for msg_id, recipient, text, ref, seq in query:
                found[(kind, submitter, ref, seq)] = (msg_id, recipient, text)
    return found


# -- reading ---------------------------------------------------------------------------------


def get_message(msg_id: int) -> dict[str, Any]:
    """Everything the API shows about one message, parts and history included."""
    msg = Message.get_or_none(Message.id == msg_id)
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


def _fail_pending_parts(msg_id: int, reason: str) -> None:
    Part.update(state=P.FAILED.value, error=reason).where(
        (Part.message == msg_id) & (Part.state == P.PENDING.value)
    ).execute()


def cancel_message(msg_id: int, detail: str = "cancelled", now: datetime | None = None) -> Message:
    """Cancel a message not yet sending (InvalidTransition once it is sending or beyond)."""
    msg = _move(_load(msg_id), M.CANCELLED, detail, now=now or utcnow())
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
        # Its +CMGS was written and never answered: the network may have taken it.
        _move_part(part, P.AMBIGUOUS, error=reason, now=now)
        if resend_ambiguous:
            _move_part(part, P.PENDING, error=reason, now=now)
    if in_flight and not resend_ambiguous:
        _move(msg, M.AMBIGUOUS, f"a part was in flight: {reason}", now=now, error=reason)
        return "ambiguous"
    if any(p.state in (P.SENT.value, P.DELIVERED.value) for p in parts):
        _move(msg, M.QUEUED, f"{reason}; the rest must follow through the same SIM", now=now)
        return "pinned"
    Part.delete().where(Part.message == msg.id).execute()
    _move(msg, M.QUEUED, reason, now=now, fields={"sim": None})
    return "requeued"


def requeue_message(
    msg_id: int, reason: str, *, resend_ambiguous: bool = False, now: datetime | None = None
) -> str:
    """Put a sending message back after a failure that proves nothing more left (a transient
    +CMS ERROR, the modem gone before the write). Returns what happened (see _interrupt)."""
    msg = _load(msg_id)
    check_transition(msg.state, M.QUEUED)
    return _interrupt(msg, reason, resend_ambiguous, now or utcnow())


def release_claims_for_sim(
    iccid: str, reason: str, *, resend_ambiguous: bool = False, now: datetime | None = None
) -> dict[str, int]:
    """Hand a lost SIM's claimed, unfinished messages back to the queue; return counts."""
    now = now or utcnow()
    counts: Counter[str] = Counter()
    for msg in Message.select().where(
        (Message.state == M.SENDING.value) & (Message.sim == iccid)
    ):
        counts[_interrupt(msg, reason, resend_ambiguous, now)] += 1
    return {"requeued": counts["requeued"], "pinned": counts["pinned"],
            "ambiguous": counts["ambiguous"]}


def recover_after_crash(
    *, resend_ambiguous: bool = False, now: datetime | None = None
) -> dict[str, int]:
    """At start-up, before any modem sends: settle every message left `sending`.

    Parts all still pending -> queued (unpinned); some parts sent, none in flight -> queued,
    pinned to their SIM; a part in flight -> that part and the message `ambiguous` (with
    `resend_ambiguous`, the part goes back to pending and the message to the queue instead).
    """
    now = now or utcnow()
    counts: Counter[str] = Counter()
    for msg in Message.select().where(Message.state == M.SENDING.value):
        counts[_interrupt(msg, "interrupted by a restart", resend_ambiguous, now)] += 1
    return {"requeued": counts["requeued"], "pinned": counts["pinned"],
            "ambiguous": counts["ambiguous"]}


# -- parts -----------------------------------------------------------------------------------


def next_concat_ref(iccid: str) -> int:
    """The next 8-bit concatenation reference for a SIM (1..255, rotating)."""
    sim = Sim.get_by_id(iccid)
    ref = sim.concat_ref % 255 + 1
    Sim.update(concat_ref=ref).where(Sim.iccid == iccid).execute()
    return ref


def add_parts(msg_id: int, sim_iccid: str, parts: list[NewPart]) -> list[int]:
    """Store the encoded parts of a claimed message (once per claim; see module docstring)."""
    msg = _load(msg_id)
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
    elif new is P.SENT:
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
    "ConcurrentChange",
    "IdempotencyConflict",
    "MessageNotFound",
    "NewMessage",
    "NewPart",
    "accept_messages",
    "add_parts",
    "cancel_message",
    "claim_messages",
    "expire_due",
    "get_message",
    "next_concat_ref",
    "recover_after_crash",
    "release_claims_for_sim",
    "requeue_message",
    "transition_message",
    "transition_part",
]
