"""Accepting messages into the outbox: the bulk, idempotent insert behind every API request.

Knows: the Message and MessageEvent tables' columns, idempotency by client_ref, and how to write
many rows in few statements on SQLite and PostgreSQL alike.
Must not know: what happens to a message after it is queued (`messages`), modems, HTTP.

Like the rest of the store, `accept_messages` is synchronous and meant to run inside
`Store.write`. `appliance.store.messages` re-exports the public names.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import chain
from typing import Any

import peewee

from appliance.store import kannel as kannel_store
from appliance.store.db import utcnow
from appliance.store.models import (
    ApprovalMessage,
    KannelMessage,
    Message,
    MessageCharge,
    MessageEvent,
    MessageOption,
)
from appliance.store.states import MessageState

M = MessageState


class IdempotencyConflict(ValueError):
    """A client_ref reused for a different message (not a retry of the same request)."""


REPLAY_TTL_SLACK = 5.0
"""Seconds by which a replay's validity may differ from the stored one and still be the same
request. The stored expiry counts from the first acceptance and the row keeps no ttl, so the
ttl is recovered as expires_at - max(send_at, created_at): a little short of the one asked
for, by the time the first request took from its validation to its commit."""


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
    ttl: float | None = None
    """The validity asked for, in seconds, when `expires_at` was computed from one (intake sets
    both): a replay under the same client_ref must ask for the same (REPLAY_TTL_SLACK)."""
    via_sim: str | None = None
    """The ICCID it must leave through (a reply through the SIM that received the message):
    stored in `sim`, so the queued message is pinned to it as if a part had left there."""
    force_ucs2: bool = False  # encode as UCS2 even when GSM-7 would do (Kannel coding=2)
    message_class: int | None = None  # TP-DCS message class 0-3 (0 = flash)
    kannel: kannel_store.KannelFields | None = None  # a Kannel sendsms request's own fields
    approval_id: int | None = None
    """The approval this message waits for (with `hold`): linked in the same transaction."""
    charge_to: tuple[str, ...] = ()
    """The quota accounts its sent parts are charged to (store.ledger), linked with it."""

    # Who submitted it, through which door (policy.origin.Origin, flattened: the store knows
    # no policy); None where a caller did not say (messages from before migration 12).
    door: str | None = None
    address: str | None = None
    api_key_id: int | None = None
    user_id: int | None = None
    department_id: int | None = None
    content_hash: int | None = None
    """policy.dedupe's identity of the text as sent (a signed 64-bit integer)."""

    def to_each(self, recipients: Iterable[str]) -> list[NewMessage]:
        """This message once to each of `recipients` (a request's rows: all alike but the
        recipient). Copied field by field, not through the dataclass's __init__, whose 25
        frozen assignments cost ~5 µs a row (measured), ten times a copy: at 1,000
        recipients a request, a fifth of what intake spent per recipient."""
        fields = self.__dict__
        return [_made({**fields, "recipient": recipient}) for recipient in recipients]


def with_changes(rows: list[NewMessage], **changes: Any) -> list[NewMessage]:
    """`dataclasses.replace(row, **changes)` for each of `rows`, at the cost of a copy (see
    `NewMessage.to_each`): a policy check that marks every row of a request (held, charged)."""
    unknown = changes.keys() - NewMessage.__dataclass_fields__.keys()
    if unknown:
        raise TypeError(f"NewMessage has no field {sorted(unknown)[0]!r}")
    return [_made({**row.__dict__, **changes}) for row in rows]


def _made(fields: dict[str, Any]) -> NewMessage:
    """A NewMessage holding `fields` (all of them), without the dataclass's __init__."""
    row = object.__new__(NewMessage)
    object.__setattr__(row, "__dict__", fields)  # frozen: its own __setattr__ refuses
    return row


# -- the insert ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Acceptance:
    """What `accept_new` did: every request's id (in order), which of them it inserted now
    (False: a replay under a client_ref, answered with the id stored before), and the time
    stamped on the new rows (their created_at and queued_at)."""

    ids: list[int]
    new: list[bool]
    at: datetime


def accept_messages(requests: list[NewMessage], now: datetime | None = None) -> list[int]:
    """Store the messages; return their ids in order (see `accept_new`)."""
    return accept_new(requests, now).ids


RACE_RETRIES = 3
"""Attempts at a request whose client_ref another connection stored meanwhile (see
`accept_new`)."""


