"""Persistence of what the gateway knows about SIMs and modems, and what they report back.

Knows: the Sim, Modem, SimCounter, Setting, InboundMessage, QuarantinedPdu, StatusReportRecord
and Part tables. Must not know: policy (health rules, caps) — it stores the policy's values as
they are given — modems' protocol, HTTP.

Every function is synchronous, meant to run inside `Store.write` / `Store.read`.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from peewee import fn

from appliance.store import ledger
from appliance.store.db import utcnow
from appliance.store.models import (
    InboundMessage,
    Message,
    MessageEvent,
    Modem,
    Part,
    QuarantinedPdu,
    Setting,
    Sim,
    SimCounter,
    StatusReportRecord,
)
from appliance.store.states import MessageState, PartState, check_part_transition

P = PartState
M = MessageState


def upsert_modem_and_sim(*, imei: str, manufacturer: str, model: str, revision: str, port: str,
                         iccid: str, imsi: str, operator: str, operator_code: str,
                         own_number: str, now: datetime | None = None) -> None:
    """Remember a modem (by IMEI) and its SIM (by ICCID), whatever port it appeared on."""
    now = now or utcnow()
    if iccid:
        fields = {"imsi": imsi, "operator": operator, "operator_code": operator_code,
                  "own_number": own_number, "last_seen_at": now}
        if Sim.get_or_none(Sim.iccid == iccid) is None:
            Sim.create(iccid=iccid, created_at=now, **fields)
        else:
            Sim.update(**fields).where(Sim.iccid == iccid).execute()
    if imei:
        fields = {"manufacturer": manufacturer, "model": model, "revision": revision,
                  "last_port": port, "sim": iccid or None, "last_seen_at": now}
        if Modem.get_or_none(Modem.imei == imei) is None:
            Modem.create(imei=imei, **fields)
        else:
            Modem.update(**fields).where(Modem.imei == imei).execute()


def list_sims() -> list[dict[str, Any]]:
    """Every SIM the store has recorded, those seen last first."""
    s = Sim
    return list(s.select(s.iccid, s.imsi, s.label, s.operator, s.operator_code, s.own_number,
                         s.enabled, s.state, s.barred_reason, s.last_seen_at, s.created_at)
                .order_by(s.last_seen_at.desc(nulls="LAST"), s.iccid).dicts())


def ensure_sim(iccid: str, now: datetime | None = None) -> None:
    """A Sim row for `iccid`, created bare if the modem's identification is not stored yet."""
    if Sim.get_or_none(Sim.iccid == iccid) is None:
        now = now or utcnow()
        Sim.create(iccid=iccid, created_at=now, last_seen_at=now)


def _setting_key(kind: str, iccid: str) -> str:
    return f"{kind}:{iccid}"


def load_json_setting(kind: str, iccid: str) -> dict[str, Any] | None:
    row = Setting.get_or_none(Setting.key == _setting_key(kind, iccid))
    if row is None:
        return None
    try:
        return json.loads(row.value)
    except ValueError:
        return None


def save_json_setting(kind: str, iccid: str, value: dict[str, Any]) -> None:
    key = _setting_key(kind, iccid)
    text = json.dumps(value, sort_keys=True, default=str)
    Setting.insert(key=key, value=text).on_conflict(
        conflict_target=[Setting.key], update={Setting.value: text}).execute()


COUNTER_WINDOWS = ("minute", "hour", "day", "month")


def save_counters(iccid: str, counters: dict[str, Any], tz: tzinfo) -> None:
    """Store a SIM's calendar counters (rates.SimCounters.to_dict()) as SimCounter rows.

    Rows are kept per window start, so a day's count is still there for reports after the
    window has rolled over; the minute rows of the last day are also what load_counters rebuilds
    the sliding caps windows from. Keys other than the four windows (a "sends" list) are not
    stored here.
    """
    for window in COUNTER_WINDOWS:
        item = counters.get(window)
        start = item.get("start") if isinstance(item, dict) else None
        if not start:
            continue
        local = datetime.fromisoformat(start).astimezone(tz).replace(tzinfo=None)
        SimCounter.insert(sim=iccid, window=window, window_start=local,
                          count=int(item.get("count", 0))).on_conflict(
            conflict_target=[SimCounter.sim, SimCounter.window, SimCounter.window_start],
            update={SimCounter.count: int(item.get("count", 0))}).execute()


def _local_naive(value: Any) -> datetime:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


