"""Conversation threads: what was sent to and received from a set of numbers, both directions
in one time order.

Knows: the Message (outbound, by recipient) and InboxMessage (inbound, by number) tables and
their (recipient, id) / (number, id) indexes; the order of a thread and its paging cursor.
Must not know: how numbers are normalised (callers pass stored forms), contacts' names (the
caller adds them: `store.contacts.contacts_for_numbers`), HTTP.

Order: by time, then inbound before outbound at the same instant, then id; outbound at its
acceptance (`created_at`: a message stays where it was written, whenever it left), inbound at
its arrival (`received_at`). A page is the `limit` items just before a cursor, returned oldest
first; the cursor (`Cursor`) is the order key of the page's oldest item, so items sharing a
time stamp (a batch accepted in one transaction) are neither lost nor repeated across pages.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from appliance.store.models import InboxMessage, Message

INBOUND, OUTBOUND = "in", "out"
_RANK = {INBOUND: 0, OUTBOUND: 1}


@dataclass(frozen=True)
class Cursor:
    """A position in a thread: items strictly before it come next."""

    at: datetime
    direction: str = OUTBOUND  # with the largest id: every item at `at` comes before it
    id: int = 2**63 - 1

    def key(self) -> tuple[datetime, int, int]:
        return (self.at, _RANK[self.direction], self.id)


def _outbound(numbers: list[str], cursor: Cursor | None, limit: int,
              owner: tuple[str, str] | None) -> list[dict[str, Any]]:
    query = Message.select(Message.id, Message.recipient, Message.text, Message.state,
                           Message.sim, Message.created_at, Message.sent_at, Message.final_at,
                           Message.error).where(Message.recipient.in_(numbers))
    if owner is not None:
        # A key sees its own messages and the appliance's own (auto-replies), not another
        # key's: as GET /messages/{id} does.
        query = query.where(((Message.submitter_kind == owner[0])
                             & (Message.submitter_id == owner[1]))
                            | (Message.submitter_kind == "system"))
    if cursor is not None:
        same = Message.created_at == cursor.at
        if cursor.direction == OUTBOUND:
            query = query.where((Message.created_at < cursor.at) | (same & (Message.id
                                                                            < cursor.id)))
        else:
            query = query.where(Message.created_at < cursor.at)
    rows = query.order_by(Message.created_at.desc(), Message.id.desc()).limit(limit)
    return [{"direction": OUTBOUND, "id": m.id, "number": m.recipient, "text": m.text,
             "state": m.state, "sim": m.sim, "at": m.created_at, "sent_at": m.sent_at,
             "final_at": m.final_at, "error": m.error or None} for m in rows]


def _inbound(numbers: list[str], cursor: Cursor | None, limit: int) -> list[dict[str, Any]]:
    query = InboxMessage.select(InboxMessage.id, InboxMessage.number, InboxMessage.sender,
                                InboxMessage.text, InboxMessage.sim, InboxMessage.modem,
                                InboxMessage.received_at, InboxMessage.smsc_at,
                                InboxMessage.partial).where(InboxMessage.number.in_(numbers))
    if cursor is not None:
        same = InboxMessage.received_at == cursor.at
        if cursor.direction == OUTBOUND:  # every inbound item at that instant is still to come
            query = query.where(InboxMessage.received_at <= cursor.at)
        else:
            query = query.where((InboxMessage.received_at < cursor.at)
                                | (same & (InboxMessage.id < cursor.id)))
    rows = query.order_by(InboxMessage.received_at.desc(), InboxMessage.id.desc()).limit(limit)
    return [{"direction": INBOUND, "id": m.id, "number": m.number, "sender": m.sender,
             "text": m.text, "sim": m.sim, "modem": m.modem, "at": m.received_at,
             "smsc_at": m.smsc_at, "partial": bool(m.partial)} for m in rows]


def _key(item: dict[str, Any]) -> tuple[datetime, int, int]:
    return (item["at"], _RANK[item["direction"]], item["id"])


def thread(numbers: Iterable[str], *, before: Cursor | None = None, limit: int = 50,
           owner: tuple[str, str] | None = None) -> tuple[list[dict[str, Any]], Cursor | None]:
    """The `limit` items of the thread with `numbers` just before `before` (None: the newest),
    oldest first, and the cursor of the page before them (None when there is none).
    `owner` (submitter_kind, submitter_id): only that submitter's outbound messages and the
    appliance's own; None: all."""
    numbers = sorted(set(numbers))
    if not numbers or limit <= 0:
        return [], None
    # limit + 1 of each: enough to know whether anything older is left.
    items = _outbound(numbers, before, limit + 1, owner) + _inbound(numbers, before, limit + 1)
    items.sort(key=_key, reverse=True)
    page, more = items[:limit], len(items) > limit
    page.reverse()
    cursor = None
    if more and page:
        oldest = page[0]
        cursor = Cursor(at=oldest["at"], direction=oldest["direction"], id=oldest["id"])
    return page, cursor


__all__ = ["INBOUND", "OUTBOUND", "Cursor", "thread"]
