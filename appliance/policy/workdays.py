"""The working-day calendar: which days are working days, and where "one working day ago" is.

Knows: weekends (Saturday, Sunday), the configured public holidays (days off that fall on a
weekday) and 调休 days (a weekend day made a working day to bridge a holiday: China moves
whole days around its Spring Festival and National Day weeks every year, so neither list can
be computed, only configured); wall-clock arithmetic in one time zone.
Must not know: messages, storage, what the window is used for (dedupe).

The window "one working day" ending at an instant `now` (local time in `[dispatch] timezone`)
starts at the same clock time on the previous working day: from Monday 10:00 it reaches back
to Friday 10:00 (the weekend is skipped); from Thursday 10:00 after a Wednesday holiday, to
Tuesday 10:00; from Sunday 10:00 that is a 调休 working day, to Friday 10:00 (Saturday being a
weekend day). Whether `now` itself falls on a working day does not matter: from Saturday 10:00
the window reaches to Friday 10:00. A clock time that does not exist on that day (a DST gap;
China has none) is resolved by zoneinfo's fold rule.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo

MAX_LOOKBACK_DAYS = 60
"""A calendar whose every day for two months is a holiday is a configuration mistake; past
this the window stops reaching back (60 days) instead of looping."""


@dataclass(frozen=True)
class WorkCalendar:
    holidays: frozenset[date] = field(default_factory=frozenset)
    """Days off that would otherwise be working days (national holidays)."""
    working_weekend_days: frozenset[date] = field(default_factory=frozenset)
    """Saturdays and Sundays that are working days (调休)."""

    @classmethod
    def from_strings(cls, holidays: Iterable[str], working_weekend_days: Iterable[str],
                     ) -> WorkCalendar:
        """From ISO dates ("2026-10-01"); ValueError naming the bad one."""
        def parse(values: Iterable[str], name: str) -> frozenset[date]:
            out = set()
            for i, value in enumerate(values):
                try:
                    out.add(date.fromisoformat(value))
                except (TypeError, ValueError):
                    raise ValueError(f"{name}[{i}]: not a date (YYYY-MM-DD): {value!r}") from None
            return frozenset(out)

        return cls(parse(holidays, "holidays"),
                   parse(working_weekend_days, "working_weekend_days"))

    def is_working_day(self, day: date) -> bool:
        if day in self.working_weekend_days:
            return True
        return day.weekday() < 5 and day not in self.holidays

    def previous_working_day(self, day: date) -> date:
        """The last working day before `day` (at most MAX_LOOKBACK_DAYS back)."""
        for back in range(1, MAX_LOOKBACK_DAYS + 1):
            candidate = day - timedelta(days=back)
            if self.is_working_day(candidate):
                return candidate
        return day - timedelta(days=MAX_LOOKBACK_DAYS)

    def one_working_day_before(self, now: datetime, tz: tzinfo) -> datetime:
        """The start of the window "one working day" ending at `now` (see the module
        docstring), as an aware datetime in `tz`."""
        local = now.astimezone(tz)
        day = self.previous_working_day(local.date())
        return datetime.combine(day, local.timetz().replace(tzinfo=None), tzinfo=tz)