SENDS_KEPT = timedelta(days=1)
"""How far back load_counters rebuilds sends: the longest sliding caps window."""


def load_counters(iccid: str, tz: tzinfo) -> dict[str, Any]:
    """The latest row of each calendar window, in rates.SimCounters.from_dict() form, with
    "sends": the parts of the SIM's minute rows within a day of its latest one, so the sliding
    caps windows survive a restart.

    A minute row says how many parts left in that local minute, not when: each is given as sent
    at the last microsecond of its minute, the latest it can have been. The rebuilt windows can
    only over-count, by less than a minute (a SIM at a cap may wait up to 60 s longer after a
    restart), never let a window pass its cap. In the repeated hour of a DST fall-back both
    minutes share a local wall-clock row (the later one's count overwrote it), so there a
    restart may under-count; the row is placed in the later of the two hours.

    Reads go through the (sim, window, window_start) index: at most a day of minute rows (1,440)
    whatever the SIM's history, not a scan of its parts.
    """
    out: dict[str, Any] = {}
    for window in COUNTER_WINDOWS:
        row = (SimCounter.select().where((SimCounter.sim == iccid) & (SimCounter.window == window))
               .order_by(SimCounter.window_start.desc()).first())
        if row is None:
            continue
        start = _local_naive(row.window_start)
        out[window] = {"start": start.replace(tzinfo=tz).astimezone(UTC).isoformat(),
                       "count": row.count}
    if "minute" in out:
        latest = datetime.fromisoformat(out["minute"]["start"])
        # The slack hour covers a DST change inside the day (local wall-clock rows are not in
        # time order across a fall-back); the exact day is cut below, in UTC.
        since = (latest - SENDS_KEPT - timedelta(hours=1)).astimezone(tz).replace(tzinfo=None)
        rows = (SimCounter.select(SimCounter.window_start, SimCounter.count)
                .where((SimCounter.sim == iccid) & (SimCounter.window == "minute")
                       & (SimCounter.window_start >= since)).tuples())
        sends = []
        for start, count in rows:
            at = (_local_naive(start).replace(tzinfo=tz, fold=1).astimezone(UTC)
                  + timedelta(minutes=1) - timedelta(microseconds=1))
            if count > 0 and at > latest - SENDS_KEPT:
                sends.append([at.isoformat(), int(count)])
        out["sends"] = sorted(sends)
    return out


def save_sim_health(iccid: str, health: dict[str, Any], *, state: str, score: float,
                    rest_until: datetime | None, failures: int, barred_reason: str) -> None:
    save_json_setting("health", iccid, health)
    Sim.update(state=state, health=score, rest_until=rest_until, consecutive_failures=failures,
               barred_reason=barred_reason).where(Sim.iccid == iccid).execute()


def last_sims_by_recipient(since: datetime, limit: int | None = None) -> dict[str, str]:
    """recipient → the SIM that last wrote to them (sticky recipients survive a restart), in
    order of that last message, oldest first. With `limit`, only the latest `limit` messages
    are read (the dispatcher keeps a bounded number of recipients anyway)."""
    query = (Message.select(Message.recipient, Message.sim)
             .where(Message.sim.is_null(False) & (Message.sent_at >= since))
             .order_by(Message.sent_at.desc(), Message.id.desc()))
    if limit is not None:
        query = query.limit(limit)
    latest: dict[str, str] = {}
    for r in query.tuples():
        latest.setdefault(r[0], r[1])
    return dict(reversed(latest.items()))


def store_inbound(*, iccid: str, sender: str, text: str, received_at: datetime,
                  concat_ref: int | None, concat_count: int, concat_index: int,
                  smsc: str | None, pdu: str) -> int:
    """Store one received part; an identical part already stored (the modem gave it twice,
    e.g. read again after a crash before its delete) is not stored again."""
    digest = pdu_hash(pdu)
    if pdu:
        # The (sim, pdu_hash) index finds the candidates; comparing the PDU itself as well
        # keeps a hash collision from swallowing a message.
        existing = InboundMessage.get_or_none(
            (InboundMessage.sim == iccid) & (InboundMessage.pdu_hash == digest)
            & (InboundMessage.pdu == pdu))
        if existing is not None:
            return existing.id
    return InboundMessage.insert(
        sim=iccid, sender=sender, text=text, received_at=received_at, concat_ref=concat_ref,
        concat_count=concat_count, concat_index=concat_index, smsc=smsc, pdu=pdu,
        pdu_hash=digest).execute()


