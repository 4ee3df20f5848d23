"""Per-SIM pacing and caps: how many parts a SIM may still send, and when it may send the next.

Knows: the three sliding caps windows (any 60 s, any 60 minutes, any 24 hours), the calendar
windows kept for reports and the monthly cap (local minute, hour, day, month in the configured
time zone, DST-safe through zoneinfo), and the pacing rule: sends spread over the minute with
random jitter, so a SIM does not tick like a machine (operators flag SIMs that send at exact
intervals).
Must not know: the database, modems or the clock. `now` (an aware datetime) and the random source
are passed in; counters are plain values in and new values out, with to_dict/from_dict so the
caller can keep them across restarts.

Caps count parts, not messages: an operator bills and counts every segment of a long message.

The caps, precisely. A part sent at instant t is in the window of length W ending at s when
s - W < t <= s. The per-minute, hourly and daily caps hold in EVERY such window (W = 60 s,
3,600 s, 86,400 s), not in calendar windows: a SIM at 200/hour may not send 200 at 10:59 and 200
more at 11:00. A send of p parts is allowed at `now` when, for each sliding window with a cap c,
the parts already in the window ending at `now` plus p are at most c. Since the window ending at
any later instant holds only sends from that window or later sends (each checked in turn), the cap
then holds in every window.

One exception, so that no message is ever stuck: a message of MORE parts than a window's cap
(an 8-part message at per_minute = 6) may go when that window is empty, as one send. Then no
other send shares any of its windows: nothing was in the 60 s before it, and nothing may follow
within 60 s (the window is over its cap until it leaves). Stated as the property the tests check:
a window that holds more than its cap holds exactly one send, of more parts than that cap.

The sender records parts one by one as they leave, after a message was allowed as a whole
(`next_send_time(..., parts=N)`); since the SIM sends nothing else meanwhile, that is the same as
the N parts at the instant it was allowed, only later.

The monthly cap stays a calendar month in the local time zone (an operator's billing month). The
calendar counts of the minute, hour, day and month are also kept, for reports.

Pacing: the next send is no earlier than 60/per_minute seconds (±JITTER) after the last one; the
jittered gap never overrides a cap: the result is the later of the two.

Cost: headroom() and next_send_time() run for every SIM in every scheduling round. Each sliding
window is a deque of (instant, parts) with its running sum, pruned from the left as time passes:
amortised O(1) per call, however many parts the SIM sent in the day.
"""

from __future__ import annotations

import dataclasses
import random
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

