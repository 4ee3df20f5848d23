"""Quiet hours and maintenance windows: which message categories may not be sent now, and
until when.

Knows: quiet hours (a daily span of local wall-clock time, possibly across midnight, during
which bulk categories — notice, marketing by default — wait; alerts and one-time codes pass),
maintenance windows (configured spans, and the one switched on by hand through the API, during
which every category but alerts waits), and how they combine.
Must not know: the dispatcher, storage, HTTP. The dispatcher asks `HoldSchedule.held(now)`
when it looks for messages to claim and skips the held categories (so a hold applies alike to
messages accepted earlier, scheduled ones, and ones released from approval later; nothing
rewrites `send_at`); the message view and the policy note ask `HoldState.hold_of`.

Spans are half-open: quiet hours "21:00"–"08:00" hold at 21:00:00 and at 07:59:59, and not at
08:00:00 nor at 20:59:59. A start equal to its end means no quiet hours. Times are local to
`[dispatch] timezone`.

Cheap when nothing is held: `HoldSchedule` keeps the state it computed until the next instant
any rule starts or ends (`HoldState.valid_until`), so a scheduling round costs one comparison.
A held message still expires when its validity (ttl) runs out: a hold does not extend it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, time, timedelta, tzinfo

QUIET_HOURS = "quiet_hours"
MAINTENANCE = "maintenance"
MAINTENANCE_PASSES = frozenset({"alert"})
"""The only category a maintenance window lets through (alarms must reach their people)."""
MAX_CHAINED = 16
"""Holds that follow one another (a window that ends inside quiet hours...) followed at most
this far when computing "until"."""


def parse_clock(value: str, name: str) -> time:
    """"HH:MM" as a time; ValueError naming `name`."""
    try:
        hours, minutes = value.split(":")
        if len(hours) != 2 or len(minutes) != 2:
            raise ValueError
        return time(int(hours), int(minutes))
    except (ValueError, AttributeError):
        raise ValueError(f'{name}: must be a time of day "HH:MM", got {value!r}') from None


@dataclass(frozen=True)
class QuietHours:
    start: time
    end: time
    categories: frozenset[str]

    def covers(self, local: datetime) -> bool:
        t = local.time()
        if self.start < self.end:
            return self.start <= t < self.end
        if self.start > self.end:  # across midnight
            return t >= self.start or t < self.end
        return False

    def _next(self, local: datetime, clock: time) -> datetime:
        """The first instant after `local` whose wall-clock time is `clock`."""
        candidate = datetime.combine(local.date(), clock, tzinfo=local.tzinfo)
        if candidate <= local:
            candidate = datetime.combine(local.date() + timedelta(days=1), clock,
                                         tzinfo=local.tzinfo)
        return candidate

    def end_after(self, local: datetime) -> datetime:
        return self._next(local, self.end)

    def next_change(self, local: datetime) -> datetime | None:
        if self.start == self.end:
            return None
        return min(self._next(local, self.start), self._next(local, self.end))


@dataclass(frozen=True)
class Window:
    """A maintenance window: [start, end); `end` None means until switched off."""

    start: datetime
    end: datetime | None
    reason: str = ""

    def covers(self, now: datetime) -> bool:
        return self.start <= now and (self.end is None or now < self.end)


@dataclass(frozen=True)
class Hold:
    reason: str  # QUIET_HOURS or MAINTENANCE
    until: datetime | None  # when the category may go again; None: until maintenance is off


@dataclass(frozen=True)
class HoldState:
    held: Mapping[str, Hold] = field(default_factory=dict)
    """category -> why it waits and until when (categories not here may go)."""
    valid_until: datetime | None = None
    """The next instant any rule starts or ends: the state holds until then (None: for ever)."""
    computed_at: datetime | None = None

    def hold_of(self, category: str) -> Hold | None:
        return self.held.get(category)


@dataclass(frozen=True)
class HoldRules:
    tz: tzinfo
    categories: frozenset[str]
    """Every message category (dispatch.balancer.PRIORITY's keys)."""
    quiet: QuietHours | None = None
    windows: tuple[Window, ...] = ()
    manual: Window | None = None
    """Maintenance switched on through the API (PUT /api/v1/maintenance)."""

    def _active(self, now: datetime) -> dict[str, tuple[str, datetime | None]]:
        """category -> (reason, end of that hold) at the instant `now`; maintenance first."""
        out: dict[str, tuple[str, datetime | None]] = {}
        windows = [w for w in (*self.windows, self.manual) if w is not None and w.covers(now)]
        if windows:
            end = None if any(w.end is None for w in windows) else max(
                w.end for w in windows if w.end is not None)
            for category in self.categories - MAINTENANCE_PASSES:
                out[category] = (MAINTENANCE, end)
        if self.quiet is not None:
            local = now.astimezone(self.tz)
            if self.quiet.covers(local):
                end = self.quiet.end_after(local)
                for category in self.quiet.categories:
                    out.setdefault(category, (QUIET_HOURS, end))
        return out

    def state_at(self, now: datetime) -> HoldState:
        active = self._active(now)
        held: dict[str, Hold] = {}
        for category, (reason, end) in active.items():
            until = end
            for _ in range(MAX_CHAINED):  # a hold that ends where another one begins
                if until is None:
                    break
                follow = self._active(until).get(category)
                if follow is None:
                    break
                until = follow[1]
            held[category] = Hold(reason, until)
        return HoldState(held, self.next_change(now), now)

    def next_change(self, now: datetime) -> datetime | None:
        times: list[datetime] = []
        if self.quiet is not None:
            change = self.quiet.next_change(now.astimezone(self.tz))
            if change is not None:
                times.append(change)
        for w in (*self.windows, self.manual):
            if w is None:
                continue
            times += [t for t in (w.start, w.end) if t is not None and t > now]
        return min(times, default=None)


class HoldSchedule:
    """The rules and the state they give now, recomputed only when it can have changed."""

    def __init__(self, rules: HoldRules):
        self.rules = rules
        self._state: HoldState | None = None
        self._held: frozenset[str] = frozenset()

    def state(self, now: datetime) -> HoldState:
        state = self._state
        if (state is None or state.computed_at is None or now < state.computed_at
                or (state.valid_until is not None and now >= state.valid_until)):
            state = self._state = self.rules.state_at(now)
            self._held = frozenset(state.held)
        return state

    def held(self, now: datetime) -> frozenset[str]:
        """The categories that may not be sent at `now` (empty when nothing is held)."""
        self.state(now)
        return self._held

    def wake_at(self, now: datetime) -> datetime | None:
        """When the held categories next change (the dispatcher looks again then)."""
        return self.state(now).valid_until

    def set_manual(self, window: Window | None) -> None:
        self.rules = replace(self.rules, manual=window)
        self._state = None


def windows_from_strings(values: Iterable[str], tz: tzinfo, name: str) -> tuple[Window, ...]:
    """Configured maintenance windows, "START/END" with local ISO times ("2026-12-05T22:00/
    2026-12-06T02:00"; a time zone may be given); ValueError naming the bad one."""
    out = []
    for i, value in enumerate(values):
        where = f"{name}[{i}]"
        try:
            start_text, end_text = value.split("/")
            start, end = (datetime.fromisoformat(t.strip()) for t in (start_text, end_text))
        except (ValueError, AttributeError):
            raise ValueError(f'{where}: must be "START/END" in ISO 8601 (e.g. '
                             f'"2026-12-05T22:00/2026-12-06T02:00"), got {value!r}') from None
        start, end = (t if t.tzinfo else t.replace(tzinfo=tz) for t in (start, end))
        if end <= start:
            raise ValueError(f"{where}: ends before it starts: {value!r}")
        out.append(Window(start, end, "configured"))
    return tuple(out)


__all__ = ["MAINTENANCE", "MAINTENANCE_PASSES", "QUIET_HOURS", "Hold", "HoldRules",
           "HoldSchedule", "HoldState", "QuietHours", "Window", "parse_clock",
           "windows_from_strings"]
