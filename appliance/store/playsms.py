"""What playSMS webservices read: outgoing messages by key and queue, the inbox, and the
received messages the rules answered.

Knows: the Message, Sim, InboxMessage and RuleLog tables, and how a playSMS queue is kept:
a `pv` request's messages carry `client_ref = QUEUE_REF_PREFIX + <queue code>` (one request,
one client_ref, numbered by client_ref_seq as every multi-recipient request is). The queue is
thus written in the same transaction as the messages, and found through the unique index on
(submitter_kind, submitter_id, client_ref, client_ref_seq): no table of its own.
Must not know: HTTP, playSMS's answer formats (compat.playsms_ws), number normalisation (the
caller gives normalised numbers).

Every function is synchronous, meant to run inside `Store.read`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import peewee
from peewee import JOIN, fn

from appliance.store.models import InboxMessage, Message, RuleLog, Sim

QUEUE_REF_PREFIX = "playsms:"


def queue_ref(queue: str) -> str:
    return QUEUE_REF_PREFIX + queue


def _held(now: datetime) -> peewee.Expression:
    """Waiting for its time: playSMS's "still in queue" (not yet in the outgoing table)."""
    return (Message.state == "queued") & Message.send_at.is_null(False) & (Message.send_at > now)


def outgoing(*, key_id: int, now: datetime, count: int, last: int | None = None,
             smslog_id: int | None = None, queue: str = "", src: str = "",
             dst: str | None = None, dt: tuple[datetime, datetime] | None = None,
             ) -> list[dict[str, Any]]:
    """This key's messages, newest first, without those still waiting for their time. `src`
    is the sending SIM's own number; `dst` the recipient (E.164)."""
    query = (Message
             .select(Message.id, Message.recipient, Message.text, Message.state,
                     Message.created_at, Message.updated_at, Sim.own_number)
             .join(Sim, JOIN.LEFT_OUTER, on=(Message.sim == Sim.iccid))
             .where((Message.submitter_kind == "api_key")
                    & (Message.submitter_id == str(key_id)) & ~_held(now)))
    if queue:
        query = query.where(Message.client_ref == queue_ref(queue))
    if smslog_id is not None:
        query = query.where(Message.id == smslog_id)
    if last is not None:
        query = query.where(Message.id > last)
    if src:
        query = query.where(Sim.own_number == src)
    if dst is not None:
        query = query.where(Message.recipient == dst)
    if dt is not None:
        query = query.where((Message.created_at >= dt[0]) & (Message.created_at < dt[1]))
    rows = query.order_by(Message.id.desc()).limit(count).objects()
    return [{"id": r.id, "recipient": r.recipient, "text": r.text, "state": r.state,
             "created_at": r.created_at, "updated_at": r.updated_at,
             "src": r.own_number or ""} for r in rows]


def queue_state(*, key_id: int, queue: str, now: datetime) -> str | None:
    """"queued" when a message of this key's queue still waits for its time, "processed" when
    the queue exists and none waits, None when there is no such queue."""
    base = Message.select(Message.id).where(
        (Message.submitter_kind == "api_key") & (Message.submitter_id == str(key_id))
        & (Message.client_ref == queue_ref(queue)))
    if not base.exists():
        return None
    return "queued" if base.where(_held(now)).exists() else "processed"


def _received(query: peewee.ModelSelect, *, count: int, last: int | None, src: str | None,
              dst: str, dt: tuple[datetime, datetime] | None) -> peewee.ModelSelect:
    query = query.where(~InboxMessage.partial)
    if last is not None:
        query = query.where(InboxMessage.id > last)
    if src is not None:
        query = query.where(InboxMessage.number == src)
    if dst:
        query = query.where(Sim.own_number == dst)
    if dt is not None:
        query = query.where((InboxMessage.received_at >= dt[0])
                            & (InboxMessage.received_at < dt[1]))
    return query.order_by(InboxMessage.id.desc()).limit(count)


def inbox(*, count: int, last: int | None = None, src: str | None = None, dst: str = "",
          dt: tuple[datetime, datetime] | None = None) -> list[dict[str, Any]]:
    """Complete received messages, newest first; `src` the sender's number (E.164 or as
    received), `dst` the receiving SIM's own number. A partial message is left out until a
    late part completes it."""
    query = (InboxMessage
             .select(InboxMessage.id, InboxMessage.sender, InboxMessage.text,
                     InboxMessage.received_at, Sim.own_number)
             .join(Sim, JOIN.LEFT_OUTER, on=(InboxMessage.sim == Sim.iccid)))
    rows = _received(query, count=count, last=last, src=src, dst=dst, dt=dt).objects()
    return [{"id": r.id, "sender": r.sender, "text": r.text, "received_at": r.received_at,
             "dst": r.own_number or ""} for r in rows]


def incoming(*, count: int, last: int | None = None, src: str | None = None, dst: str = "",
             kwd: str = "", dt: tuple[datetime, datetime] | None = None,
             ) -> list[dict[str, Any]]:
    """Received messages that a rule (or the built-in unsubscribe) acted on, newest first,
    each with the name of the first rule that did (`kwd`); `kwd` given: only that rule's
    (case-insensitive)."""
    first = (RuleLog.select(RuleLog.inbox_id, fn.MIN(RuleLog.id).alias("log_id"))
             .where(RuleLog.inbox_id.is_null(False) & (RuleLog.outcome == "done"))
             .group_by(RuleLog.inbox_id).alias("first"))
    log = RuleLog.alias("log")
    query = (InboxMessage
             .select(InboxMessage.id, InboxMessage.sender, InboxMessage.text,
                     InboxMessage.received_at, Sim.own_number, log.rule_name)
             .join(first, on=(first.c.inbox_id == InboxMessage.id))
             .join(log, on=(log.id == first.c.log_id))
             .join(Sim, JOIN.LEFT_OUTER, on=(InboxMessage.sim == Sim.iccid)))
    if kwd:
        query = query.where(fn.LOWER(log.rule_name) == kwd.lower())
    rows = _received(query, count=count, last=last, src=src, dst=dst, dt=dt).objects()
    return [{"id": r.id, "sender": r.sender, "text": r.text, "received_at": r.received_at,
             "dst": r.own_number or "", "kwd": r.rule_name or "unsubscribe"} for r in rows]


__all__ = ["QUEUE_REF_PREFIX", "inbox", "incoming", "outgoing", "queue_ref", "queue_state"]
