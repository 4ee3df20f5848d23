"""The stored figures of the console's dashboard, read in one go on a store reader.

Knows: the Message and InboxMessage tables, and which index answers each figure.
Must not know: the live pool, the dispatcher's counters, HTTP. Synchronous, meant for
`Store.read` (never on the event loop).

The dashboard is re-read about once a second while messages move, so nothing here may cost in
proportion to the whole table (a million messages on a Pi): every figure is a bounded read.
- sent today:               COUNT over message(sent_at), only today's range (migration 17)
- delivered / failed today: COUNT ... GROUP BY state over message(state, final_at), today's
                            range of each final state (migration 17)
- queue depth by priority:  store.metrics' query over message(state, priority, id), waiting range
- a SIM's last failure:     message(sim, state), newest entry of its failed and ambiguous ranges
- recent replies:           the inbox's newest rows by id (store.inbox.list_messages)
Each part is its own read, so a live page re-reads only what an event changed.
"Today" is the caller's: the local calendar day's bounds in UTC (dispatch.rates.window_start).
tests/store/test_dashboard_queries.py checks the plans.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from peewee import fn

from appliance.store import inbox
from appliance.store.metrics import queue_depth_query
from appliance.store.models import Message
from appliance.store.states import TERMINAL_MESSAGE_STATES, MessageState

FINAL_STATES = tuple(sorted(s.value for s in TERMINAL_MESSAGE_STATES))
FAILURE_STATES = (MessageState.FAILED.value, MessageState.AMBIGUOUS.value)
"""The states whose message error is shown as a SIM's last error."""


@dataclass(frozen=True)
class TodayCounts:
    """Messages of one local day: sent (every part left) and finished, by final state."""

    sent: int = 0
    delivered: int = 0
    failed: int = 0
    expired: int = 0
    cancelled: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"sent": self.sent, "delivered": self.delivered, "failed": self.failed,
                "expired": self.expired, "cancelled": self.cancelled}


@dataclass(frozen=True)
class LastFailure:
    message_id: int
    state: str
    error: str
    at: datetime | None


@dataclass(frozen=True)
class DashboardFigures:
    """Today's counts and the queue, at one instant (one read transaction)."""

    today: TodayCounts
    queue_by_priority: dict[int, int]
    """priority -> messages waiting (queued or held), highest priority first."""
    held: int = 0
    """Of those, the held ones: for a later time (send_at, quiet hours, a caps window), an
    approval or a paused campaign's resume; they do not go now."""

    @property
    def queued(self) -> int:
        return sum(self.queue_by_priority.values())


def sent_between_query(start: datetime, end: datetime):  # noqa: ANN201 - a peewee query
    return (Message.select(fn.COUNT(Message.id))
            .where((Message.sent_at >= start) & (Message.sent_at < end)))


def finished_between_query(start: datetime, end: datetime):  # noqa: ANN201
    return (Message.select(Message.state, fn.COUNT(Message.id))
            .where(Message.state.in_(FINAL_STATES)
                   & (Message.final_at >= start) & (Message.final_at < end))
            .group_by(Message.state))


def today_counts(start: datetime, end: datetime) -> TodayCounts:
    """Messages sent, and finished by state, in [start, end)."""
    sent = sent_between_query(start, end).scalar() or 0
    finished = dict(finished_between_query(start, end).tuples())
    return TodayCounts(sent=sent, delivered=finished.get(MessageState.DELIVERED.value, 0),
                       failed=finished.get(MessageState.FAILED.value, 0),
                       expired=finished.get(MessageState.EXPIRED.value, 0),
                       cancelled=finished.get(MessageState.CANCELLED.value, 0))


def queue_by_priority() -> dict[int, int]:
    """Messages waiting (queued or held) per priority, highest first."""
    return _queue()[0]


def _queue() -> tuple[dict[int, int], int]:
    """(messages waiting per priority, highest first; how many of them are held)."""
    depth: dict[int, int] = {}
    held = 0
    for state, priority, count in queue_depth_query().tuples():
        depth[priority] = depth.get(priority, 0) + count
        if state == MessageState.HELD.value:
            held += count
    return dict(sorted(depth.items(), reverse=True)), held


def last_failure_query(iccid: str, state: str):  # noqa: ANN201
    return (Message.select(Message.id, Message.state, Message.error, Message.final_at,
                           Message.updated_at)
            .where((Message.sim == iccid) & (Message.state == state))
            .order_by(Message.id.desc()).limit(1))


def last_failures(iccids: Iterable[str]) -> dict[str, LastFailure]:
    """Per SIM, its newest failed or ambiguous message (one indexed look-up per SIM and
    state: a SIM that failed 10,000 times costs no more than one that failed once)."""
    out: dict[str, LastFailure] = {}
    for iccid in iccids:
        newest = None
        for state in FAILURE_STATES:
            row = last_failure_query(iccid, state).first()
            if row is not None and (newest is None or row.id > newest.id):
                newest = row
        if newest is not None:
            out[iccid] = LastFailure(newest.id, newest.state, newest.error or newest.state,
                                     newest.final_at or newest.updated_at)
    return out


def read_figures(start: datetime, end: datetime) -> DashboardFigures:
    """Today's counts ([start, end)) and the queue by priority, in one read transaction."""
    depth, held = _queue()
    return DashboardFigures(today=today_counts(start, end), queue_by_priority=depth, held=held)


def recent_replies(limit: int = 8) -> list[dict[str, Any]]:
    """The newest inbox messages, newest first (store.inbox.message_dict, with "contact")."""
    return inbox.list_messages(limit=limit, ascending=False)


__all__ = ["DashboardFigures", "FAILURE_STATES", "FINAL_STATES", "LastFailure", "TodayCounts",
           "finished_between_query", "last_failure_query", "last_failures", "queue_by_priority",
           "read_figures", "recent_replies", "sent_between_query", "today_counts"]
