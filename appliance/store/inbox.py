"""The inbox on disk: received parts joined into messages, partials, and what the API lists.

Knows: the InboundMessage (one row per received part, with its duplicate checks) and
InboxMessage (one row per message) tables; reassembly by (SIM, sender, reference, total);
partial messages and the late part that completes one; paging and filters.
Must not know: modems, the event hub, HTTP, number normalisation (the caller gives `number`),
or what the rules do with a message (they only mark it handled).

Every function is synchronous, meant to run inside `Store.write` / `Store.read`. Times are
aware UTC datetimes given by the caller (the inbox's clock), so tests can move time.

Duplicates. A part is the same part when (SIM, PDU) matches one stored (the modem gave it
twice: read again after a restart that came between our commit and its delete), or when
(SIM, sender, SMSC time stamp, concatenation reference/total/index, text) does (the network
delivered it again, possibly with another first octet, e.g. TP-MMS). Either way nothing new is
stored. Both are index lookups; the stored rows are the memory, so this holds across restarts.

Reassembly. Parts wait in inbound_message with `inbox_id` NULL; the part that makes a group
complete creates the InboxMessage in the same transaction as its own row. A group waiting longer
than the partial timeout becomes a partial message (`store_partials_due`). A part arriving for
a partial message (same SIM, sender, reference and total; a missing index; within
LATE_PART_WINDOW) joins it: the message keeps its id, its text is rebuilt, and it stops being
partial when nothing is missing any more.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import peewee
from peewee import fn

from appliance.store.contacts import contacts_for_numbers
from appliance.store.db import utcnow
from appliance.store.models import InboundMessage, InboxMessage, Modem
from appliance.store.sims import pdu_hash

GAP_MARKER = "[…]"
"""Stands for each missing part in a partial message's text (schema_v3 uses the same)."""

LATE_PART_WINDOW = timedelta(days=3)
"""How long after its first part a partial message can still be completed by a late part.
An SMSC keeps retrying a part for at most its validity period (typically one to three days);
the bound also keeps an 8-bit reference reused by the same sender much later from joining an
old message."""


@dataclass(frozen=True)
class Received:
    """What storing one part did. `message` (a dict as `message_dict`) is set when an inbox
    message was created or grew; `duplicate` when the part was already stored (nothing
    changed); otherwise the part waits for its siblings."""

    part_id: int
    duplicate: bool = False
    message: dict[str, Any] | None = None
    waiting: bool = False


def message_dict(row: InboxMessage) -> dict[str, Any]:
    return {"id": row.id, "sim": row.sim, "modem": row.modem, "sender": row.sender,
            "number": row.number, "text": row.text, "smsc_at": row.smsc_at,
            "received_at": row.received_at, "parts_total": row.parts_total,
            "parts_received": row.parts_received, "partial": bool(row.partial),
            "updated_at": row.updated_at, "handled_at": row.handled_at}


class _Statements:
    """The hot path's SQL texts for one database (its quoting and parameter style): every
    received part runs them, and building them through peewee query objects cost the single
    writer thread several times what executing them does (measured: ~3.5 ms a part)."""

    def __init__(self, db: peewee.Database):
        p, q = db.param, (lambda name: name.join(db.quote))
        self.postgresql = isinstance(db, peewee.PostgresqlDatabase)
        part, msg = q(InboundMessage._meta.table_name), q(InboxMessage._meta.table_name)
        self.same_pdu = (f"SELECT {q('id')} FROM {part} WHERE {q('sim')} = {p}"
                         f" AND {q('pdu_hash')} = {p} AND {q('pdu')} = {p} LIMIT 1")
        content = (f"SELECT {q('id')} FROM {part} WHERE {q('sim')} = {p} AND {q('sender')} = {p}"
                   f" AND {q('received_at')} = {p} AND {q('concat_count')} = {p}"
                   f" AND {q('concat_index')} = {p} AND {q('text')} = {p}")
        self.same_single = f"{content} AND {q('concat_ref')} IS NULL LIMIT 1"
        self.same_part = f"{content} AND {q('concat_ref')} = {p} LIMIT 1"
        part_cols = ("sim", "sender", "text", "received_at", "concat_ref", "concat_count",
                     "concat_index", "smsc", "pdu", "pdu_hash", "stored_at", "modem", "inbox_id")
        self.insert_part = self._insert(part, part_cols, p, q)
        msg_cols = ("sim", "modem", "sender", "number", "text", "smsc_at", "received_at",
                    "concat_ref", "parts_total", "parts_received", "partial", "updated_at")
        self.insert_message = self._insert(msg, msg_cols, p, q)

    def _insert(self, table: str, cols: tuple[str, ...], p: str, q: Callable) -> str:
        sql = (f"INSERT INTO {table} ({', '.join(q(c) for c in cols)})"
               f" VALUES ({', '.join([p] * len(cols))})")
        return sql + f" RETURNING {q('id')}" if self.postgresql else sql


