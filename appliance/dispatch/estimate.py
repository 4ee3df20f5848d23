"""When a send will be finished: "10,000 notices: done by 14:20 on 6 SIMs at 200/hour".

Knows: how the per-SIM caps (`dispatch.rates`: per minute, per hour, per day, each a sliding
window) bound how fast a set of SIMs can send a number of parts, with the parts already
queued ahead of the send.
Must not know: the database, modems, the clock (`now` is passed in), HTTP. A pure function:
the console's compose page and the approvals page call it with what the dispatcher knows.

The model, and why it is an estimate:
- a SIM sends at most `rate` parts an hour: the lower of its hourly cap and 60 × its per-minute
  cap (the pacing the dispatcher keeps); a SIM with neither cap is bounded by what a modem can
  do (MODEM_PARTS_PER_HOUR, one part every 5 s: a +CMGS round trip);
- it sends at most its daily cap in each 24 hours from now: in the first 24 hours what is left
  of the cap in the sliding day window (`day_left`), in each later 24 hours the whole cap (a
  sliding window refills 24 hours after the sends that filled it; counting from now is the
  simplification, and errs late, never early, when the earlier sends were spread out);
- the parts already waiting (`backlog_parts`) go first: an alert overtakes a campaign, but a
  campaign waits behind what is queued at its own priority or above, and the caller does not
  know the mix; counting all of it errs late;
- the monthly cap, SIM failures, retries, quiet hours and approval are not modelled.
An estimate past HORIZON_DAYS, or with no SIM able to send, has no finish time (None).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

MODEM_PARTS_PER_HOUR = 720
"""What one modem sends with no cap: about one part every 5 s (a +CMGS round trip)."""
HORIZON_DAYS = 366


@dataclass(frozen=True)
class SimCapacity:
    """One SIM able to send now, as the estimate sees it (caps in parts; 0 means no cap)."""

    per_minute: int = 6
    per_hour: int = 200
    per_day: int = 1000
    day_left: int | None = None
    """Parts left of the daily cap in the sliding 24-hour window ending now (None: all)."""

    @property
    def rate(self) -> int:
        """Parts an hour at most (pacing and the hourly cap)."""
        bounds = [b for b in (self.per_minute * 60, self.per_hour) if b > 0]
        return min(bounds) if bounds else MODEM_PARTS_PER_HOUR

    def budget(self, day: int) -> float:
        """Parts it may send in the `day`-th 24 hours from now (0 = the first)."""
        if self.per_day <= 0:
            return math.inf
        if day == 0 and self.day_left is not None:
            return max(0, min(self.day_left, self.per_day))
        return self.per_day


@dataclass(frozen=True)
class Estimate:
    messages: int
    parts: int
    """Parts of this send (messages × parts per message)."""
    backlog_parts: int
    sims: int
    rate: int
    """Parts an hour of the typical SIM (the most common rate among them)."""
    total_rate: int
    """Parts an hour of all the SIMs together (before any daily cap stops them)."""
    finish: datetime | None
    """When the last part should leave; None: no SIM can send, or past HORIZON_DAYS."""
    day_capped: bool
    """The daily caps stretch the send past the hourly rate alone."""


def _sent_within(sims: Sequence[SimCapacity], day: int, hours: float) -> float:
    """Parts all `sims` send in the first `hours` (0..24) of the `day`-th 24 hours."""
    return sum(min(s.budget(day), s.rate * hours) for s in sims)


def estimate_finish(messages: int, parts_per_message: int, sims: Sequence[SimCapacity],
                    now: datetime, backlog_parts: int = 0,
                    start: datetime | None = None) -> Estimate:
    """When `messages` of `parts_per_message` parts each, queued behind `backlog_parts`, are
    sent by `sims` (those able to send now) starting at `start` (default `now`; a later
    start assumes the backlog is gone by then and the daily caps full again)."""
    messages = max(0, messages)
    parts = messages * max(1, parts_per_message)
    backlog = max(0, backlog_parts)
    rates = [s.rate for s in sims]
    typical = Counter(rates).most_common(1)[0][0] if rates else 0
    total_rate = sum(rates)
    begin = now
    if start is not None and start > now:
        begin, backlog = start, 0
        sims = [SimCapacity(s.per_minute, s.per_hour, s.per_day) for s in sims]
    work = parts + backlog
    finish: datetime | None = None
    day_capped = False
    if not sims:
        pass
    elif work == 0:
        finish = begin
    else:
        done = 0.0
        for day in range(HORIZON_DAYS):
            whole_day = _sent_within(sims, day, 24.0)
            if done + whole_day >= work:
                low, high = 0.0, 24.0  # hours into this day: the first where all is sent
                for _ in range(40):
                    mid = (low + high) / 2
                    if done + _sent_within(sims, day, mid) >= work:
                        high = mid
                    else:
                        low = mid
                finish = begin + timedelta(days=day, hours=high)
                # Later than the hourly rates alone would take (a minute's slack for rounding).
                day_capped = day * 24.0 + high > work / total_rate + 1 / 60
                break
            done += whole_day
    return Estimate(messages=messages, parts=parts, backlog_parts=backlog, sims=len(sims),
                    rate=typical, total_rate=total_rate, finish=finish, day_capped=day_capped)


__all__ = ["HORIZON_DAYS", "MODEM_PARTS_PER_HOUR", "Estimate", "SimCapacity",
           "estimate_finish"]