def pdu_hash(pdu: str) -> str:
    """What InboundMessage.pdu_hash holds: sha256 of the PDU text, hex (as migration 2 filled
    it for older rows)."""
    return hashlib.sha256(pdu.encode("utf-8")).hexdigest()


def store_quarantined(iccid: str, pdu: str, error: str) -> int:
    return QuarantinedPdu.insert(sim=iccid, pdu=pdu, error=error).execute()


def same_recipient(reported: str, stored: str) -> bool:
    """Whether a status report's recipient is the message's: reports give the number as the
    network saw it, national or international form, so the last 8 digits decide. An empty
    reported number matches nothing."""
    digits, have = reported.lstrip("+"), stored.lstrip("+")
    if not digits or not have:
        return False
    return have.endswith(digits[-8:]) or digits.endswith(have[-8:])


def apply_status_report(*, iccid: str, message_reference: int, recipient: str, status: int,
                        delivered: bool, final: bool, pdu: str, now: datetime | None = None,
                        window: timedelta = timedelta(days=3)) -> tuple[int | None, str | None]:
    """Match a report to its part (SIM + TP-MR + recipient, most recent first) and settle it.

    Returns (message id, new message state) when a message changed, else (message id or None,
    None). TP-MR is only 8 bits, so the match is limited to parts sent within `window`: a part
    `sent`, or `ambiguous` (its `sent_at` is when its +CMGS went unanswered; a part from before
    that was recorded falls back to its message's last change). The message is settled only
    from the state it was read in (compare-and-set), never over a change made meanwhile.
    """
    now = now or utcnow()
    recent = fn.COALESCE(Part.sent_at, Message.updated_at) >= Part.sent_at.db_value(now - window)
    candidates = (Part.select(Part, Message).join(Message)
                  .where((Part.sim == iccid) & (Part.message_reference == message_reference)
                         & Part.state.in_([P.SENT.value, P.AMBIGUOUS.value]) & recent)
                  .order_by(Part.id.desc()))
    part = next((c for c in candidates
                 if not recipient.lstrip("+") or same_recipient(recipient, c.message.recipient)),
                None)
    if part is None:
        # An ambiguous part never got its TP-MR (the +CMGS answer is what was lost), so a late
        # report can only be matched by SIM and recipient: the network did take that part.
        part = next((c for c in (Part.select(Part, Message).join(Message)
                                 .where((Part.sim == iccid) & Part.message_reference.is_null()
                                        & (Part.state == P.AMBIGUOUS.value) & recent)
                                 .order_by(Part.id.desc()))
                     if same_recipient(recipient, c.message.recipient)), None)
        if part is not None:
            Part.update(message_reference=message_reference).where(Part.id == part.id).execute()
    StatusReportRecord.insert(sim=iccid, message_reference=message_reference,
                              recipient=recipient, status=status, received_at=now,
                              part=part.id if part else None, pdu=pdu).execute()
    if part is None or not final:
        return (part.message_id if part else None, None)
    new = P.DELIVERED if delivered else P.FAILED
    check_part_transition(part.state, new)
    if Part.update(state=new.value, report_status=status, report_at=now).where(
            (Part.id == part.id) & (Part.state == part.state)).execute() != 1:
        return (part.message_id, None)
    msg = Message.get_by_id(part.message_id)
    states = [p.state for p in Part.select(Part.state).where(Part.message == msg.id)]
    target: MessageState | None = None
    if new is P.FAILED and msg.state in (M.SENT.value, M.AMBIGUOUS.value):
        target = M.FAILED
    elif all(s == P.DELIVERED.value for s in states) and msg.state in (
            M.SENT.value, M.AMBIGUOUS.value):
        target = M.DELIVERED
    if target is None:
        return (msg.id, None)
    error = "" if target is M.DELIVERED else f"status report: TP-Status {status:#04x}"
    changes: dict = {"state": target.value, "updated_at": now, "final_at": now, "error": error}
    if msg.sent_at is None:  # an ambiguous message: the report proves its part left, then
        changes["sent_at"] = part.sent_at or now
    changed = Message.update(**changes).where(
        (Message.id == msg.id) & (Message.state == msg.state)).execute()
    if changed != 1:  # it moved on since we read it: that change stands
        return (msg.id, None)
    MessageEvent.create(message=msg.id, at=now, old_state=msg.state, new_state=target.value,
                        detail=f"status report {status:#04x}", sim=iccid)
    if target is M.FAILED:
        ledger.refund_message(msg.id, now, error)
    return (msg.id, target.value)
