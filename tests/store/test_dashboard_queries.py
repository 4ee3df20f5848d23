"""The dashboard's stored figures: right counts of the local day, and every count a bounded
index read (the dashboard is re-read about once a second; a million messages must not make it
slow)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import peewee
import pytest

from appliance.dispatch.rates import next_window_start, window_start
from appliance.store import dashboard
from appliance.store.models import InboxMessage, Message

SHANGHAI = ZoneInfo("Asia/Shanghai")
# 10:00 in Shanghai on 2 December: the local day began at 16:00 UTC on 1 December.
NOW = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)
DAY_START = window_start("day", NOW, SHANGHAI)
DAY_END = next_window_start("day", NOW, SHANGHAI)


def _plan(db: peewee.Database, query) -> str:
    sql, params = query.sql()
    rows = db.execute_sql(f"EXPLAIN QUERY PLAN {sql}", params).fetchall()
    return " | ".join(str(row[-1]) for row in rows)


def test_the_local_day_is_what_today_means() -> None:
    assert DAY_START == datetime(2026, 12, 1, 16, 0, tzinfo=UTC)
    assert DAY_END == datetime(2026, 12, 2, 16, 0, tzinfo=UTC)


@pytest.mark.parametrize("query", [dashboard.sent_between_query,
                                   dashboard.finished_between_query])
def test_today_is_a_range_read_of_a_covering_index(db: peewee.Database, query) -> None:
    plan = _plan(db, query(DAY_START, DAY_END))
    assert "SEARCH" in plan and "COVERING INDEX" in plan, plan
    assert "TEMP B-TREE" not in plan, plan


def test_a_sims_last_failure_is_one_index_look_up(db: peewee.Database) -> None:
    plan = _plan(db, dashboard.last_failure_query("8986A", "failed"))
    assert "SEARCH" in plan and "(sim=? AND state=?)" in plan, plan
    assert "TEMP B-TREE" not in plan, plan  # the index is in id order: no sort


def _message(state: str, *, sent: datetime | None = None, final: datetime | None = None,
             sim: str | None = None, priority: int = 0, error: str = "") -> Message:
    return Message.create(recipient="+8613800138000", text="x", state=state, sim=sim,
                          priority=priority, sent_at=sent, final_at=final, error=error)


def test_the_counts_of_today_leave_yesterday_and_tomorrow_out(db: peewee.Database) -> None:
    yesterday = DAY_START - timedelta(microseconds=1)
    morning = DAY_START + timedelta(hours=1)
    _message("sent", sent=DAY_START)  # the first instant of the day is today
    _message("sent", sent=morning)
    _message("delivered", sent=yesterday, final=morning)  # sent yesterday, delivered today
    _message("delivered", sent=morning, final=morning)
    _message("failed", sent=morning, final=morning, sim="8986A")
    _message("failed", final=yesterday)
    _message("expired", final=morning)
    _message("sent", sent=DAY_END)  # tomorrow
    _message("queued")

    today = dashboard.today_counts(DAY_START, DAY_END)

    assert today == dashboard.TodayCounts(sent=4, delivered=2, failed=1, expired=1, cancelled=0)


def test_the_queue_the_failures_and_the_replies(db: peewee.Database) -> None:
    morning = DAY_START + timedelta(hours=2)
    for priority in (0, 0, 9):
        _message("queued", priority=priority)
    _message("held", priority=0)
    _message("failed", sent=morning, final=morning, sim="8986A", error="+CMS ERROR: 38")
    newest = _message("ambiguous", sent=morning, sim="8986A", error="no answer to +CMGS")
    _message("failed", final=morning, sim="8986B", error="")
    for n in range(10):
        InboxMessage.create(sim="8986A", sender=f"+861390013900{n}",
                            number=f"+861390013900{n}", text=f"<b>reply {n}</b>",
                            smsc_at=morning, received_at=morning)

    figures = dashboard.read_figures(DAY_START, DAY_END)
    failures = dashboard.last_failures(["8986A", "8986B", "8986C"])
    replies = dashboard.recent_replies(3)

    assert figures.queue_by_priority == {9: 1, 0: 3}
    assert list(figures.queue_by_priority) == [9, 0]  # highest priority first
    assert figures.queued == 4
    assert figures.today.failed == 2 and figures.today.sent == 2
    assert failures["8986A"].message_id == newest.id
    assert failures["8986A"].error == "no answer to +CMGS"
    assert failures["8986B"].error == "failed"  # no text: the state says it
    assert "8986C" not in failures
    assert [r["text"] for r in replies] == [
        "<b>reply 9</b>", "<b>reply 8</b>", "<b>reply 7</b>"]  # stored as received


def test_the_today_indexes_exist(db: peewee.Database) -> None:
    indexes = {tuple(i.columns) for i in db.get_indexes("message")}
    assert ("sent_at",) in indexes
    assert ("state", "final_at") in indexes
