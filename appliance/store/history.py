"""The console's history (every message sent and received, filtered) and its replies list.

Knows: the Message, InboxMessage and ReplyThread tables and the indexes migration 15 added for
them; keyset paging by id; how a date range becomes an id range.
Must not know: HTTP, templates, how numbers are normalised or dates are typed (the caller
passes E.164 numbers and aware UTC bounds), how an export is encoded.

Speed (a million messages on a Raspberry Pi): no COUNT over the message table, no OFFSET. A
page is the `limit` rows just before (or after) an id, newest first, read from an index that
already has the filter's column and the id in order: (state, id), (sim, id), (user_id, id),
(recipient, id), (campaign_id) [+ rowid], inbox (number, id), (sim, id).

A date range is turned into an id range: ids only grow, and a row's time is stamped when it is
written (`created_at` by the writer at acceptance, `received_at` at arrival), so the first id
at or after an instant is found by a binary search over the primary key (~20 look-ups). The
time condition is kept on the rows too, so a clock that stepped back (a Pi without a
real-time clock before NTP) can only leave out a row stamped out of order, never add one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import peewee

from appliance.store.contacts import contacts_for_numbers
from appliance.store.models import (
    Campaign,
    Contact,
    ContactNumber,
    InboxMessage,
    Message,
    ReplyThread,
    Sim,
    User,
)

MAX_PAGE = 200
MAX_CHUNK = 2000
"""Rows per read for an export (a page on screen is at most MAX_PAGE)."""
MAX_CONTACT_NUMBERS = 500
"""The numbers a contact filter may stand for (every contact whose name matches, each with
its numbers): beyond this the filter says to be more precise."""


class TooManyNumbers(ValueError):
    """A contact filter that matches more numbers than MAX_CONTACT_NUMBERS."""


@dataclass(frozen=True)
class OutboundFilter:
    """What the outbound tab shows: every condition given is ANDed. `numbers`: None for any,
    else the recipients allowed (an empty set matches nothing). Times are aware UTC, `since`
    inclusive and `until` exclusive."""

    since: datetime | None = None
    until: datetime | None = None
    numbers: frozenset[str] | None = None
    state: str | None = None
    sim: str | None = None
    user_id: int | None = None
    campaign_id: int | None = None


@dataclass(frozen=True)
class InboundFilter:
    since: datetime | None = None
    until: datetime | None = None
    numbers: frozenset[str] | None = None
    sim: str | None = None


@dataclass
class Page:
    """Rows newest first; `older`: the id to pass as `before` for the next page (None at the
    end); `newer`: the id to pass as `after` for the page before (None on the first page)."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    older: int | None = None
    newer: int | None = None


# -- date range to id range -------------------------------------------------------------------


def first_id_at_or_after(model: type[peewee.Model], stamp: peewee.Field,
                         when: datetime) -> int | None:
    """The smallest id whose `stamp` is at or after `when` (None: every row is earlier), by a
    binary search over the primary key (ids grow with time: see the module docstring)."""
    table, pk = model._meta.table_name, model._meta.primary_key
    db = model._meta.database
    # Two statements: SQLite answers a lone MIN() or MAX() from the index's end, but scans
    # the whole table for both in one SELECT.
    low, high = (db.execute_sql(f'SELECT {end}("{pk.column_name}") FROM "{table}"').fetchone()[0]
                 for end in ("MIN", "MAX"))
    if low is None:
        return None
    wanted = stamp.db_value(when)
    # Plain SQL: ~40 look-ups per date range, where building each with peewee cost more
    # than reading it.
    probe = (f'SELECT "{pk.column_name}", "{stamp.column_name}" FROM "{table}" '
             f'WHERE "{pk.column_name}" >= {db.param} ORDER BY "{pk.column_name}" LIMIT 1')

    def first_from(ident: int) -> tuple[int, str]:
        """The first existing id at or after `ident`, and its stamp as stored."""
        found, at = db.execute_sql(probe, (ident,)).fetchone()
        return found, stamp.db_value(stamp.python_value(at))

    if first_from(high)[1] < wanted:
        return None
    # The smallest id value whose first existing row is stamped at or after `when`.
    while low < high:
        mid = (low + high) // 2
        if first_from(mid)[1] >= wanted:
            high = mid
        else:
            low = mid + 1
    return first_from(low)[0]


