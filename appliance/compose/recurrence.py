"""When a recurring send is due: daily, weekly, monthly (each written as a cron expression) or a
cron expression of the user's own, read in the appliance's time zone.

Knows: cron (through croniter), how the page's choices become an expression, and what happens
to occurrences missed while the appliance was off: the LATEST missed occurrence fires once if
it is at most MISSED_GRACE old; an older one is skipped (a morning notice sent in the
afternoon, or seven daily notices at once after a week off, helps nobody). Either way only one
firing, never a catch-up storm.
Must not know: storage, HTTP, the event loop (pure functions of the times passed in).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from croniter import CroniterBadCronError, croniter

KINDS = ("daily", "weekly", "monthly", "cron")
MISSED_GRACE = timedelta(hours=1)
MIN_INTERVAL = timedelta(minutes=5)
"""A cron expression firing more often than this is refused: a recurring SMS every minute is a
mistake (and would spend a SIM's hourly cap on one list)."""


class RecurrenceError(ValueError):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


def expression(kind: str, at: str = "", weekday: str = "", monthday: str = "",
               cron: str = "") -> str:
    """The cron expression of the page's choice; RecurrenceError naming the field if invalid.
    `at` "HH:MM"; `weekday` 0 (Sunday) to 6, cron's numbering; `monthday` 1 to 28 (every
    month has them; "the 31st" of February does not exist)."""
    if kind not in KINDS:
        raise RecurrenceError("repeat", f"one of {', '.join(KINDS)}")
    if kind == "cron":
        expr = " ".join((cron or "").split())
        if len(expr.split()) != 5:
            raise RecurrenceError("cron", "five fields: minute hour day month weekday "
                                          "(e.g. 0 9 * * 1-5)")
        if not croniter.is_valid(expr):
            raise RecurrenceError("cron", f"not a valid cron expression: {expr}")
        try:
            it = croniter(expr, datetime(2026, 1, 1, tzinfo=UTC))
            a = it.get_next(datetime)
            b = it.get_next(datetime)
        except (CroniterBadCronError, ValueError, KeyError) as exc:
            raise RecurrenceError("cron", f"not a valid cron expression: {exc}") from None
        if b - a < MIN_INTERVAL:
            raise RecurrenceError("cron", "fires more often than every 5 minutes")
        return expr
    m = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", (at or "").strip())
    if m is None:
        raise RecurrenceError("repeat_at", "a time of day, HH:MM (e.g. 09:00)")
    hour, minute = int(m.group(1)), int(m.group(2))
    if kind == "daily":
        return f"{minute} {hour} * * *"
    if kind == "weekly":
        if not (weekday or "").strip().isdigit() or not 0 <= int(weekday) <= 6:
            raise RecurrenceError("repeat_weekday", "a day of the week")
        return f"{minute} {hour} * * {int(weekday)}"
    if not (monthday or "").strip().isdigit() or not 1 <= int(monthday) <= 28:
        raise RecurrenceError("repeat_monthday", "a day of the month from 1 to 28")
    return f"{minute} {hour} {int(monthday)} * *"


def next_after(expr: str, after: datetime, tz: str) -> datetime:
    """The first occurrence strictly after `after` (aware), in UTC."""
    local = after.astimezone(ZoneInfo(tz))
    return croniter(expr, local).get_next(datetime).astimezone(UTC)


def latest_at_or_before(expr: str, at: datetime, tz: str) -> datetime:
    """The latest occurrence at or before `at`, in UTC."""
    local = at.astimezone(ZoneInfo(tz)) + timedelta(seconds=1)
    return croniter(expr, local).get_prev(datetime).astimezone(UTC)


def decide(expr: str, due_at: datetime, now: datetime, tz: str,
           ) -> tuple[datetime | None, datetime]:
    """For a schedule due at `due_at` (<= now): (the occurrence to fire now, or None to skip,
    and the next time it is due). See the module docstring for missed occurrences."""
    latest = max(due_at, latest_at_or_before(expr, now, tz))
    following = next_after(expr, now, tz)
    if now - latest <= MISSED_GRACE:
        return latest, following
    return None, following


def describe(kind: str, expr: str) -> dict[str, str]:
    """The parts of a daily/weekly/monthly expression back, for the schedules list."""
    fields = expr.split()
    if kind == "cron" or len(fields) != 5:
        return {"kind": kind, "cron": expr}
    at = time(int(fields[1]), int(fields[0])).strftime("%H:%M")
    return {"kind": kind, "at": at, "weekday": fields[4], "monthday": fields[2], "cron": expr}


__all__ = ["KINDS", "MISSED_GRACE", "RecurrenceError", "decide", "describe", "expression",
           "latest_at_or_before", "next_after"]