DEFAULT_TZ = ZoneInfo("Asia/Shanghai")
WINDOWS = ("minute", "hour", "day", "month")
"""The calendar windows counted for reports (and the month for its cap)."""
QUOTA_WINDOWS = ("hour", "day", "month")
"""The windows whose caps make up headroom(); the minute shapes when a SIM sends."""
SLIDING_WINDOWS = {"minute": 60, "hour": 3600, "day": 86400}
"""The sliding caps windows and their lengths in seconds."""
UNLIMITED = 2**31 - 1
"""What headroom() reports when no quota window has a cap."""
JITTER = 0.3
"""Pacing gaps vary by ±30% around 60/per_minute seconds."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
# Instants are kept as integer microseconds: "leaves the window at t + W" must be exactly the
# instant at which the check sees it gone (float seconds would round either way).
_LENGTHS_US = tuple(seconds * 1_000_000 for seconds in SLIDING_WINDOWS.values())
_INDEX = {name: i for i, name in enumerate(SLIDING_WINDOWS)}


def _us(t: datetime) -> int:
    return (t - _EPOCH) // _MICROSECOND


def _instant(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


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


class SendLog:
    """The sends of one SIM within the last 24 hours: for each sliding window a deque of
    (instant in µs, parts), oldest first, with the running sum of its parts.

    Reading it at `now` drops what has left the window for good. That is the only change a read
    makes, and it is invisible to any later read (time moves forward; if the clock steps back,
    sends "in the future" are counted until they leave, which errs on the safe side). Appending is
    for record_send, on a copy: a SimCounters stays a value.
    """

    __slots__ = ("_queues", "_sums")

    def __init__(self, sends: Iterable[tuple[int, int]] = ()) -> None:
        self._queues: tuple[deque[tuple[int, int]], ...] = (deque(), deque(), deque())
        self._sums = [0, 0, 0]
        for at_us, parts in sorted(sends):
            self.append(at_us, parts)

    def append(self, at_us: int, parts: int) -> None:
        """In place: only on a log no SimCounters shares yet (see record_send)."""
        for i, queue in enumerate(self._queues):
            queue.append((at_us, parts))
            self._sums[i] += parts

    def copy(self) -> SendLog:
        new = SendLog()
        new._queues = tuple(deque(q) for q in self._queues)
        new._sums = list(self._sums)
        return new

    def _prune(self, i: int, now_us: int) -> int:
        queue, horizon, total = self._queues[i], now_us - _LENGTHS_US[i], self._sums[i]
        while queue and queue[0][0] <= horizon:
            total -= queue.popleft()[1]
        self._sums[i] = total
        return total

    def parts_in(self, window: str, now: datetime) -> int:
        """Parts sent in the sliding `window` ending at `now`."""
        return self._prune(_INDEX[window], _us(now))

    def fits_at(self, i: int, now_us: int, parts: int, cap: int) -> int:
        """The earliest instant (µs) from `now_us` at which `parts` more parts keep window `i`
        within `cap` (or, for more parts than the cap, at which the window is empty)."""
        inside = self._prune(i, now_us)
        queue, length = self._queues[i], _LENGTHS_US[i]
        excess = inside + parts - cap if parts <= cap else inside
        if excess <= 0:
            return now_us
        # The oldest sends leave first; enough of them must leave to make room. The running max
        # keeps this right even if instants were recorded out of order (a clock stepped back).
        freed, latest = 0, now_us - length
        for at_us, p in queue:
            freed, latest = freed + p, max(latest, at_us)
            if freed >= excess:
                break
        return max(now_us, latest + length)

    def sends(self) -> list[tuple[int, int]]:
        """(instant µs, parts) of every send kept, oldest first."""
        return list(self._queues[-1])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SendLog):
            return NotImplemented
        return self.sends() == other.sends()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"SendLog({len(self._queues[-1])} sends, {self._sums[-1]} parts)"


def _require_aware(now: datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"need an aware datetime, got naive {now.isoformat()}")


def _local_midnight(day: date, tz: tzinfo) -> datetime:
    # Round-trip through UTC: where midnight does not exist (a zone that springs forward at 00:00)
    # this lands on the first instant of the day instead of a time that never happened.
    return datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)


def window_start(window: str, now: datetime, tz: tzinfo = DEFAULT_TZ) -> datetime:
    """The instant (in UTC) the local calendar `window` containing `now` began."""
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
    """The instant (in UTC) the local calendar `window` after the one containing `now` begins."""
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
    """Parts sent by one SIM: its calendar counts in the current local minute, hour, day and month
    (a start of None means the SIM has not sent in that window yet; starts are UTC instants), and
    its sends of the last 24 hours for the sliding caps (`recent`)."""

    minute_start: datetime | None = None
    minute_count: int = 0
    hour_start: datetime | None = None
    hour_count: int = 0
    day_start: datetime | None = None
    day_count: int = 0
    month_start: datetime | None = None
    month_count: int = 0
    recent: SendLog = field(default_factory=SendLog, hash=False)

    def count(self, window: str) -> int:
        """The calendar count of `window` as stored (see rolled())."""
        return getattr(self, f"{window}_count")

    def rolled(self, now: datetime, tz: tzinfo = DEFAULT_TZ) -> SimCounters:
        """These counters as seen at `now`: each calendar window that has ended starts again at
        zero."""
        changes: dict[str, object] = {}
        for window in WINDOWS:
            start = window_start(window, now, tz)
            if getattr(self, f"{window}_start") != start:
                changes[f"{window}_start"] = start
                changes[f"{window}_count"] = 0
        return dataclasses.replace(self, **changes) if changes else self

    def sent_within(self, window: str, now: datetime) -> int:
        """Parts sent in the sliding `window` ("minute", "hour", "day") ending at `now`."""
        _require_aware(now)
        return self.recent.parts_in(window, now)

    def to_dict(self, *, sends: bool = False) -> dict[str, object]:
        """The calendar counts, {window: {"start": iso, "count": n}}: cheap, for every part sent.
        With `sends`, also "sends": [[iso instant, parts], ...] of the last 24 hours (what
        store.sims.load_counters rebuilds from the parts table after a restart)."""
        out: dict[str, object] = {}
        for window in WINDOWS:
            start = getattr(self, f"{window}_start")
            out[window] = {"start": start.isoformat() if start else None,
                           "count": self.count(window)}
        if sends:
            out["sends"] = [[_instant(at).isoformat(), parts] for at, parts in
                            self.recent.sends()]
        return out

    @classmethod
    def from_dict(cls, data: dict) -> SimCounters:
        """Inverse of to_dict; a missing window is an empty one. "sends" items are
        [iso instant, parts] or a bare iso instant (one part)."""
        kwargs: dict[str, object] = {}
        for window in WINDOWS:
            item = data.get(window) or {}
            start = item.get("start")
            kwargs[f"{window}_start"] = (
                datetime.fromisoformat(start).astimezone(UTC) if start else None)
            kwargs[f"{window}_count"] = int(item.get("count", 0))
        sends = []
        for item in data.get("sends") or ():
            at, parts = (item, 1) if isinstance(item, str) else (item[0], int(item[1]))
            instant = datetime.fromisoformat(at) if isinstance(at, str) else at
            _require_aware(instant)
            if parts < 1:
                raise ValueError(f"a send of {parts} parts in counters")
            sends.append((_us(instant), parts))
        return cls(**kwargs, recent=SendLog(sends))  # type: ignore[arg-type]


def record_send(counters: SimCounters, now: datetime, tz: tzinfo = DEFAULT_TZ,
                parts: int = 1) -> SimCounters:
    """Counters after `parts` parts left the SIM at `now`."""
    if parts < 1:
        raise ValueError(f"parts must be >= 1, got {parts}")
    c = counters.rolled(now, tz)
    recent = c.recent.copy()  # copy-on-write: the counters passed in stay as they were
    recent.append(_us(now), parts)
    return dataclasses.replace(c, recent=recent, **{
        f"{w}_count": c.count(w) + parts for w in WINDOWS})


def _month_count(counters: SimCounters, now: datetime, tz: tzinfo) -> int:
    start = counters.month_start
    if start is None or start != window_start("month", now, tz):
        return 0
    return counters.month_count


def headroom(counters: SimCounters, limits: RateLimits, now: datetime,
             tz: tzinfo = DEFAULT_TZ) -> int:
    """Parts the SIM may still send now before its hourly or daily cap (in the sliding window
    ending now) or its monthly cap is reached; UNLIMITED when none is set. The per-minute cap
    shapes when it sends (next_send_time), not how much it may take on."""
    _require_aware(now)
    room, now_us = UNLIMITED, _us(now)
    for window in ("hour", "day"):
        cap = limits.cap(window)
        if cap:
            i = _INDEX[window]
            room = min(room, max(cap - counters.recent._prune(i, now_us), 0))
    if limits.per_month:
        room = min(room, max(limits.per_month - _month_count(counters, now, tz), 0))
    return room


def caps_allow_at(counters: SimCounters, limits: RateLimits, now: datetime,
                  tz: tzinfo = DEFAULT_TZ, *, parts: int = 1) -> datetime:
    """The earliest instant from `now` (UTC) at which every cap allows a send of `parts` parts:
    `now` itself when it may go now. Pacing is not applied (see next_send_time)."""
    _require_aware(now)
    if parts < 1:
        raise ValueError(f"parts must be >= 1, got {parts}")
    now_us = _us(now)
    latest = now_us
    for i, window in enumerate(SLIDING_WINDOWS):
        cap = limits.cap(window)
        if cap:
            latest = max(latest, counters.recent.fits_at(i, now_us, parts, cap))
    when = now.astimezone(UTC) if latest == now_us else _instant(latest)
    cap = limits.per_month
    if cap:
        used = _month_count(counters, now, tz)
        if used and used + parts > cap:  # an oversize message goes alone, first in its month
            when = max(when, next_window_start("month", now, tz))
    return when


def next_send_time(last_sent_at: datetime | None, limits: RateLimits, counters: SimCounters,
                   now: datetime, tz: tzinfo = DEFAULT_TZ,
                   rng: random.Random | None = None, *, parts: int = 1) -> datetime:
    """When the SIM may next send a message of `parts` parts: at the earliest `now`; no earlier
    than 60/per_minute seconds (±JITTER) after its last send; and never before every cap allows
    it (caps_allow_at). The result is in UTC."""
    when = caps_allow_at(counters, limits, now, tz, parts=parts)
    if limits.per_minute and last_sent_at is not None:
        rng = rng if rng is not None else random.Random()
        gap = 60.0 / limits.per_minute * (1.0 + rng.uniform(-JITTER, JITTER))
        when = max(when, (last_sent_at + timedelta(seconds=gap)).astimezone(UTC))
    return when


__all__ = [
    "DEFAULT_TZ", "JITTER", "QUOTA_WINDOWS", "SLIDING_WINDOWS", "UNLIMITED", "WINDOWS",
    "RateLimits", "SendLog", "SimCounters",
    "caps_allow_at", "headroom", "next_send_time", "next_window_start", "record_send",
    "window_start",
]