def accept_new(requests: list[NewMessage], now: datetime | None = None) -> Acceptance:
    """Store the messages; return their ids in order, and which are new (`_accept_new`).

    A retry can race its original on another connection: a second gateway process on the
    same PostgreSQL (SQLite has one writer, whose transaction sees every earlier commit). The
    retry's INSERT then waits on the client_ref index for the original's transaction, and
    fails with an IntegrityError once it commits. Requests that carry a client_ref are
    therefore stored in a savepoint and, on that error, looked up again: the original's rows
    are committed now, so the retry gets their ids, as a retry after the fact would."""
    if all(req.client_ref is None for req in requests):
        return _accept_new(requests, now)
    for attempt in range(RACE_RETRIES):
        try:
            with _database().atomic():  # a savepoint inside the writer's transaction
                return _accept_new(requests, now)
        except peewee.IntegrityError:
            if attempt == RACE_RETRIES - 1:
                raise
    raise AssertionError("unreachable")


def _accept_new(requests: list[NewMessage], now: datetime | None = None) -> Acceptance:
    """Store the messages; return their ids in order, and which are new.

    Idempotent on (submitter_kind, submitter_id, client_ref): the k-th message carrying a given
    client_ref in one call is matched with the k-th stored under it, so a retried request
    returns the same ids and stores nothing new.

    The hot path of acceptance (the writer's group commit calls it for every API request), so
    it works in whole batches: one query per chunk of client_refs to find earlier copies, one
    multi-row INSERT ... RETURNING per chunk of new messages, one multi-row INSERT per chunk of
    events, no model instances. Nothing is written when a request is refused (empty recipient,
    IdempotencyConflict); the first refused request, in request order, names the error.
    """
    now = now or utcnow()
    now_db = _AT.db_value(now)  # also refuses a naive datetime
    at = now.astimezone(UTC)
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
    new_rows: list[Any] = []  # flat: _MESSAGE_COLUMNS' values, row after row
    new_at: list[int] = []  # index in `requests` of each new row
    new_states: list[str] = []
    queued, held = M.QUEUED.value, M.HELD.value
    send_at_value = _StoredTime(Message.send_at)
    expires_at_value = _StoredTime(Message.expires_at)
    for n, (req, ref) in enumerate(zip(requests, kind_seq, strict=True)):
        if not req.recipient:
            raise ValueError("a message needs a recipient")
        if ref is not None:
            old = stored.get(ref)
            if old is not None:
                differs = _replay_differs(old, req)
                if differs is not None:
                    raise IdempotencyConflict(
                        f'client_ref "{req.client_ref}" was already used for a different '
                        f"message (id {old.id}: its {differs} differs)"
                    )
                ids.append(old.id)
                continue
        state = held if req.hold else queued
        # In _MESSAGE_COLUMNS order.
        new_rows.extend((
            req.recipient, req.text, state, req.priority, req.category, req.campaign_id,
            req.submitter_kind, req.submitter_id, req.client_ref,
            0 if ref is None else ref[3],
            send_at_value(req.send_at), expires_at_value(req.expires_at),
            req.parts_count, 0, "", now_db, now_db, now_db if state == queued else None,
            req.via_sim, req.door, req.address, req.api_key_id, req.user_id,
            req.department_id, req.content_hash,
        ))
        new_at.append(n)
        new_states.append(state)
        ids.append(None)
    new = [False] * len(requests)
    for n in new_at:
        new[n] = True
    if not new_rows:
        return Acceptance(ids, new, at)  # type: ignore[arg-type]

    new_ids = _insert_messages(new_rows)
    for n, msg_id in zip(new_at, new_ids, strict=True):
        ids[n] = msg_id
    events: list[Any] = []
    for msg_id, state in zip(new_ids, new_states, strict=True):
        events.extend((msg_id, now_db, None, state, "accepted", None))  # _EVENT_COLUMNS
    _insert_rows(MessageEvent, _EVENT_COLUMNS, events)
    _insert_extras(new_ids, requests if len(new_at) == len(requests)
                   else [requests[n] for n in new_at])
    return Acceptance(ids, new, at)  # type: ignore[arg-type]


class _StoredTime:
    """A time field's storage form, remembered for the last time converted: a request's rows
    share their send_at and expires_at (one object each), and the conversion (to UTC, to
    text) cost more than the rest of a row's tuple."""

    def __init__(self, field: peewee.Field):
        self.db_value = field.db_value
        self.last: tuple[datetime | None, str | None] = (None, None)

    def __call__(self, value: datetime | None) -> str | None:
        last, stored = self.last
        if value is last:
            return stored
        stored = self.db_value(value)
        self.last = (value, stored)
        return stored