_last: tuple[peewee.Database, _Statements] | None = None


def _db_and_sql() -> tuple[peewee.Database, _Statements]:
    global _last
    db = InboundMessage._meta.database
    real = getattr(db, "obj", None) or db  # the proxy's current database
    if _last is None or _last[0] is not real:
        _last = (real, _Statements(real))
    return _last


def _insert(db: peewee.Database, sql: str, params: tuple[Any, ...], postgresql: bool) -> int:
    cursor = db.execute_sql(sql, params)
    return int(cursor.fetchone()[0] if postgresql else cursor.lastrowid)


_utc = InboundMessage.stored_at.db_value  # UtcDateTimeField: aware datetime -> stored text


def _duplicate_of(iccid: str, sender: str, text: str, smsc_at: datetime, concat_ref: int | None,
                  concat_count: int, concat_index: int, pdu: str, digest: str) -> int | None:
    db, sql = _db_and_sql()
    if pdu:
        # The (sim, pdu_hash) index finds the candidates; comparing the PDU itself as well
        # keeps a hash collision from swallowing a message.
        row = db.execute_sql(sql.same_pdu, (iccid, digest, pdu)).fetchone()
        if row is not None:
            return int(row[0])
    params: tuple[Any, ...] = (iccid, sender, _utc(smsc_at), concat_count, concat_index, text)
    if concat_ref is None:
        row = db.execute_sql(sql.same_single, params).fetchone()
    else:
        row = db.execute_sql(sql.same_part, (*params, concat_ref)).fetchone()
    return int(row[0]) if row is not None else None


def modem_of_sim(iccid: str) -> str:
    """The IMEI of the modem the store last saw holding `iccid`, or ""."""
    row = (Modem.select(Modem.imei).where(Modem.sim == iccid)
           .order_by(Modem.last_seen_at.desc()).first())
    return row.imei if row is not None else ""


def receive_part(*, iccid: str, modem: str, sender: str, number: str, text: str,
                 smsc_at: datetime, arrived_at: datetime, concat_ref: int | None,
                 concat_count: int, concat_index: int, smsc: str | None, pdu: str) -> Received:
    """Store one received part and, when it completes a message (or is one), the message."""
    digest = pdu_hash(pdu)
    multipart = concat_ref is not None and concat_count > 1
    if not multipart:
        concat_count, concat_index = 1, 1
    same = _duplicate_of(iccid, sender, text, smsc_at, concat_ref, concat_count,
                         concat_index, pdu, digest)
    if same is not None:
        return Received(part_id=same, duplicate=True)
    if not modem:
        modem = modem_of_sim(iccid)
    db, sql = _db_and_sql()
    arrived, smsc_stamp = _utc(arrived_at), _utc(smsc_at)
    inbox_id = None
    if not multipart:
        # The message first, so its part is inserted already linked (one statement fewer).
        inbox_id = _insert(db, sql.insert_message, (
            iccid, modem, sender, number, text, smsc_stamp, arrived, None, 1, 1, False,
            arrived), sql.postgresql)
    part_id = _insert(db, sql.insert_part, (
        iccid, sender, text, smsc_stamp, concat_ref, concat_count, concat_index, smsc, pdu,
        digest, arrived, modem, inbox_id), sql.postgresql)
    if inbox_id is not None:
        return Received(part_id=part_id, message={
            "id": inbox_id, "sim": iccid, "modem": modem, "sender": sender, "number": number,
            "text": text, "smsc_at": smsc_at, "received_at": arrived_at, "parts_total": 1,
            "parts_received": 1, "partial": False, "updated_at": arrived_at,
            "handled_at": None})
    late = _partial_missing(iccid, sender, concat_ref, concat_count, concat_index, arrived_at)
    if late is not None:
        InboundMessage.update(inbox_id=late.id).where(InboundMessage.id == part_id).execute()
        return Received(part_id=part_id, message=_rebuild(late, arrived_at))
    parts = _waiting_parts(iccid, sender, concat_ref, concat_count)
    if {p.concat_index for p in parts} >= set(range(1, concat_count + 1)):
        row = _create_from(parts, number, arrived_at)
        return Received(part_id=part_id, message=message_dict(row))
    return Received(part_id=part_id, waiting=True)


