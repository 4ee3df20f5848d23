"""The send path's writes as fixed SQL: a message claimed with its parts stored, a part
`sending`, a part `sent`, a message `sent`, a SIM's counters — the statements on every part's
critical path (its answer, then the next PDU) and on every message's claim.

Knows: the columns those four writes touch, and that each is the same statement every time, so
its text is built once per database and the driver's statement cache prepares it once. Doing
the same through peewee models (a row loaded, a query object compiled to SQL text) cost the
single writer thread more than the commit did at saturation (16 modems, 80 parts/s).
Must not know: anything the slow path knows better. When a statement does not find the row in
the state it expects, the move is handed to `messages.transition_*`, which loads the row and
raises the right error (InvalidTransition, LookupError) or does the move the long way.

Every function runs inside `Store.write`, like those of `messages`.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any

import peewee

from appliance.store import ledger
from appliance.store import messages as outbox
from appliance.store.models import Message, MessageEvent, Part, SimCounter
from appliance.store.sims import COUNTER_WINDOWS
from appliance.store.states import MessageState, PartState, check_part_transition, check_transition

M = MessageState
P = PartState

# The fast paths below encode these moves; the tables must allow them.
check_part_transition(P.PENDING.value, P.SENDING)
check_part_transition(P.SENDING.value, P.SENT)
check_transition(M.SENDING.value, M.SENT)


class _Statements:
    """The SQL texts for one database (its quoting and parameter style)."""

    def __init__(self, db: peewee.Database):
        p = db.param

        def t(model: type[peewee.Model]) -> str:
            return model._meta.table_name.join(db.quote)

        def c(field: peewee.Field) -> str:
            return field.column_name.join(db.quote)

        self.part_sending = (
            f"UPDATE {t(Part)} SET {c(Part.state)} = {p}, {c(Part.attempts)} = "
            f"{c(Part.attempts)} + 1 WHERE {c(Part.id)} = {p} AND {c(Part.state)} = {p}")
        self.part_sent = (
            f"UPDATE {t(Part)} SET {c(Part.state)} = {p}, {c(Part.sent_at)} = {p}, "
            f"{c(Part.message_reference)} = {p} WHERE {c(Part.id)} = {p} AND {c(Part.state)} = {p}")
        self.message_sent = (
            f"UPDATE {t(Message)} SET {c(Message.state)} = {p}, {c(Message.updated_at)} = {p}, "
            f"{c(Message.sent_at)} = {p} WHERE {c(Message.id)} = {p} AND {c(Message.state)} = {p}")
        self.event = (
            f"INSERT INTO {t(MessageEvent)} ({c(MessageEvent.message)}, {c(MessageEvent.at)}, "
            f"{c(MessageEvent.old_state)}, {c(MessageEvent.new_state)}, "
            f"{c(MessageEvent.detail)}, {c(MessageEvent.sim)}) "
            f"VALUES ({p}, {p}, {p}, {p}, {p}, {p})")
        cols = ", ".join(c(f) for f in (Message.id, Message.recipient, Message.text,
                                           Message.state, Message.sim, Message.attempts,
                                           Message.parts_count))
        self.claim = (
            f"UPDATE {t(Message)} SET {c(Message.state)} = {p}, {c(Message.sim)} = {p}, "
            f"{c(Message.attempts)} = {c(Message.attempts)} + 1, {c(Message.updated_at)} = {p} "
            f"WHERE {c(Message.id)} = {p} AND {c(Message.state)} = {p} "
            f"AND ({c(Message.send_at)} IS NULL OR {c(Message.send_at)} <= {p}) "
            f"AND ({c(Message.expires_at)} IS NULL OR {c(Message.expires_at)} > {p}) "
            f"AND ({c(Message.sim)} IS NULL OR {c(Message.sim)} = {p})")
        self.claimed_row = f"SELECT {cols} FROM {t(Message)} WHERE {c(Message.id)} = {p}"
        self.parts = (
            f"SELECT {c(Part.id)}, {c(Part.index)}, {c(Part.pdu)}, {c(Part.tpdu_length)}, "
            f"{c(Part.state)}, {c(Part.error)} FROM {t(Part)} WHERE {c(Part.message)} = {p} "
            f"ORDER BY {c(Part.index)}")
        self.add_part = (
            f"INSERT INTO {t(Part)} ({c(Part.message)}, {c(Part.index)}, {c(Part.count)}, "
            f"{c(Part.concat_ref)}, {c(Part.pdu)}, {c(Part.tpdu_length)}, {c(Part.sim)}, "
            f"{c(Part.state)}, {c(Part.attempts)}, {c(Part.error)}) "
            f"VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, 0, '')")
        self.parts_count = (
            f"UPDATE {t(Message)} SET {c(Message.parts_count)} = {p} WHERE {c(Message.id)} = {p}")
        # One upsert of every window (1 to len(COUNTER_WINDOWS) rows): one statement per
        # part, not one per window.
        self.counters = {
            n: (f"INSERT INTO {t(SimCounter)} ({c(SimCounter.sim)}, {c(SimCounter.window)}, "
                f"{c(SimCounter.window_start)}, {c(SimCounter.count)}) VALUES "
                + ", ".join([f"({p}, {p}, {p}, {p})"] * n)
                + f" ON CONFLICT ({c(SimCounter.sim)}, {c(SimCounter.window)}, "
                f"{c(SimCounter.window_start)}) DO UPDATE SET {c(SimCounter.count)} = "
                f"EXCLUDED.{c(SimCounter.count)}")
            for n in range(1, len(COUNTER_WINDOWS) + 1)}


_last: tuple[peewee.Database, _Statements] | None = None


def _db_and_sql() -> tuple[peewee.Database, _Statements]:
    global _last
    db = Part._meta.database
    real = getattr(db, "obj", None) or db  # the proxy's current database
    if _last is None or _last[0] is not real:
        _last = (real, _Statements(real))
    return _last


def _rowcount(db: peewee.Database, sql: str, params: tuple[Any, ...]) -> int:
    return db.execute_sql(sql, params).rowcount


_utc = Part.sent_at.db_value  # UtcDateTimeField: aware datetime -> stored text


check_transition(M.QUEUED.value, M.SENDING)


def claim_one(msg_id: int, iccid: str, now: datetime) -> Message | None:
    """claim_messages for one candidate (queued, due, not expired, not pinned elsewhere), as
    fixed SQL: the claimed row (a Message with the columns a send needs), or None. On
    PostgreSQL the general claim runs instead (its SKIP LOCKED is what a fleet needs)."""
    db, sql = _db_and_sql()
    if not isinstance(db, peewee.SqliteDatabase):
        got = outbox.claim_messages(iccid, 1, now, candidate_ids=[msg_id])
        return got[0] if got else None
    stamp = _utc(now)
    params = (M.SENDING.value, iccid, stamp, msg_id, M.QUEUED.value, stamp, stamp, iccid)
    if _rowcount(db, sql.claim, params) != 1:
        return None
    db.execute_sql(sql.event, (msg_id, stamp, M.QUEUED.value, M.SENDING.value, "claimed", iccid))
    row = db.execute_sql(sql.claimed_row, (msg_id,)).fetchone()
    return Message(id=row[0], recipient=row[1], text=row[2], state=row[3], sim=row[4],
                   attempts=row[5], parts_count=row[6])


def stored_parts(msg_id: int) -> list[tuple]:
    """(id, index, pdu, tpdu_length, state, error) of a message's parts, in order."""
    db, sql = _db_and_sql()
    return db.execute_sql(sql.parts, (msg_id,)).fetchall()


