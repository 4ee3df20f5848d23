"""What the Kannel adapter keeps: a sendsms request's own fields per message, the DLR types
fired, and the SIM a caller's `smsc` names.

Knows: the KannelMessage, Message, Part and Sim tables.
Must not know: Kannel's escape codes or which state fires which DLR type (compat.kannel_dlr
decides; these functions only read the facts and record what was fired), HTTP.

Like every store function these are synchronous, for `Store.read` / `Store.write`. The rows
themselves are inserted with their messages, in acceptance's transaction (`row`, `COLUMNS`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from appliance.store.models import KannelMessage, Message, Part, Sim

CHUNK = 500


@dataclass(frozen=True)
class KannelFields:
    """A sendsms request's fields kept with each of its messages."""

    service: str = ""
    sender: str = ""
    account: str = ""
    smsc: str = ""
    charset: str = ""
    coding: int | None = None
    mclass: int | None = None
    udh: str = ""  # hex
    binfo: str = ""
    validity_at: datetime | None = None
    deferred_at: datetime | None = None
    dlr_mask: int = 0
    dlr_url: str = ""


COLUMNS = tuple(f.column_name for f in (
    KannelMessage.message, KannelMessage.service, KannelMessage.sender, KannelMessage.account,
    KannelMessage.smsc, KannelMessage.charset, KannelMessage.coding, KannelMessage.mclass,
    KannelMessage.udh, KannelMessage.binfo, KannelMessage.validity_at, KannelMessage.deferred_at,
    KannelMessage.dlr_mask, KannelMessage.dlr_url, KannelMessage.fired, KannelMessage.open))

_TIME = KannelMessage.validity_at.db_value


def row(message_id: int, f: KannelFields) -> tuple[Any, ...]:
    """The storage-form tuple of one message's fields, in COLUMNS order."""
    wants_reports = bool(f.dlr_mask and f.dlr_url)
    return (message_id, f.service, f.sender, f.account, f.smsc, f.charset, f.coding, f.mclass,
            f.udh, f.binfo, None if f.validity_at is None else _TIME(f.validity_at),
            None if f.deferred_at is None else _TIME(f.deferred_at),
            f.dlr_mask if wants_reports else 0, f.dlr_url, 0, wants_reports)


def sim_named(name: str) -> str | None:
    """The ICCID of the SIM whose label (or ICCID) is `name`, or None. An enabled SIM first
    when two share a label."""
    query = (Sim.select(Sim.iccid).where((Sim.label == name) | (Sim.iccid == name))
             .order_by(Sim.enabled.desc(), Sim.iccid).tuples())
    found = query.first()
    return None if found is None else found[0]


@dataclass(frozen=True)
class ReportSource:
    """The facts a message's delivery reports are rendered from."""

    message_id: int
    state: str
    recipient: str
    sim: str | None
    sim_label: str
    sim_number: str
    error: str
    sent_at: datetime | None
    final_at: datetime | None
    updated_at: datetime | None
    foreign_id: str  # TP-MR of the first part that has one
    fields: KannelFields
    fired: int


def open_reports(message_ids: Iterable[int] | None = None) -> list[ReportSource]:
    """Messages (all, or of `message_ids`) that may still owe delivery reports."""
    k = KannelMessage
    base = (k.select(k.message, k.service, k.sender, k.account, k.smsc, k.charset, k.coding,
                     k.mclass, k.udh, k.binfo, k.validity_at, k.deferred_at, k.dlr_mask,
                     k.dlr_url, k.fired, Message.state, Message.recipient, Message.sim,
                     Message.error, Message.sent_at, Message.final_at, Message.updated_at)
            .join(Message, on=(k.message == Message.id))
            .where(k.open == True))  # noqa: E712 - peewee expression
    if message_ids is None:
        queries = [base.order_by(k.message)]
    else:
        wanted = sorted(set(message_ids))
        queries = [base.where(k.message.in_(wanted[i:i + CHUNK]))
                   for i in range(0, len(wanted), CHUNK)]
    rows = [r for q in queries for r in q.dicts()]
    if not rows:
        return []
    ids = [r["message"] for r in rows]
    references: dict[int, int] = {}
    for i in range(0, len(ids), CHUNK):
        for mid, mr in (Part.select(Part.message, Part.message_reference)
                        .where(Part.message.in_(ids[i:i + CHUNK])
                               & Part.message_reference.is_null(False))
                        .order_by(Part.index.desc()).tuples()):
            references[mid] = mr  # lowest index last: it wins
    sims = {r["sim"] for r in rows if r["sim"]}
    labels = {iccid: (label, number) for iccid, label, number in
              Sim.select(Sim.iccid, Sim.label, Sim.own_number)
              .where(Sim.iccid.in_(list(sims))).tuples()} if sims else {}
    out = []
    for r in rows:
        mid = r["message"]
        label, number = labels.get(r["sim"] or "", ("", ""))
        out.append(ReportSource(
            message_id=mid, state=r["state"], recipient=r["recipient"], sim=r["sim"],
            sim_label=label, sim_number=number, error=r["error"], sent_at=r["sent_at"],
            final_at=r["final_at"], updated_at=r["updated_at"],
            foreign_id="" if mid not in references else str(references[mid]),
            fields=KannelFields(**{name: r[name] for name in _FIELD_NAMES}),
            fired=r["fired"]))
    return out


_FIELD_NAMES = tuple(KannelFields.__dataclass_fields__)


def mark_fired(marks: Iterable[tuple[int, int, bool]]) -> None:
    """Record (message id, DLR types fired so far, whether more may be owed) for each."""
    for message_id, fired, still_open in marks:
        (KannelMessage.update(fired=fired, open=still_open)
         .where(KannelMessage.message == message_id).execute())


def kannel_fields(message_id: int) -> KannelFields | None:
    """A message's Kannel fields, or None if it did not come through Kannel."""
    r = KannelMessage.get_or_none(KannelMessage.message == message_id)
    if r is None:
        return None
    return KannelFields(service=r.service, sender=r.sender, account=r.account, smsc=r.smsc,
                        charset=r.charset, coding=r.coding, mclass=r.mclass, udh=r.udh,
                        binfo=r.binfo, validity_at=r.validity_at, deferred_at=r.deferred_at,
                        dlr_mask=r.dlr_mask, dlr_url=r.dlr_url)


__all__ = ["COLUMNS", "KannelFields", "ReportSource", "kannel_fields", "mark_fired",
           "open_reports", "row", "sim_named"]