def _id_range(model: type[peewee.Model], stamp: peewee.Field, since: datetime | None,
              until: datetime | None) -> list[peewee.Expression] | None:
    """Conditions for [since, until) on ids and on the stamp; None: nothing can match."""
    pk = model._meta.primary_key
    where: list[peewee.Expression] = []
    if since is not None:
        first = first_id_at_or_after(model, stamp, since)
        if first is None:
            return None
        where += [pk >= first, stamp >= since]
    if until is not None:
        end = first_id_at_or_after(model, stamp, until)
        if end is not None:
            where.append(pk < end)
        where.append(stamp < until)
    return where


# -- pages -------------------------------------------------------------------------------------


def _page(query: peewee.ModelSelect, pk: peewee.Field, where: list[peewee.Expression],
          before: int | None, after: int | None, limit: int, probe_newer: bool = True,
          ) -> tuple[list[Any], int | None, int | None]:
    """Keyset paging: (rows newest first, older, newer) for `where`. `probe_newer` False: an
    export's chunk, which never goes back (`newer` stays None)."""
    limit = max(1, min(limit, MAX_PAGE if probe_newer else MAX_CHUNK))

    def select(*conditions: peewee.Expression) -> peewee.ModelSelect:
        every = [*where, *conditions]
        return (query.where(*every) if every else query).dicts()

    def probe(condition: peewee.Expression) -> bool:
        return select(condition).limit(1).exists()

    if after is not None:
        rows = list(select(pk > after).order_by(pk.asc()).limit(limit + 1))
        more_newer = len(rows) > limit
        rows = rows[:limit]
        rows.reverse()
        newer = rows[0]["id"] if more_newer else None
        older = rows[-1]["id"] if rows and probe(pk < rows[-1]["id"]) else None
        return rows, older, newer
    cond = [pk < before] if before is not None else []
    rows = list(select(*cond).order_by(pk.desc()).limit(limit + 1))
    more_older = len(rows) > limit
    rows = rows[:limit]
    older = rows[-1]["id"] if more_older else None
    newer = (rows[0]["id"] if probe_newer and before is not None and rows
             and probe(pk > rows[0]["id"]) else None)
    return rows, older, newer


def _plain(field: peewee.Field) -> peewee.ColumnBase:
    """`field` in a condition that must not pick the index: SQLite's unary "+" (sqlite.org,
    "The SQLite Query Optimizer Overview", §disqualifying WHERE clause terms). Without
    statistics (the box never runs ANALYZE) SQLite takes any equality's index, and for a
    campaign's failed messages of one user it walked the user's 80,000 rows instead of the
    campaign's 2,000; PostgreSQL plans from its own statistics."""
    db = getattr(Message._meta.database, "obj", None) or Message._meta.database
    if isinstance(db, peewee.SqliteDatabase):
        return peewee.NodeList((peewee.SQL("+"), field), glue="")
    return field


def _outbound_where(f: OutboundFilter) -> list[peewee.Expression] | None:
    m = Message
    where = _id_range(m, m.created_at, f.since, f.until)
    if where is None or (f.numbers is not None and not f.numbers):
        return None
    # The most selective filter given keeps its index (a number's messages are few, then a
    # campaign's); the others are checked on the rows that index finds.
    narrow = f.numbers is not None or f.campaign_id is not None
    if f.numbers is not None:
        numbers = sorted(f.numbers)
        where.append(m.recipient == numbers[0] if len(numbers) == 1
                     else m.recipient.in_(numbers))
    if f.campaign_id is not None:
        column = _plain(m.campaign) if f.numbers is not None else m.campaign
        where.append(column == f.campaign_id)
    if f.state:
        where.append((_plain(m.state) if narrow else m.state) == f.state)
    if f.sim:
        where.append((_plain(m.sim) if narrow else m.sim) == f.sim)
    if f.user_id is not None:
        where.append((_plain(m.user_id) if narrow else m.user_id) == f.user_id)
    return where


_OUT_COLUMNS = (Message.id, Message.created_at, Message.recipient, Message.text, Message.state,
                Message.sim, Message.user_id, Message.campaign, Message.parts_count,
                Message.error, Message.sent_at, Message.final_at, Message.submitter_kind)


def outbound_page(f: OutboundFilter, *, before: int | None = None, after: int | None = None,
                  limit: int = 50, probe_newer: bool = True) -> Page:
    """One page of outbound messages matching `f`, newest first, with the names the console
    shows (contact, user, campaign, SIM label) looked up for that page only."""
    where = _outbound_where(f)
    if where is None:
        return Page()
    rows, older, newer = _page(Message.select(*_OUT_COLUMNS), Message.id, where, before,
                               after, limit, probe_newer)
    return Page(_outbound_dicts(rows), older, newer)


