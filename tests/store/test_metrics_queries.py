"""The /metrics figures: right counts, and every count answered from an index alone (a scrape
reads no table rows, whatever the number of messages)."""

from __future__ import annotations

from datetime import UTC, datetime

import peewee
import pytest

from appliance.store import metrics
from appliance.store.models import InboxMessage, Message, Modem, WebhookDelivery


def _plan(db: peewee.Database, query) -> str:
    sql, params = query.sql()
    rows = db.execute_sql(f"EXPLAIN QUERY PLAN {sql}", params).fetchall()
    return " | ".join(str(row[-1]) for row in rows)


@pytest.mark.parametrize("query", [metrics.messages_by_sim_and_state_query,
                                   metrics.queue_depth_query])
def test_every_message_count_is_a_covering_index_scan(db: peewee.Database, query) -> None:
    plan = _plan(db, query())
    assert "COVERING INDEX" in plan, plan
    assert "TEMP B-TREE" not in plan, plan  # grouped in index order: no sort


def test_the_queue_depth_reads_only_the_waiting_range(db: peewee.Database) -> None:
    plan = _plan(db, metrics.queue_depth_query())
    assert "SEARCH" in plan and "(state=?)" in plan, plan


def test_the_webhook_and_inbox_counts_read_an_index(db: peewee.Database) -> None:
    d = WebhookDelivery
    grouped = d.select(d.state, peewee.fn.COUNT(d.id)).group_by(d.state)
    assert "COVERING INDEX" in _plan(db, grouped)
    counted = InboxMessage.select(peewee.fn.COUNT(InboxMessage.id))
    assert "COVERING INDEX" in _plan(db, counted)


def _message(state: str, *, sim: str | None = None, priority: int = 0) -> None:
    Message.create(recipient="+8613800138000", text="x", state=state, sim=sim,
                   priority=priority)


def test_the_figures_count_what_is_stored(db: peewee.Database) -> None:
    now = datetime.now(UTC)
    for state, sim, priority in [("queued", None, 0), ("queued", None, 0), ("queued", None, 9),
                                 ("held", None, 0), ("sent", "8986A", 0), ("sent", "8986A", 0),
                                 ("failed", "8986A", 0), ("delivered", "8986B", 0),
                                 ("failed", None, 0)]:
        _message(state, sim=sim, priority=priority)
    for state in ("pending", "pending", "delivered"):
        WebhookDelivery.create(event="sms.received", payload="{}", state=state,
                               next_attempt_at=now, url="http://x/")
    InboxMessage.create(sim="8986B", sender="+8613900139000", number="+8613900139000",
                        text="hi", smsc_at=now, received_at=now)
    Modem.create(imei="860000000000001", last_port="/dev/ttyUSB2", sim="8986A")

    figures = metrics.read_figures()

    assert figures.messages_by_state["queued"] == 3
    assert figures.messages_by_state["failed"] == 2
    assert figures.messages_by_state["cancelled"] == 0  # every state, zeros included
    assert figures.queue_depth == {("queued", 0): 2, ("queued", 9): 1, ("held", 0): 1}
    assert figures.sim_messages == {("8986A", "sent"): 2, ("8986A", "failed"): 1,
                                    ("8986B", "delivered"): 1}
    assert figures.webhook_deliveries == {"pending": 2, "delivered": 1, "failed": 0}
    assert figures.inbox_messages == 1
    assert figures.recorded_modems == [
        metrics.RecordedModem(imei="860000000000001", port="/dev/ttyUSB2", iccid="8986A")]
