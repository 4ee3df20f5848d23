"""The caps hold in every window, whatever the sends: a hypothesis property over the rate logic.

A simulated SIM attempts messages of 1..4 parts at arbitrary increasing instants. It asks
next_send_time for each (with a seeded jitter source) and either waits until then or gives the
attempt up; the parts then leave one by one, a little apart, as the sender records them. The
counters may go through a restart (to_dict(sends=True) as JSON and back) at any point.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.dispatch.rates import (
    JITTER,
    WINDOWS,
    RateLimits,
    SimCounters,
    caps_allow_at,
    headroom,
    next_send_time,
    record_send,
    window_start,
)

NY = ZoneInfo("America/New_York")
# Two hours before New York falls back (2026-11-01 02:00 EDT -> 01:00 EST): calendar windows
# are checked across a DST change.
T0 = datetime(2026, 11, 1, 0, 0, tzinfo=NY).astimezone(UTC)
SLIDING = {"minute": 60, "hour": 3600, "day": 86400}

limits_strategy = st.builds(
    RateLimits,
    per_minute=st.integers(0, 8),
    per_hour=st.integers(0, 30),
    per_day=st.integers(0, 60),
    per_month=st.just(0),
)
# µs: mostly seconds (the caps bind), sometimes up to an hour or a day (windows empty out).
gap = st.one_of(st.integers(0, 20_000_000), st.integers(0, 20_000_000),
                st.integers(0, 4_000_000_000), st.integers(0, 90_000_000_000))
attempt = st.tuples(gap, st.integers(1, 4), st.booleans(),
                    st.lists(st.integers(0, 3_000_000), min_size=3, max_size=3))


def simulate(limits: RateLimits, attempts: list, seed: int, restart_at: int | None):
    """The sends as (instant, message number) per part, the counters at the end, and the last
    instant they were read at (reads after it must not go back in time)."""
    rng = random.Random(seed)
    counters, last, t = SimCounters(), None, T0
    sent: list[tuple[datetime, int]] = []
    for n, (wait_us, parts, patient, part_gaps) in enumerate(attempts):
        if n == restart_at:
            counters = SimCounters.from_dict(json.loads(json.dumps(counters.to_dict(sends=True))))
            last = None  # the engine does not keep the last send's instant across a restart
        t += timedelta(microseconds=wait_us)
        when = next_send_time(last, limits, counters, t, NY, rng, parts=parts)
        assert when >= t
        if when > t and not patient:
            continue  # not allowed now: this attempt is given up
        assert caps_allow_at(counters, limits, when, NY, parts=parts) == when
        if limits.per_minute and last is not None:  # pacing: at least the shortest gap
            assert (when - last).total_seconds() >= 60 / limits.per_minute * (1 - JITTER) - 1e-6
        t = when
        for k in range(parts):
            if k:
                t += timedelta(microseconds=part_gaps[k - 1])
            counters = record_send(counters, t, NY, 1)
            sent.append((t, n))
        last = t
    return sent, counters, t


def check_every_window(limits: RateLimits, sent: list[tuple[datetime, int]]) -> None:
    parts_of = {n: sum(1 for _, m in sent if m == n) for _, n in sent}
    for window, seconds in SLIDING.items():
        cap = limits.cap(window)
        if not cap:
            continue
        length = timedelta(seconds=seconds)
        for end, _ in sent:  # the fullest windows end at a send
            inside = [n for t, n in sent if end - length < t <= end]
            if len(inside) > cap:
                # The one exception: a message of more parts than the cap, alone in the window.
                assert len(set(inside)) == 1, (window, end, inside)
                assert parts_of[inside[0]] > cap, (window, end, inside)


@settings(max_examples=300, deadline=None)
@given(limits_strategy, st.lists(attempt, min_size=1, max_size=70), st.integers(0, 2**32),
       st.one_of(st.none(), st.integers(0, 30)))
def test_no_window_ever_holds_more_than_its_cap(limits, attempts, seed, restart_at) -> None:
    sent, _, _ = simulate(limits, attempts, seed, restart_at)
    check_every_window(limits, sent)


@settings(max_examples=150, deadline=None)
@given(limits_strategy, st.lists(attempt, min_size=1, max_size=40), st.integers(0, 2**32),
       st.one_of(st.none(), st.integers(0, 20)), st.integers(0, 100_000_000_000))
def test_counts_agree_with_the_sends(limits, attempts, seed, restart_at, later_us) -> None:
    sent, counters, t = simulate(limits, attempts, seed, restart_at)
    end = t + timedelta(microseconds=later_us)
    for window, seconds in SLIDING.items():
        expected = sum(1 for t, _ in sent if end - timedelta(seconds=seconds) < t <= end)
        assert counters.sent_within(window, end) == expected
    rolled = counters.rolled(end, NY)
    for window in WINDOWS:  # calendar counts (local, DST-safe), kept across the restart too
        expected = sum(1 for t, _ in sent
                       if window_start(window, t, NY) == window_start(window, end, NY))
        assert rolled.count(window) == expected
    room = min([limits.cap(w) - counters.sent_within(w, end) for w in ("hour", "day")
                if limits.cap(w)] or [2**31 - 1])
    assert headroom(counters, limits, end, NY) == max(room, 0)
