"""Per-SIM pacing and caps: how many parts a SIM may still send, and when it may send the next.

Knows: the four counting windows (local minute, hour, day, month) in the configured time zone,
how they roll over (DST-safe through zoneinfo), the caps, and the pacing rule: sends spread over the
minute with random jitter, so a SIM does not tick like a machine (operators flag SIMs that send at
exact intervals).
Must not know: the database, modems or the clock. `now` (an aware datetime) and the random source
are passed in; counters are plain values in and new values out, with to_dict/from_dict so the
caller can keep them across restarts.

Caps count parts, not messages: an operator bills and counts every segment of a long message.
The hour, day and month caps are the quota (`headroom`); the per-minute rate shapes *when* a SIM
sends (`next_send_time`), so a long message larger than the per-minute rate is never stuck.
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

DEFAULT_TZ = ZoneInfo("Asia/Shanghai")
WINDOWS = ("minute", "hour", "day", "month")
QUOTA_WINDOWS = ("hour", "day", "month")
UNLIMITED = 2**31 - 1
"""What headroom() reports when no quota window has a cap."""
JITTER = 0.3
"""Pacing gaps vary by ±30% around 60/per_minute seconds."""


@dataclass(frozen=True)
class RateLimits:
    """Caps for one SIM, in parts; 0 means no cap."""

    per_minute: int = 6
    per_hour: int = 200
    """200/hour and 1,000/day: the MIIT cap on person-to-person SMS per Chinese SIM."""
    per_day: int = 1000
    per_month: int = 0

    @classmethod
    def from_config(cls, dispatch: object) -> RateLimits:
        """From a config.DispatchConfig (its per_sim_per_* keys)."""
        return cls(
            per_minute=dispatch.per_sim_per_minute,  # type: ignore[attr-defined]
            per_hour=dispatch.per_sim_per_hour,  # type: ignore[attr-defined]
            per_day=dispatch.per_sim_per_day,  # type: ignore[attr-defined]
            per_month=dispatch.per_sim_per_month,  # type: ignore[attr-defined]
        )

    def cap(self, window: str) -> int:
        return getattr(self, f"per_{window}")


def _require_aware(now: datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"need an aware datetime, got naive {now.isoformat()}")


def _local_midnight(day: date, tz: tzinfo) -> datetime:
    # Round-trip through UTC: where midnight does not exist (a zone that springs forward at 00:00)
    # this lands on the first instant of the day instead of a time that never happened.
    return datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)


def window_start(window: str, now: datetime, tz: tzinfo = DEFAULT_TZ) -> datetime:
    """The instant (in UTC) the local `window` containing `now` began."""
    _require_aware(now)
    local = now.astimezone(tz)
    if window == "minute":
        return local.replace(second=0, microsecond=0).astimezone(UTC)
    if window == "hour":
        # replace() keeps `fold`, so the repeated hour of a DST fall-back is its own window.
        return local.replace(minute=0, second=0, microsecond=0).astimezone(UTC)
    if window == "day":
        return _local_midnight(local.date(), tz)
    if window == "month":
        return _local_midnight(local.date().replace(day=1), tz)
    raise ValueError(f"unknown window {window!r}")


def next_window_start(window: str, now: datetime, tz: tzinfo = DEFAULT_TZ) -> datetime:
    """The instant (in UTC) the local `window` after the one containing `now` begins."""
    start = window_start(window, now, tz)
    if window in ("minute", "hour"):
        # Absolute arithmetic in UTC: wall-clock arithmetic on an aware datetime would skip or
        # repeat an hour across a DST change.
        step = timedelta(minutes=1) if window == "minute" else timedelta(hours=1)
        return window_start(window, start + step, tz)
    local_day = start.astimezone(tz).date()
    if window == "day":
        return _local_midnight(local_day + timedelta(days=1), tz)
    year, month = (local_day.year + 1, 1) if local_day.month == 12 else (
        local_day.year, local_day.month + 1)
    return _local_midnight(date(year, month, 1), tz)


@dataclass(frozen=True)
class SimCounters:
    """Parts sent by one SIM in its current local minute, hour, day and month. A start of None
    means the SIM has not sent in that window yet; starts are UTC instants."""

    minute_start: datetime | None = None
    minute_count: int = 0
    hour_start: datetime | None = None
    hour_count: int = 0
    day_start: datetime | None = None
    day_count: int = 0
    month_start: datetime | None = None
    month_count: int = 0

    def count(self, window: str) -> int:
        return getattr(self, f"{window}_count")

    def rolled(self, now: datetime, tz: tzinfo = DEFAULT_TZ) -> SimCounters:
        """These counters as seen at `now`: each window that has ended starts again at zero."""
        changes: dict[str, object] = {}
        for window in WINDOWS:
            start = window_start(window, now, tz)
            if getattr(self, f"{window}_start") != start:
                changes[f"{window}_start"] = start
                changes[f"{window}_count"] = 0
        return dataclasses.replace(self, **changes) if changes else self

    def to_dict(self) -> dict[str, dict[str, object]]:
        out: dict[str, dict[str, object]] = {}
        for window in WINDOWS:
            start = getattr(self, f"{window}_start")
            out[window] = {"start": start.isoformat() if start else None,
                           "count": self.count(window)}
        return out

    @classmethod
    def from_dict(cls, data: dict) -> SimCounters:
        """Inverse of to_dict; a missing window is an empty one."""
        kwargs: dict[str, object] = {}
        for window in WINDOWS:
            item = data.get(window) or {}
            start = item.get("start")
            kwargs[f"{window}_start"] = (
                datetime.fromisoformat(start).astimezone(UTC) if start else None)
            kwargs[f"{window}_count"] = int(item.get("count", 0))
        return cls(**kwargs)  # type: ignore[arg-type]


def record_send(counters: SimCounters, now: datetime, tz: tzinfo = DEFAULT_TZ,
                parts: int = 1) -> SimCounters:
    """Counters after `parts` parts left the SIM at `now`."""
    if parts < 1:
        raise ValueError(f"parts must be >= 1, got {parts}")
    c = counters.rolled(now, tz)
    return dataclasses.replace(c, **{
        f"{w}_count": c.count(w) + parts for w in WINDOWS})


def headroom(counters: SimCounters, limits: RateLimits, now: datetime,
             tz: tzinfo = DEFAULT_TZ) -> int:
    """Parts the SIM may still send before an hour, day or month cap is reached (UNLIMITED when
    none is set). The per-minute rate is pacing, applied by next_send_time."""
    c = counters.rolled(now, tz)
    room = UNLIMITED
    for window in QUOTA_WINDOWS:
        cap = limits.cap(window)
        if cap:
            room = min(room, max(cap - c.count(window), 0))
    return room


def _blocking_windows(c: SimCounters, limits: RateLimits, parts: int) -> list[str]:
    """Windows whose cap this send of `parts` parts would pass."""
    blocked = []
    for window in QUOTA_WINDOWS:
        cap = limits.cap(window)
        if cap and c.count(window) + parts > cap:
            blocked.append(window)
    # The minute cap stops a new send only once the minute is used up, so that a message with more
    # parts than the per-minute rate still goes (alone, at the start of a minute).
    if limits.per_minute and c.count("minute") >= limits.per_minute:
        blocked.append("minute")
    return blocked


def next_send_time(last_sent_at: datetime | None, limits: RateLimits, counters: SimCounters,
                   now: datetime, tz: tzinfo = DEFAULT_TZ,
                   rng: random.Random | None = None, *, parts: int = 1) -> datetime:
    """When the SIM may next send a message of `parts` parts: at the earliest `now`; no earlier
    than 60/per_minute seconds (±JITTER) after its last send; and, when a cap would be passed,
    not before the window that blocks it ends (the latest such window, e.g. local midnight when
    the day is full). The result is in UTC."""
    _require_aware(now)
    rng = rng if rng is not None else random.Random()
    c = counters.rolled(now, tz)
    candidates = [now.astimezone(UTC)]
    if limits.per_minute and last_sent_at is not None:
        gap = 60.0 / limits.per_minute * (1.0 + rng.uniform(-JITTER, JITTER))
        candidates.append((last_sent_at + timedelta(seconds=gap)).astimezone(UTC))
    for window in _blocking_windows(c, limits, parts):
        candidates.append(next_window_start(window, now, tz))
    return max(candidates)


__all__ = [
    "DEFAULT_TZ", "JITTER", "QUOTA_WINDOWS", "UNLIMITED", "WINDOWS",
    "RateLimits", "SimCounters",
    "headroom", "next_send_time", "next_window_start", "record_send", "window_start",
]
