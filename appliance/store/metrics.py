"""The stored figures `GET /metrics` shows, read in one go on a store reader.

Knows: the Message, WebhookDelivery, InboxMessage and Modem tables, and which index answers
each count. Must not know: Prometheus, HTTP, the live pool. Synchronous, meant for `Store.read`
(never on the event loop).

A scrape comes every 15-60 s whatever the traffic, so it must not cost per-message work in
Python: every figure is one COUNT ... GROUP BY that SQLite answers from an index alone (a
covering index scan, no table rows read, nothing loaded but the groups;
tests/store/test_metrics_queries.py checks the plans):
- messages by SIM and state, and (summed) by state:  message(sim, state), one scan
- queue depth by priority:      message(state, priority, id), only its queued/held range
- webhook deliveries by state:  webhook_delivery(state, next_attempt_at)
- received messages:            COUNT over inbox_message (SQLite counts its smallest index)
The modems recorded (a few rows) let a modem that was unplugged show as down, not vanish.
An index-only count still visits every entry (SQLite keeps no counts): read_figures took ~150 ms
for 500,000 messages on the development box, on a reader thread; running totals kept by the
writer would make it constant, at a cost on every state change.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from peewee import fn

from appliance.store import inbox, webhooks
from appliance.store.models import Message, Modem
from appliance.store.states import MessageState

WAITING_STATES = (MessageState.QUEUED.value, MessageState.HELD.value)
"""The states counted as queue depth: queued (due, or scheduled by send_at) and held (by a
policy: approval, quiet hours, a caps window)."""


@dataclass(frozen=True)
class RecordedModem:
    imei: str
    port: str
    iccid: str


@dataclass(frozen=True)
class StoreFigures:
    """Counts at one instant (one read transaction: WAL gives the reader a snapshot)."""

    messages_by_state: dict[str, int]
    """Every MessageState, zeros included (a series that appears only once non-zero breaks
    rate() and alerts on absence)."""
    queue_depth: dict[tuple[str, int], int]
    """(state, priority) -> messages, for the WAITING_STATES."""
    sim_messages: dict[tuple[str, str], int]
    """(ICCID, state) -> messages claimed by that SIM (its `sim` column) in that state."""
    webhook_deliveries: dict[str, int]
    """Deliveries by state (pending, delivered, failed); pending is the backlog."""
    inbox_messages: int
    """Received messages (inbox_message rows, long ones reassembled: one row each)."""
    recorded_modems: list[RecordedModem] = field(default_factory=list)


def messages_by_sim_and_state_query():  # noqa: ANN201 - a peewee query, for EXPLAIN in tests
    """(sim, state, count), sim None for messages no SIM claimed: ONE scan of the (sim, state)
    index gives both the per-SIM figures and, summed, the messages by state (two scans cost
    twice: ~115 ms each for 500,000 messages here)."""
    return (Message.select(Message.sim, Message.state, fn.COUNT(Message.id))
            .group_by(Message.sim, Message.state))


def queue_depth_query():  # noqa: ANN201
    return (Message.select(Message.state, Message.priority, fn.COUNT(Message.id))
            .where(Message.state.in_(WAITING_STATES))
            .group_by(Message.state, Message.priority))


def read_figures() -> StoreFigures:
    """Every stored figure of a scrape, in one read transaction."""
    by_state = dict.fromkeys((s.value for s in MessageState), 0)
    per_sim: dict[tuple[str, str], int] = {}
    for sim, state, count in messages_by_sim_and_state_query().tuples():
        by_state[state] = by_state.get(state, 0) + count
        if sim is not None:
            per_sim[(sim, state)] = count
    depth = {(state, priority): count
             for state, priority, count in queue_depth_query().tuples()}
    modems = [RecordedModem(imei=imei, port=port or "", iccid=sim or "")
              for imei, port, sim in Modem.select(Modem.imei, Modem.last_port, Modem.sim)
              .order_by(Modem.imei).tuples()]
    return StoreFigures(messages_by_state=by_state, queue_depth=depth, sim_messages=per_sim,
                        webhook_deliveries=webhooks.counts(),
                        inbox_messages=inbox.count_messages(), recorded_modems=modems)


__all__ = ["RecordedModem", "StoreFigures", "WAITING_STATES", "messages_by_sim_and_state_query",
           "queue_depth_query", "read_figures"]