def _outbound_dicts(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    names = contacts_for_numbers(r["recipient"] for r in rows)
    users = _user_names({r["user_id"] for r in rows if r["user_id"] is not None})
    campaigns = _campaign_names({r["campaign"] for r in rows if r["campaign"] is not None})
    sims = sim_labels({r["sim"] for r in rows if r["sim"]})
    return [{"id": r["id"], "at": r["created_at"], "number": r["recipient"],
             "contact": (names.get(r["recipient"]) or {}).get("name"), "text": r["text"],
             "state": r["state"], "sim": r["sim"], "sim_label": sims.get(r["sim"], ""),
             "user_id": r["user_id"], "user": users.get(r["user_id"]),
             "campaign_id": r["campaign"], "campaign": campaigns.get(r["campaign"]),
             "parts": r["parts_count"], "error": r["error"], "sent_at": r["sent_at"],
             "final_at": r["final_at"], "submitter_kind": r["submitter_kind"]} for r in rows]


def _inbound_where(f: InboundFilter) -> list[peewee.Expression] | None:
    m = InboxMessage
    where = _id_range(m, m.received_at, f.since, f.until)
    if where is None or (f.numbers is not None and not f.numbers):
        return None
    if f.numbers is not None:
        numbers = sorted(f.numbers)
        where.append(m.number == numbers[0] if len(numbers) == 1 else m.number.in_(numbers))
    if f.sim:
        where.append(m.sim == f.sim)
    return where


_IN_COLUMNS = (InboxMessage.id, InboxMessage.received_at, InboxMessage.number,
               InboxMessage.sender, InboxMessage.text, InboxMessage.sim, InboxMessage.partial,
               InboxMessage.smsc_at)


def inbound_page(f: InboundFilter, *, before: int | None = None, after: int | None = None,
                 limit: int = 50, probe_newer: bool = True) -> Page:
    """One page of received messages matching `f`, newest first."""
    where = _inbound_where(f)
    if where is None:
        return Page()
    rows, older, newer = _page(InboxMessage.select(*_IN_COLUMNS), InboxMessage.id, where,
                               before, after, limit, probe_newer)
    return Page(_inbound_dicts(rows), older, newer)


def _inbound_dicts(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    names = contacts_for_numbers(r["number"] for r in rows)
    sims = sim_labels({r["sim"] for r in rows if r["sim"]})
    return [{"id": r["id"], "at": r["received_at"], "number": r["number"],
             "sender": r["sender"], "contact": (names.get(r["number"]) or {}).get("name"),
             "text": r["text"], "sim": r["sim"], "sim_label": sims.get(r["sim"], ""),
             "partial": bool(r["partial"]), "smsc_at": r["smsc_at"]} for r in rows]


# -- names for a page ----------------------------------------------------------------------------


def _user_names(ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    return {r.id: r.display_name or r.name
            for r in User.select(User.id, User.name, User.display_name).where(User.id.in_(ids))}


def _campaign_names(ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    return {r.id: r.name
            for r in Campaign.select(Campaign.id, Campaign.name).where(Campaign.id.in_(ids))}


def sim_labels(iccids: set[str]) -> dict[str, str]:
    """ICCID -> the SIM's label (or its own number), for the SIMs a page names."""
    if not iccids:
        return {}
    return {r.iccid: r.label or r.own_number or ""
            for r in Sim.select(Sim.iccid, Sim.label, Sim.own_number)
            .where(Sim.iccid.in_(iccids))}


# -- what the filters offer -------------------------------------------------------------------


def filter_choices(campaigns: int = 200) -> dict[str, list[dict[str, Any]]]:
    """The SIMs, users and latest `campaigns` campaigns the filter lists offer."""
    sims = [{"iccid": r.iccid, "label": r.label or r.own_number or r.operator or ""}
            for r in Sim.select(Sim.iccid, Sim.label, Sim.own_number, Sim.operator)
            .order_by(Sim.iccid)]
    users = [{"id": r.id, "name": r.display_name or r.name}
             for r in User.select(User.id, User.name, User.display_name).order_by(User.name)]
    recent = [{"id": r.id, "name": r.name}
              for r in Campaign.select(Campaign.id, Campaign.name)
              .order_by(Campaign.id.desc()).limit(campaigns)]
    return {"sims": sims, "users": users, "campaigns": recent}


def numbers_of_contacts_named(text: str) -> frozenset[str]:
    """Every number of every contact whose name contains `text` (case-insensitive). Raises
    TooManyNumbers past MAX_CONTACT_NUMBERS."""
    rows = (ContactNumber.select(ContactNumber.number).join(Contact)
            .where(Contact.name.contains(text)).limit(MAX_CONTACT_NUMBERS + 1))
    numbers = frozenset(r.number for r in rows)
    if len(numbers) > MAX_CONTACT_NUMBERS:
        raise TooManyNumbers(text)
    return numbers


# -- replies -------------------------------------------------------------------------------------


def reply_threads(*, before: int | None = None, limit: int = 50) -> Page:
    """Numbers that wrote to us, the latest first: each with its contact's name, its newest
    inbound message (text, time, SIM) and how many of its messages are unread. Paged by the
    newest message's id (`older` is the `before` of the next page)."""
    limit = max(1, min(limit, MAX_PAGE))
    t = ReplyThread
    query = t.select(t.number, t.last_inbox_id, t.read_upto_id)
    if before is not None:
        query = query.where(t.last_inbox_id < before)
    threads = list(query.order_by(t.last_inbox_id.desc()).limit(limit + 1))
    older = threads[limit - 1].last_inbox_id if len(threads) > limit else None
    threads = threads[:limit]
    last = {r.id: r for r in InboxMessage.select(
        InboxMessage.id, InboxMessage.text, InboxMessage.received_at, InboxMessage.sim)
        .where(InboxMessage.id.in_([x.last_inbox_id for x in threads]))}
    names = contacts_for_numbers(x.number for x in threads)
    unread = _unread_counts([x.number for x in threads if x.last_inbox_id > x.read_upto_id])
    rows = []
    for x in threads:
        newest = last.get(x.last_inbox_id)
        contact = names.get(x.number) or {}
        rows.append({"number": x.number, "contact": contact.get("name"),
                     "contact_id": contact.get("id"), "last_id": x.last_inbox_id,
                     "text": newest.text if newest else "",
                     "at": newest.received_at if newest else None,
                     "sim": newest.sim if newest else None,
                     "unread": unread.get(x.number, 0)})
    return Page(rows, older, None)


def _unread_counts(numbers: list[str]) -> dict[str, int]:
    """number -> messages after its read mark, in one query (an index range per number)."""
    if not numbers:
        return {}
    i, t = InboxMessage, ReplyThread
    rows = (i.select(i.number, peewee.fn.COUNT(i.id))
            .join(t, on=(t.number == i.number))
            .where(t.number.in_(numbers), i.id > t.read_upto_id)
            .group_by(i.number).tuples())
    return dict(rows)


def unread_threads() -> int:
    """How many numbers have a message not yet shown (the nav badge)."""
    t = ReplyThread
    return t.select().where(t.last_inbox_id > t.read_upto_id).count()


def mark_read(numbers: Iterable[str]) -> int:
    """Mark every message of `numbers` read (the thread was shown); returns how many threads
    changed. A write: run it on the writer."""
    t = ReplyThread
    return (t.update(read_upto_id=t.last_inbox_id)
            .where(t.number.in_(sorted(set(numbers))), t.read_upto_id < t.last_inbox_id)
            .execute())


def has_unread(numbers: Iterable[str]) -> bool:
    t = ReplyThread
    return (t.select().where(t.number.in_(sorted(set(numbers))),
                             t.read_upto_id < t.last_inbox_id).exists())


def last_inbound_sim(numbers: Iterable[str]) -> str | None:
    """The SIM that received the newest message from any of `numbers`: a reply leaves through
    it, so it comes from the number the sender wrote to."""
    numbers = sorted(set(numbers))
    if not numbers:
        return None
    row = (InboxMessage.select(InboxMessage.sim).where(InboxMessage.number.in_(numbers))
           .order_by(InboxMessage.id.desc()).limit(1).first())
    return row.sim if row is not None and row.sim else None


__all__ = ["InboundFilter", "MAX_CONTACT_NUMBERS", "MAX_PAGE", "OutboundFilter", "Page",
           "MAX_CHUNK", "TooManyNumbers", "filter_choices", "first_id_at_or_after", "has_unread",
           "inbound_page", "last_inbound_sim", "mark_read", "numbers_of_contacts_named",
           "outbound_page", "reply_threads", "sim_labels", "unread_threads"]