def _insert_extras(ids: list[int], requests: list[NewMessage]) -> None:
    """The encoding options and Kannel fields of the new messages that carry any, in the same
    transaction as the messages (the sender may claim a message the moment it commits);
    `ids[n]` is `requests[n]`'s."""
    def with_ids() -> zip[tuple[int, NewMessage]]:
        return zip(ids, requests, strict=True)

    options = [(mid, r.force_ucs2, r.message_class) for mid, r in with_ids()
               if r.force_ucs2 or r.message_class is not None]
    if options:
        _insert_rows(MessageOption, _OPTION_COLUMNS, list(chain.from_iterable(options)))
    kannel = [kannel_store.row(mid, r.kannel) for mid, r in with_ids() if r.kannel is not None]
    if kannel:
        _insert_rows(KannelMessage, kannel_store.COLUMNS, list(chain.from_iterable(kannel)))
    # A held message is never without its approval, a charged one never without its account.
    approvals = [(mid, r.approval_id) for mid, r in with_ids() if r.approval_id is not None]
    if approvals:
        _insert_rows(ApprovalMessage, _APPROVAL_COLUMNS, list(chain.from_iterable(approvals)))
    charges = [(mid, account) for mid, r in with_ids() for account in r.charge_to]
    if charges:
        _insert_rows(MessageCharge, _CHARGE_COLUMNS, list(chain.from_iterable(charges)))


def accept_many(requests: list[list[NewMessage]],
                now: datetime | None = None) -> list[Acceptance | Exception]:
    """Several requests' messages in one job: each request's Acceptance, or the exception that
    refused it (IdempotencyConflict...), in order; one request refused does not refuse the
    others.

    Together when possible: one `accept_new` over all their messages (a few statements in all
    instead of a few per request; the acceptance of many concurrent single-message API
    requests is what this is for). Each request on its own, each in a savepoint of its own,
    when one of them is refused (the combined attempt is rolled back first) or when two share
    a client_ref key (together, the second would become that key's next sequence number
    instead of a replay of the first).
    """
    now = now or utcnow()
    if len(requests) > 1 and not _refs_overlap(requests):
        try:
            with _database().atomic():
                together = accept_new([m for request in requests for m in request], now)
        except Exception:  # noqa: BLE001 - someone is refused: find out who, below
            pass
        else:
            out: list[Acceptance | Exception] = []
            start = 0
            for request in requests:
                end = start + len(request)
                out.append(Acceptance(together.ids[start:end], together.new[start:end],
                                      together.at))
                start = end
            return out
    results: list[Acceptance | Exception] = []
    for request in requests:
        try:
            with _database().atomic():
                results.append(accept_new(request, now))
        except Exception as exc:  # noqa: BLE001 - handed to that request's caller
            results.append(exc)
    return results


def _refs_overlap(requests: list[list[NewMessage]]) -> bool:
    seen: set[tuple[str, str, str]] = set()
    for request in requests:
        keys = {(m.submitter_kind, m.submitter_id, m.client_ref) for m in request
                if m.client_ref is not None}
        if not seen.isdisjoint(keys):
            return True
        seen |= keys
    return False


# Acceptance writes raw parameter tuples (already in storage form) through these column lists,
# in one statement per chunk; the column names come from the models, the quoting and parameter
# style from the database, so the same code serves SQLite and PostgreSQL.
_AT = MessageEvent.at
_MESSAGE_COLUMNS = tuple(f.column_name for f in (
    Message.recipient, Message.text, Message.state, Message.priority, Message.category,
    Message.campaign, Message.submitter_kind, Message.submitter_id, Message.client_ref,
    Message.client_ref_seq, Message.send_at, Message.expires_at, Message.parts_count,
    Message.attempts, Message.error, Message.created_at, Message.updated_at, Message.queued_at,
    Message.sim, Message.door, Message.address, Message.api_key_id, Message.user_id,
    Message.department_id, Message.content_hash,
))
_OPTION_COLUMNS = tuple(f.column_name for f in (
    MessageOption.message, MessageOption.force_ucs2, MessageOption.message_class))
_APPROVAL_COLUMNS = tuple(f.column_name for f in (ApprovalMessage.message,
                                                   ApprovalMessage.approval))
_CHARGE_COLUMNS = tuple(f.column_name for f in (MessageCharge.message, MessageCharge.account))
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
                returning: str | None, nulls: tuple[bool, ...]) -> str:
    """The INSERT for `rows` rows in this database's quoting and parameter style, with the
    literal NULL for the columns `nulls` marks (cached: the same text also lets the driver
    reuse its prepared statement)."""
    def quote(name: str) -> str:
        return name.join(quotes)

    names = ", ".join(quote(c) for c in columns)
    one = "(" + ", ".join("NULL" if null else param for null in nulls) + ")"
    tail = "" if returning is None else f" RETURNING {quote(returning)}"
    return f"INSERT INTO {quote(table)} ({names}) VALUES " + ", ".join([one] * rows) + tail


