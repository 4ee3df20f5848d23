"""The working-day window, from tables: weekends, a holiday, a 调休 working weekend day."""

from __future__ import annotations

import zoneinfo
from datetime import date, datetime

import pytest

from appliance.policy.workdays import WorkCalendar

SH = zoneinfo.ZoneInfo("Asia/Shanghai")
# December 2026: Mon 7, Tue 8, Wed 9, Thu 10, Fri 11, Sat 12, Sun 13, Mon 14.
CALENDAR = WorkCalendar(holidays=frozenset({date(2026, 12, 9)}),
                        working_weekend_days=frozenset({date(2026, 12, 19)}))


def at(day: int, hour: int = 10, minute: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=SH)


@pytest.mark.parametrize(("now", "start", "why"), [
    (at(8), at(7), "Tuesday: Monday"),
    (at(14, 16), at(11, 16), "Monday: Friday at the same clock time (weekend skipped)"),
    (at(12), at(11), "Saturday (not a working day itself): Friday"),
    (at(13, 23, 59), at(11, 23, 59), "Sunday night: Friday"),
    (at(10), at(8), "Thursday after the Wednesday holiday: Tuesday"),
    (at(9), at(8), "the holiday itself: Tuesday"),
    (at(20), at(19), "Sunday after the 调休 Saturday: that Saturday"),
    (at(21), at(19), "Monday after the 调休 Saturday: the Saturday (Sunday is off)"),
    (at(19), at(18), "the 调休 Saturday: Friday"),
])
def test_one_working_day_reaches_back_to_the_same_clock_time(now, start, why):
    assert CALENDAR.one_working_day_before(now, SH) == start, why


@pytest.mark.parametrize(("day", "working"), [
    (date(2026, 12, 11), True), (date(2026, 12, 12), False), (date(2026, 12, 13), False),
    (date(2026, 12, 9), False), (date(2026, 12, 19), True), (date(2026, 12, 20), False),
])
def test_working_days(day, working):
    assert CALENDAR.is_working_day(day) is working


def test_the_window_is_computed_in_the_dispatch_timezone():
    # Monday 01:00 in Shanghai is Sunday 17:00 UTC: the window still reaches to Friday 01:00
    # Shanghai time (Thursday 17:00 UTC).
    now = datetime(2026, 12, 13, 17, 0, tzinfo=zoneinfo.ZoneInfo("UTC"))
    assert CALENDAR.one_working_day_before(now, SH) == at(11, 1)


def test_bad_dates_are_named():
    with pytest.raises(ValueError, match=r"holidays\[1\]: not a date"):
        WorkCalendar.from_strings(["2026-10-01", "10/02"], [])