def _partial_missing(iccid: str, sender: str, ref: int, count: int, index: int,
                     now: datetime) -> InboxMessage | None:
    """The recent partial message this late part belongs to, if one lacks exactly it."""
    candidates = (InboxMessage.select()
                  .where((InboxMessage.sim == iccid) & (InboxMessage.sender == sender)
                         & (InboxMessage.concat_ref == ref) & (InboxMessage.parts_total == count)
                         & (InboxMessage.partial == True)  # noqa: E712 - peewee expression
                         & (InboxMessage.received_at >= now - LATE_PART_WINDOW))
                  .order_by(InboxMessage.id.desc()))
    for row in candidates:
        has = (InboundMessage.select(InboundMessage.id)
               .where((InboundMessage.inbox_id == row.id)
                      & (InboundMessage.concat_index == index)).exists())
        if not has:
            return row
    return None


def _waiting_parts(iccid: str, sender: str, ref: int, count: int) -> list[InboundMessage]:
    return list(InboundMessage.select()
                .where((InboundMessage.sim == iccid) & (InboundMessage.sender == sender)
                       & (InboundMessage.concat_ref == ref)
                       & (InboundMessage.concat_count == count)
                       & InboundMessage.inbox_id.is_null())
                .order_by(InboundMessage.id))


def _joined(parts: list[InboundMessage], total: int) -> tuple[str, int, InboundMessage]:
    """(text with a gap marker per missing part, parts present, the head part: index 1 if
    present, else the first that came). The first copy of an index wins."""
    by_index: dict[int, InboundMessage] = {}
    for part in sorted(parts, key=lambda p: p.id):
        by_index.setdefault(part.concat_index, part)
    text = "".join(by_index[i].text if i in by_index else GAP_MARKER
                   for i in range(1, total + 1))
    # A part whose index is outside 1..total (a sender's broken UDH) is not dropped: its text
    # follows, so what arrived is all shown.
    text += "".join(by_index[i].text for i in sorted(by_index) if not 1 <= i <= total)
    present = sum(1 for i in range(1, total + 1) if i in by_index)
    return text, present, by_index.get(1, min(parts, key=lambda p: p.id))


def _create_from(parts: list[InboundMessage], number: str, now: datetime) -> InboxMessage:
    head = min(parts, key=lambda p: p.id)
    total = head.concat_count
    text, present, first = _joined(parts, total)
    row = InboxMessage.create(
        sim=head.sim, modem=head.modem, sender=head.sender, number=number, text=text,
        smsc_at=first.received_at, received_at=min(p.stored_at for p in parts),
        concat_ref=head.concat_ref, parts_total=total, parts_received=present,
        partial=present < total, updated_at=now)
    InboundMessage.update(inbox_id=row.id).where(
        InboundMessage.id.in_([p.id for p in parts])).execute()
    return row


def _rebuild(row: InboxMessage, now: datetime) -> dict[str, Any]:
    parts = list(InboundMessage.select().where(InboundMessage.inbox_id == row.id))
    text, present, first = _joined(parts, row.parts_total)
    row.text, row.parts_received, row.partial = text, present, present < row.parts_total
    row.smsc_at, row.updated_at = first.received_at, now
    row.save()
    return message_dict(row)


def waiting_count() -> int:
    """How many parts wait for their siblings (the partial timer skips its query at 0)."""
    return InboundMessage.select().where(InboundMessage.inbox_id.is_null()).count()