def _insert_rows(model: type[peewee.Model], columns: tuple[str, ...], values: list[Any],
                 returning: str | None = None) -> list[Any]:
    """Multi-row INSERT into these columns of `values`: storage form, flat (row after row,
    one value per column: no tuple per row held meanwhile for the garbage collector to walk).
    With `returning`, that column of every row, in insertion order.

    A column NULL in every row of a statement is written as the literal NULL, not bound: the
    sqlite3 module binds None through its adapter look-ups, ten times the cost of binding an
    integer (measured: ~240 ns a value), and a request's rows share their empty fields."""
    db = _database()
    table = model._meta.table_name
    width = len(columns)
    size = max(1, min(_MAX_ROWS, _MAX_PARAMS // width))
    out: list[Any] = []
    for i in range(0, len(values), size * width):
        chunk = values[i:i + size * width]
        rows = len(chunk) // width
        # Only a column NULL in the first row can be NULL in all (counting the others' Nones
        # would compare every value).
        nulls = tuple(chunk[c] is None and chunk[c::width].count(None) == rows
                      for c in range(width))
        if any(nulls):
            params = list(chain.from_iterable(zip(*(chunk[c::width] for c in range(width)
                                                    if not nulls[c]), strict=True)))
        else:
            params = chunk
        sql = _insert_sql(db.param, db.quote, table, columns, rows, returning, nulls)
        cursor = db.execute_sql(sql, params)
        if returning is not None:
            got = [r[0] for r in cursor.fetchall()]
            if len(got) != rows:
                raise RuntimeError(f"INSERT of {rows} rows returned {len(got)} ids")
            # Neither SQLite nor PostgreSQL promises the order RETURNING emits rows in, but
            # both number the rows of one VALUES list in that list's order (SQLite: max + 1
            # under the write lock; PostgreSQL: one nextval per row, increasing): sorted,
            # the ids line up with the rows.
            got.sort()
            out.extend(got)
    return out


def _insert_messages(values: list[Any]) -> list[int]:
    return _insert_rows(Message, _MESSAGE_COLUMNS, values, returning=Message.id.column_name)


@dataclass(frozen=True)
class _Stored:
    """What a replay is compared with: the stored message under a client_ref."""

    id: int
    recipient: str
    text: str
    priority: int
    category: str
    campaign_id: int | None
    send_at: datetime | None
    expires_at: datetime | None
    created_at: datetime


def _replay_differs(old: _Stored, req: NewMessage) -> str | None:
    """The first option in which `req` differs from the stored message, or None (a replay)."""
    for name in ("recipient", "text", "priority", "category", "campaign_id", "send_at"):
        if getattr(old, name) != getattr(req, name):
            return name
    if req.ttl is not None and old.expires_at is not None:
        start = max(old.send_at or old.created_at, old.created_at)
        stored_ttl = (old.expires_at - start).total_seconds()
        if abs(stored_ttl - req.ttl) > REPLAY_TTL_SLACK:
            return "ttl"
    elif (req.ttl is None and req.expires_at is not None
          and req.expires_at != old.expires_at):
        return "expires_at"
    return None


def stored_under(submitter_kind: str, submitter_id: str, client_ref: str) -> int:
    """How many messages are stored under this client_ref: a retry of that many recipients or
    fewer is answered with them and stores nothing."""
    return Message.select().where(
        (Message.submitter_kind == submitter_kind) & (Message.submitter_id == submitter_id)
        & (Message.client_ref == client_ref)).count()


def _stored_by_client_ref(
    keys: Counter[tuple[str, str, str]],
) -> dict[tuple[str, str, str, int], _Stored]:
    """Earlier messages under these (submitter_kind, submitter_id, client_ref) keys:
    (kind, submitter, client_ref, seq) -> what was stored. One query per submitter and chunk
    of client_refs, on the unique index's leading columns."""
    by_submitter: dict[tuple[str, str], list[str]] = {}
    for kind, submitter, ref in keys:
        by_submitter.setdefault((kind, submitter), []).append(ref)
    found: dict[tuple[str, str, str, int], _Stored] = {}
    for (kind, submitter), refs in by_submitter.items():
        for i in range(0, len(refs), _MAX_ROWS):
            query = (
                Message.select(Message.client_ref, Message.client_ref_seq, Message.id,
                               Message.recipient, Message.text, Message.priority,
                               Message.category, Message.campaign, Message.send_at,
                               Message.expires_at, Message.created_at)
                .where(
                    (Message.submitter_kind == kind)
                    & (Message.submitter_id == submitter)
                    & Message.client_ref.in_(refs[i:i + _MAX_ROWS])
                )
                .tuples()
            )
            for ref, seq, *stored in query:
                found[(kind, submitter, ref, seq)] = _Stored(*stored)
    return found


__all__ = ["Acceptance", "IdempotencyConflict", "NewMessage", "accept_many", "accept_messages",
           "accept_new", "with_changes"]
