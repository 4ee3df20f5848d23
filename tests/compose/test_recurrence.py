"""Recurring sends: the page's choices as cron, the next occurrence in local time, and what a
missed occurrence does (the latest fires once if recent, else skipped: never a storm)."""

from datetime import UTC, datetime, timedelta

import pytest

from appliance.compose.recurrence import (
    MISSED_GRACE,
    RecurrenceError,
    decide,
    expression,
    next_after,
)

TZ = "Asia/Shanghai"  # UTC+8


@pytest.mark.parametrize(("args", "expr"), [
    (("daily", "09:00"), "0 9 * * *"),
    (("daily", "7:05"), "5 7 * * *"),
    (("weekly", "18:30", "1"), "30 18 * * 1"),
    (("monthly", "08:00", "", "28"), "0 8 28 * *"),
    (("cron", "", "", "", " 0  9 * * 1-5 "), "0 9 * * 1-5"),
])
def test_expression(args, expr):
    assert expression(*args) == expr


@pytest.mark.parametrize(("args", "field"), [
    (("hourly",), "repeat"),
    (("daily", "25:00"), "repeat_at"),
    (("daily", ""), "repeat_at"),
    (("weekly", "09:00", "7"), "repeat_weekday"),
    (("monthly", "09:00", "", "31"), "repeat_monthday"),
    (("cron", "", "", "", "every day"), "cron"),
    (("cron", "", "", "", "* * * * *"), "cron"),  # every minute: refused
    (("cron", "", "", "", "0 9 * *"), "cron"),
    (("cron", "", "", "", "0 25 * * *"), "cron"),
])
def test_expression_refused(args, field):
    with pytest.raises(RecurrenceError) as info:
        expression(*args)
    assert info.value.field == field


def test_next_after_is_local_time():
    # 09:00 in Shanghai is 01:00 UTC.
    after = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)  # 10:00 local
    assert next_after("0 9 * * *", after, TZ) == datetime(2026, 12, 3, 1, 0, tzinfo=UTC)
    assert next_after("0 9 * * *", after - timedelta(hours=2), TZ) == \
        datetime(2026, 12, 2, 1, 0, tzinfo=UTC)


def test_due_now_fires_and_moves_on():
    due = datetime(2026, 12, 2, 1, 0, tzinfo=UTC)
    fire, following = decide("0 9 * * *", due, due + timedelta(seconds=3), TZ)
    assert fire == due and following == due + timedelta(days=1)


def test_a_week_off_fires_the_latest_once_when_recent():
    due = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)
    now = datetime(2026, 12, 2, 1, 30, tzinfo=UTC)  # 30 min after today's occurrence
    fire, following = decide("0 9 * * *", due, now, TZ)
    assert fire == datetime(2026, 12, 2, 1, 0, tzinfo=UTC)  # today's, once
    assert following == datetime(2026, 12, 3, 1, 0, tzinfo=UTC)


def test_an_old_miss_is_skipped():
    due = datetime(2026, 12, 2, 1, 0, tzinfo=UTC)
    now = due + MISSED_GRACE + timedelta(minutes=1)
    fire, following = decide("0 9 * * *", due, now, TZ)
    assert fire is None and following == datetime(2026, 12, 3, 1, 0, tzinfo=UTC)