def store_partials_due(cutoff: datetime, now: datetime,
                       number_of: Callable[[str], str] = str,
                       ) -> tuple[list[dict[str, Any]], int]:
    """Groups whose first part arrived at or before `cutoff` become partial messages (or
    complete ones, if their parts are all there: rows written before reassembly existed).

    Returns (the messages created, parts still waiting). `number_of` gives a sender's
    normalised number (the caller's normaliser, a pure function)."""
    due = (InboundMessage.select(InboundMessage.sim, InboundMessage.sender,
                                 InboundMessage.concat_ref, InboundMessage.concat_count)
           .where(InboundMessage.inbox_id.is_null() & (InboundMessage.stored_at <= cutoff))
           .distinct().tuples())
    created = []
    for sim, sender, ref, count in list(due):
        if ref is None or count <= 1:
            parts = list(InboundMessage.select().where(
                (InboundMessage.sim == sim) & (InboundMessage.sender == sender)
                & InboundMessage.concat_ref.is_null() & InboundMessage.inbox_id.is_null()))
            groups = [[p] for p in parts]
        else:
            groups = [_waiting_parts(sim, sender, ref, count)]
        for parts in groups:
            if parts:
                created.append(message_dict(_create_from(parts, number_of(sender), now)))
    return created, waiting_count()


def mark_handled(inbox_id: int, at: datetime | None = None) -> bool:
    """The rules ran on this message; False when it was already marked (or does not exist)."""
    return InboxMessage.update(handled_at=at or utcnow()).where(
        (InboxMessage.id == inbox_id) & InboxMessage.handled_at.is_null()).execute() == 1


def unhandled(limit: int = 100) -> list[dict[str, Any]]:
    """Messages the rules have not run on yet (after a crash), oldest first."""
    rows = (InboxMessage.select().where(InboxMessage.handled_at.is_null())
            .order_by(InboxMessage.id).limit(limit))
    return [message_dict(r) for r in rows]


def get_message(inbox_id: int) -> dict[str, Any] | None:
    row = InboxMessage.get_or_none(InboxMessage.id == inbox_id)
    return message_dict(row) if row is not None else None


def contact_names(numbers: set[str]) -> dict[str, str]:
    """number → contact name, for the inbox listing (one query on the address book)."""
    return {n: c["name"] for n, c in contacts_for_numbers(numbers).items()}


def list_messages(*, since: int | None = None, before: int | None = None, limit: int = 100,
                  number: str | None = None, sim: str | None = None,
                  received_from: datetime | None = None, received_to: datetime | None = None,
                  received_through: datetime | None = None, ascending: bool = True,
                  offset: int = 0) -> list[dict[str, Any]]:
    """Inbox messages by id (ids only grow): `since` and `before` are exclusive id bounds;
    `received_from` inclusive and `received_to` exclusive bounds on the arrival time (our
    API's), `received_through` an inclusive one (the Android API's `to`); `offset` of them
    skipped (the Android API pages so). Each dict also has "contact": the contact's name or
    None."""
    query = InboxMessage.select()
    if since is not None:
        query = query.where(InboxMessage.id > since)
    if before is not None:
        query = query.where(InboxMessage.id < before)
    if number is not None:
        query = query.where(InboxMessage.number == number)
    if sim is not None:
        query = query.where(InboxMessage.sim == sim)
    if received_from is not None:
        query = query.where(InboxMessage.received_at >= received_from)
    if received_to is not None:
        query = query.where(InboxMessage.received_at < received_to)
    if received_through is not None:
        query = query.where(InboxMessage.received_at <= received_through)
    query = query.order_by(InboxMessage.id.asc() if ascending else InboxMessage.id.desc())
    if offset:
        query = query.offset(offset)
    out = [message_dict(r) for r in query.limit(limit)]
    names = contact_names({m["number"] for m in out})
    for m in out:
        m["contact"] = names.get(m["number"])
    return out


def count_messages() -> int:
    return InboxMessage.select(fn.COUNT(InboxMessage.id)).scalar() or 0


__all__ = ["GAP_MARKER", "LATE_PART_WINDOW", "Received", "contact_names", "count_messages",
           "get_message", "list_messages", "mark_handled", "message_dict", "modem_of_sim",
           "receive_part", "store_partials_due", "unhandled", "waiting_count"]