def add_parts(msg_id: int, iccid: str, parts: list[tuple[str, int, int | None]]) -> list[int]:
    """Store a claimed message's encoded parts ((pdu, tpdu_length, concat_ref) each, in order);
    their ids. The caller has just claimed it in this transaction (claim_one)."""
    db, sql = _db_and_sql()
    if not isinstance(db, peewee.SqliteDatabase):  # no lastrowid: peewee's INSERT ... RETURNING
        return outbox.add_parts(msg_id, iccid, [
            outbox.NewPart(pdu=pdu, tpdu_length=length, concat_ref=ref)
            for pdu, length, ref in parts])
    count = len(parts)
    ids = [db.execute_sql(sql.add_part, (msg_id, n, count, ref, pdu, length, iccid,
                                         P.PENDING.value)).lastrowid
           for n, (pdu, length, ref) in enumerate(parts, start=1)]
    db.execute_sql(sql.parts_count, (count, msg_id))
    return ids


def mark_part_sending(part_id: int, now: datetime | None = None) -> None:
    """pending -> sending (attempts + 1): committed before the part's PDU is written."""
    db, sql = _db_and_sql()
    if _rowcount(db, sql.part_sending, (P.SENDING.value, part_id, P.PENDING.value)) != 1:
        outbox.transition_part(part_id, P.SENDING, now=now)


def mark_part_sent(part_id: int, message_reference: int, now: datetime) -> None:
    """sending -> sent, with the +CMGS reference and when; charged to its message's quota
    accounts (if any: store.ledger)."""
    db, sql = _db_and_sql()
    params = (P.SENT.value, _utc(now), message_reference, part_id, P.SENDING.value)
    if _rowcount(db, sql.part_sent, params) != 1:
        outbox.transition_part(part_id, P.SENT, message_reference=message_reference, now=now)
    ledger.charge_part(part_id, now)  # a part is charged as it is sent, in the same commit


def mark_message_sent(msg_id: int, detail: str, sim: str, now: datetime) -> None:
    """sending -> sent (every part has its reference), with its event."""
    db, sql = _db_and_sql()
    stamp = _utc(now)
    if _rowcount(db, sql.message_sent, (M.SENT.value, stamp, stamp, msg_id, M.SENDING.value)) != 1:
        outbox.transition_message(msg_id, M.SENT, detail, sim, now=now)
        return
    db.execute_sql(sql.event, (msg_id, stamp, M.SENDING.value, M.SENT.value, detail, sim))


def save_counters(iccid: str, counters: dict[str, Any], tz: tzinfo) -> None:
    """sims.save_counters, one fixed upsert per window."""
    db, sql = _db_and_sql()
    to_db = SimCounter.window_start.db_value
    params: list[Any] = []
    for window in COUNTER_WINDOWS:
        item = counters.get(window)
        start = item.get("start") if isinstance(item, dict) else None
        if not start:
            continue
        local = datetime.fromisoformat(start).astimezone(tz).replace(tzinfo=None)
        params += (iccid, window, to_db(local), int(item.get("count", 0)))
    if params:
        db.execute_sql(sql.counters[len(params) // 4], tuple(params))


__all__ = ["add_parts", "claim_one", "mark_message_sent", "mark_part_sending", "mark_part_sent",
           "save_counters", "stored_parts"]
