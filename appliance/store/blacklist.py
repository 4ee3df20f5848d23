"""The blacklist's persistence: numbers no message may be sent to, with why and who said so.

Knows: the BlacklistEntry table, the sources an entry may come from, and which outbound messages
to a number are still waiting (the candidates for cancelling).
Must not know: how numbers are normalised (callers pass the stored form: E.164 when the number
normalises, else as given), the dispatcher (cancelling is `appliance.contacts.blacklist`'s job,
through `Dispatcher.cancel`), HTTP, or the event loop.

Every function is synchronous and runs inside `Store.write` (or `Store.read` for the readers).
"""

from __future__ import annotations

from typing import Any

from appliance.store.db import utcnow
from appliance.store.models import BlacklistEntry, Message
from appliance.store.states import MessageState

SOURCES = ("sms", "api", "rule", "console")
"""sms: the recipient asked (TD, 退订...); api / console: a user; rule: an auto-answer rule."""

MAX_PAGE = 500

# Not yet handed to a modem, or claimed but maybe still in a SIM's queue: Dispatcher.cancel
# decides which of the `sending` ones can still be stopped (a part on its way is left alone).
_WAITING = (MessageState.QUEUED.value, MessageState.HELD.value, MessageState.SENDING.value)


def _check_source(source: str) -> None:
    if source not in SOURCES:
        raise ValueError(f'unknown blacklist source "{source}" (known: {", ".join(SOURCES)})')


def _entry(row: BlacklistEntry) -> dict[str, Any]:
    return {"number": row.number, "reason": row.reason, "source": row.source,
            "created_at": row.created_at}


def add(number: str, reason: str, source: str) -> bool:
    """Put `number` on the blacklist; True when newly added. A number already there keeps its
    first reason, source and time (the first "TD" is the one that counts)."""
    _check_source(source)
    if BlacklistEntry.get_or_none(BlacklistEntry.number == number) is not None:
        return False
    BlacklistEntry.create(number=number, reason=reason, source=source, created_at=utcnow())
    return True


def remove(number: str, sources: tuple[str, ...] | None = None) -> bool:
    """Take `number` off the blacklist (only an entry from one of `sources`, when given);
    True when it was on it."""
    where = BlacklistEntry.number == number
    if sources is not None:
        where &= BlacklistEntry.source.in_(sources)
    return BlacklistEntry.delete().where(where).execute() > 0


def contains(number: str) -> bool:
    return BlacklistEntry.select().where(BlacklistEntry.number == number).exists()


def get(number: str) -> dict[str, Any] | None:
    """{"number", "reason", "source", "created_at"}, or None when `number` is not listed."""
    row = BlacklistEntry.get_or_none(BlacklistEntry.number == number)
    return _entry(row) if row is not None else None


def reasons(numbers: list[str]) -> dict[str, str]:
    """{number: reason} for those of `numbers` on the blacklist."""
    if not numbers:
        return {}
    return {r.number: r.reason for r in BlacklistEntry.select(
        BlacklistEntry.number, BlacklistEntry.reason).where(BlacklistEntry.number.in_(numbers))}


def all_entries() -> dict[str, str]:
    """{number: reason} of the whole blacklist: what the appliance loads into memory at start
    (tens of thousands of short rows are a few MB at most)."""
    return dict(BlacklistEntry.select(BlacklistEntry.number, BlacklistEntry.reason).tuples())


def list_entries(q: str = "", *, limit: int = 50,
                 offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """Entries newest first, `limit` from `offset`, and how many match; `q` matches a part of
    the number or the reason."""
    query = BlacklistEntry.select()
    if q:
        query = query.where(BlacklistEntry.number.contains(q) | BlacklistEntry.reason.contains(q))
    total = query.count()
    rows = query.order_by(BlacklistEntry.id.desc()).limit(max(1, min(limit, MAX_PAGE))).offset(
        max(0, offset))
    return [_entry(r) for r in rows], total


def waiting_message_ids(number: str) -> list[int]:
    """Outbound messages to `number` that may still be stopped (queued, held, or claimed by a
    SIM), oldest first: what blacklisting the number cancels."""
    return [m.id for m in Message.select(Message.id).where(
        (Message.recipient == number) & Message.state.in_(_WAITING)).order_by(Message.id)]


__all__ = ["SOURCES", "add", "all_entries", "contains", "get", "list_entries", "reasons",
           "remove", "waiting_message_ids"]
