"""Per-SIM counting windows, caps and pacing; the clock and the random source are injected."""

import json
import random
import statistics
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from appliance.config import DispatchConfig
from appliance.dispatch.rates import (
    UNLIMITED,
    RateLimits,
    SimCounters,
    headroom,
    next_send_time,
    next_window_start,
    record_send,
    window_start,
)

SH = ZoneInfo("Asia/Shanghai")
NY = ZoneInfo("America/New_York")


def sh(*args: int) -> datetime:
    return datetime(*args, tzinfo=SH)


# (first send, second send, counts (minute, hour, day, month) after both)
ROLLOVER = [
    ("same minute", sh(2026, 5, 6, 10, 15, 1), sh(2026, 5, 6, 10, 15, 59), (2, 2, 2, 2)),
    ("next minute", sh(2026, 5, 6, 10, 15, 59), sh(2026, 5, 6, 10, 16, 0), (1, 2, 2, 2)),
    ("hour boundary", sh(2026, 5, 6, 10, 59, 59), sh(2026, 5, 6, 11, 0, 0), (1, 1, 2, 2)),
    ("local midnight", sh(2026, 5, 6, 23, 59, 59), sh(2026, 5, 7, 0, 0, 1), (1, 1, 1, 2)),
    # 23:30 and 00:30 Shanghai are 15:30 and 16:30 UTC of ONE UTC day: the reset is local.
    ("local midnight, same UTC day", sh(2026, 5, 6, 23, 30), sh(2026, 5, 7, 0, 30), (1, 1, 1, 2)),
    ("Jan 31 to Feb 1", sh(2026, 1, 31, 23, 59), sh(2026, 2, 1, 0, 0), (1, 1, 1, 1)),
    ("Feb 28 to Mar 1", sh(2026, 2, 28, 23, 59), sh(2026, 3, 1, 0, 1), (1, 1, 1, 1)),
    ("leap day", sh(2028, 2, 28, 23, 59), sh(2028, 2, 29, 0, 1), (1, 1, 1, 2)),
    ("Dec 31 to Jan 1", sh(2026, 12, 31, 23, 59, 59), sh(2027, 1, 1, 0, 0), (1, 1, 1, 1)),
    ("a month later, same day number", sh(2026, 1, 5, 9), sh(2026, 2, 5, 9), (1, 1, 1, 1)),
]


@pytest.mark.parametrize(("first", "second", "counts"), [r[1:] for r in ROLLOVER],
                         ids=[r[0] for r in ROLLOVER])
def test_windows_roll_over_at_local_boundaries(first: datetime, second: datetime,
                                               counts: tuple[int, int, int, int]) -> None:
    c = record_send(record_send(SimCounters(), first, SH), second, SH)
    assert (c.minute_count, c.hour_count, c.day_count, c.month_count) == counts


def test_rolled_counters_are_read_at_now_without_a_send() -> None:
    c = record_send(SimCounters(), sh(2026, 1, 31, 12), SH, parts=5)
    later = c.rolled(sh(2026, 2, 1, 0, 0), SH)
    assert (later.hour_count, later.day_count, later.month_count) == (0, 0, 0)
    assert c.day_count == 5  # the original is a value, untouched


NY_DST = [
    # New York falls back on 2026-11-01: 01:00-02:00 happens twice, each its own hour window.
    ("fall-back repeated hour", datetime(2026, 11, 1, 1, 30, tzinfo=NY),
     datetime(2026, 11, 1, 1, 10, tzinfo=NY, fold=1), (1, 1, 2, 2)),
    # Springs forward on 2026-03-08: 01:59 EST is followed by 03:00 EDT, one minute later.
    ("spring-forward gap", datetime(2026, 3, 8, 1, 59, 30, tzinfo=NY),
     datetime(2026, 3, 8, 3, 0, 10, tzinfo=NY), (1, 1, 2, 2)),
    ("midnight after the 25-hour day", datetime(2026, 11, 1, 23, 59, tzinfo=NY),
     datetime(2026, 11, 2, 0, 0, tzinfo=NY), (1, 1, 1, 2)),
]


@pytest.mark.parametrize(("first", "second", "counts"), [r[1:] for r in NY_DST],
                         ids=[r[0] for r in NY_DST])
def test_windows_are_dst_safe(first: datetime, second: datetime,
                              counts: tuple[int, int, int, int]) -> None:
    c = record_send(record_send(SimCounters(), first, NY), second, NY)
    assert (c.minute_count, c.hour_count, c.day_count, c.month_count) == counts


NEXT_WINDOW = [
    ("minute", sh(2026, 1, 31, 23, 59, 30), sh(2026, 2, 1, 0, 0)),
    ("hour", sh(2026, 1, 31, 23, 15), sh(2026, 2, 1, 0, 0)),
    ("day", sh(2026, 1, 31, 8, 0), sh(2026, 2, 1, 0, 0)),
    ("month", sh(2026, 1, 1, 0, 0), sh(2026, 2, 1, 0, 0)),
    ("month", sh(2026, 12, 31, 23, 59), sh(2027, 1, 1, 0, 0)),
    ("day", datetime(2026, 11, 1, 12, tzinfo=NY), datetime(2026, 11, 2, tzinfo=NY)),
    ("hour", datetime(2026, 11, 1, 1, 30, tzinfo=NY),
     datetime(2026, 11, 1, 1, 0, tzinfo=NY, fold=1)),
]


@pytest.mark.parametrize(("window", "now", "expected"), NEXT_WINDOW)
def test_next_window_start(window: str, now: datetime, expected: datetime) -> None:
    tz = now.tzinfo
    # Compared in UTC: PEP 495 makes == across zones False for times in a repeated hour.
    assert next_window_start(window, now, tz) == expected.astimezone(UTC)
    assert window_start(window, now, tz) <= now < next_window_start(window, now, tz)


def filled(now: datetime, parts: int) -> SimCounters:
    return record_send(SimCounters(), now, SH, parts=parts)


LIMITS = RateLimits(per_minute=6, per_hour=200, per_day=1000, per_month=0)

# (sent so far, recorded at, now, limits, expected headroom)
HEADROOM = [
    ("fresh SIM", 0, None, sh(2026, 5, 6, 10), LIMITS, 200),
    ("hour cap binds", 150, sh(2026, 5, 6, 10, 5), sh(2026, 5, 6, 10, 30), LIMITS, 50),
    ("hour cap reached", 200, sh(2026, 5, 6, 10, 5), sh(2026, 5, 6, 10, 30), LIMITS, 0),
    # Sliding: the calendar hour has turned, but the 200 were sent less than 60 minutes ago.
    ("the calendar hour does not free it", 200, sh(2026, 5, 6, 10, 5), sh(2026, 5, 6, 11, 0),
     LIMITS, 0),
    ("60 minutes after the sends", 200, sh(2026, 5, 6, 10, 5), sh(2026, 5, 6, 11, 5), LIMITS,
     200),
    ("day cap binds", 950, sh(2026, 5, 6, 10, 5), sh(2026, 5, 6, 12), LIMITS, 50),
    ("day cap reached", 1000, sh(2026, 5, 6, 10, 5), sh(2026, 5, 6, 20), LIMITS, 0),
    ("midnight does not free it", 1000, sh(2026, 5, 6, 10, 5), sh(2026, 5, 7, 0, 0), LIMITS, 0),
    ("24 hours after the sends", 1000, sh(2026, 5, 6, 10, 5), sh(2026, 5, 7, 10, 5), LIMITS,
     200),
    ("month cap", 4990, sh(2026, 5, 6, 10), sh(2026, 5, 20), RateLimits(0, 0, 0, 5000), 10),
    ("no caps", 10_000, sh(2026, 5, 6, 10), sh(2026, 5, 6, 10), RateLimits(0, 0, 0, 0),
     UNLIMITED),
]


@pytest.mark.parametrize(("sent", "at", "now", "limits", "room"), [r[1:] for r in HEADROOM],
                         ids=[r[0] for r in HEADROOM])
def test_headroom(sent: int, at: datetime | None, now: datetime, limits: RateLimits,
                  room: int) -> None:
    counters = filled(at, sent) if sent else SimCounters()
    assert headroom(counters, limits, now, SH) == room


def test_day_cap_filled_over_several_hours_frees_24_hours_after_the_first_sends() -> None:
    counters = SimCounters()
    for hour in range(8, 13):  # 5 hours x 200 parts = 1,000 = the day cap
        counters = record_send(counters, sh(2026, 12, 31, hour, 30), SH, parts=200)
    now = sh(2026, 12, 31, 13, 10)
    assert headroom(counters, LIMITS, now, SH) == 0
    rng = random.Random(1)
    when = next_send_time(sh(2026, 12, 31, 12, 30), LIMITS, counters, now, SH, rng)
    # Not local midnight (a calendar day): the 8:30 sends leave the 24 hours at 8:30 next day.
    assert when == sh(2027, 1, 1, 8, 30)
    assert headroom(counters, LIMITS, sh(2027, 1, 1, 8, 30), SH) == 200


# (parts sent, sent at, now, message parts, expected next send time)
BLOCKED = [
    ("hour full -> 60 minutes after", 200, sh(2026, 5, 6, 10, 59), sh(2026, 5, 6, 10, 59, 30),
     1, sh(2026, 5, 6, 11, 59)),
    ("3 parts do not fit in the hour's last 1", 199, sh(2026, 5, 6, 10, 20),
     sh(2026, 5, 6, 10, 40), 3, sh(2026, 5, 6, 11, 20)),
    ("day full -> 24 hours after", 1000, sh(2026, 1, 31, 21, 0), sh(2026, 1, 31, 21, 30), 1,
     sh(2026, 2, 1, 21, 0)),
    ("minute used up -> 60 s after", 6, sh(2026, 5, 6, 10, 0, 5), sh(2026, 5, 6, 10, 0, 50),
     1, sh(2026, 5, 6, 10, 1, 5)),
]


@pytest.mark.parametrize(("sent", "at", "now", "parts", "expected"), [r[1:] for r in BLOCKED],
                         ids=[r[0] for r in BLOCKED])
def test_next_send_time_waits_for_the_blocking_window(sent: int, at: datetime, now: datetime,
                                                      parts: int, expected: datetime) -> None:
    limits = RateLimits(per_minute=6, per_hour=200, per_day=1000)
    counters = filled(at, sent)
    last = now - timedelta(hours=1)  # pacing long satisfied: only the cap can hold it back
    assert next_send_time(last, limits, counters, now, SH, random.Random(3), parts=parts) == \
        expected


def test_the_monthly_cap_stays_a_calendar_month() -> None:
    limits = RateLimits(per_minute=0, per_hour=0, per_day=0, per_month=10)
    counters = filled(sh(2026, 1, 31, 21, 0), 10)
    now = sh(2026, 1, 31, 21, 30)
    assert headroom(counters, limits, now, SH) == 0
    assert next_send_time(None, limits, counters, now, SH) == sh(2026, 2, 1, 0, 0)
    assert headroom(counters, limits, sh(2026, 2, 1, 0, 0), SH) == 10


def test_two_hundred_at_the_end_of_an_hour_hold_the_next_hour_back() -> None:
    # The calendar cap let 400 through around 11:00; the sliding one lets none until 11:59.
    counters = filled(sh(2026, 5, 6, 10, 59), 200)
    for now in (sh(2026, 5, 6, 11, 0), sh(2026, 5, 6, 11, 58, 59)):
        assert headroom(counters, LIMITS, now, SH) == 0
    assert counters.rolled(sh(2026, 5, 6, 11, 0), SH).count("hour") == 0  # reports: calendar
    assert counters.sent_within("hour", sh(2026, 5, 6, 11, 0)) == 200


def test_seventh_send_within_60_seconds_waits() -> None:
    limits = RateLimits(per_minute=6, per_hour=0, per_day=0)
    counters, t0 = SimCounters(), sh(2026, 5, 6, 10, 0, 30)
    for k in range(6):  # six sends 7 s apart: the shortest jittered gap
        counters = record_send(counters, t0 + timedelta(seconds=7 * k), SH)
    now = t0 + timedelta(seconds=42)
    assert next_send_time(now - timedelta(seconds=7), limits, counters, now, SH,
                          random.Random(0)) == (t0 + timedelta(seconds=60)).astimezone(UTC)


def test_long_message_is_not_stuck_behind_the_per_minute_rate() -> None:
    now = sh(2026, 5, 6, 10, 0, 0)
    when = next_send_time(None, LIMITS, SimCounters(), now, SH, random.Random(0), parts=8)
    assert when == now


def test_never_earlier_than_now() -> None:
    now = sh(2026, 5, 6, 10)
    assert next_send_time(now - timedelta(days=1), LIMITS, SimCounters(), now, SH,
                          random.Random(0)) == now


@pytest.mark.parametrize("per_minute", [1, 6, 20, 60])
def test_pacing_jitter_within_bounds_and_mean_on_target(per_minute: int) -> None:
    rng = random.Random(20260506)
    limits = RateLimits(per_minute=per_minute, per_hour=0, per_day=0)
    last = sh(2026, 5, 6, 10, 0, 0)
    base = 60 / per_minute
    gaps = [(next_send_time(last, limits, SimCounters(), last, SH, rng) - last).total_seconds()
            for _ in range(5000)]
    assert min(gaps) >= base * 0.7 - 1e-6
    assert max(gaps) <= base * 1.3 + 1e-6
    assert statistics.mean(gaps) == pytest.approx(base, rel=0.02)
    # Jitter really varies the gap: a machine-regular SIM would have stdev 0.
    assert statistics.stdev(gaps) > base * 0.1


def test_pacing_is_reproducible_with_a_seeded_rng() -> None:
    last = sh(2026, 5, 6, 10)
    draws = [next_send_time(last, LIMITS, SimCounters(), last, SH, random.Random(7))
             for _ in range(2)]
    assert draws[0] == draws[1]


def test_counters_survive_a_restart_through_json() -> None:
    c = record_send(SimCounters(), sh(2026, 1, 31, 23, 59), SH, parts=3)
    c = record_send(c, sh(2026, 1, 31, 23, 59, 40), SH, parts=2)
    data = json.loads(json.dumps(c.to_dict(sends=True)))
    restored = SimCounters.from_dict(data)
    assert restored == c
    assert headroom(restored, LIMITS, sh(2026, 2, 1, 0, 30), SH) == 195  # sliding: not reset
    assert restored.rolled(sh(2026, 2, 1, 0, 30), SH).count("day") == 0  # calendar: reset
    assert SimCounters.from_dict({}) == SimCounters()


def test_plain_to_dict_is_the_calendar_counts_only() -> None:
    # What the send path stores after every part: small and cheap, as before.
    c = record_send(SimCounters(), sh(2026, 1, 31, 23, 59), SH, parts=3)
    assert set(c.to_dict()) == {"minute", "hour", "day", "month"}
    restored = SimCounters.from_dict(c.to_dict())
    assert restored.rolled(sh(2026, 1, 31, 23, 59), SH).count("day") == 3
    assert restored.sent_within("day", sh(2026, 1, 31, 23, 59)) == 0


def test_sends_may_be_given_as_bare_instants() -> None:
    restored = SimCounters.from_dict({"sends": ["2026-05-06T02:00:00+00:00",
                                                ["2026-05-06T02:00:10+00:00", 3]]})
    assert restored.sent_within("minute", sh(2026, 5, 6, 10, 0, 30)) == 4
    with pytest.raises(ValueError, match="aware"):
        SimCounters.from_dict({"sends": ["2026-05-06T02:00:00"]})


def test_the_value_passed_to_record_send_is_untouched() -> None:
    c = record_send(SimCounters(), sh(2026, 5, 6, 10), SH, parts=2)
    after = record_send(c, sh(2026, 5, 6, 10, 0, 5), SH, parts=3)
    assert c.sent_within("minute", sh(2026, 5, 6, 10, 0, 5)) == 2
    assert after.sent_within("minute", sh(2026, 5, 6, 10, 0, 5)) == 5


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        headroom(SimCounters(), LIMITS, datetime(2026, 5, 6, 10), SH)


def test_record_send_needs_at_least_one_part() -> None:
    with pytest.raises(ValueError):
        record_send(SimCounters(), sh(2026, 5, 6), SH, parts=0)


def test_limits_from_dispatch_config() -> None:
    config = DispatchConfig(per_sim_per_minute=4, per_sim_per_hour=150, per_sim_per_day=900,
                            per_sim_per_month=20000)
    assert RateLimits.from_config(config) == RateLimits(4, 150, 900, 20000)


def test_results_are_utc_instants() -> None:
    when = next_send_time(None, LIMITS, SimCounters(), sh(2026, 5, 6, 10), SH, random.Random(0))
    assert when.utcoffset() == timedelta(0) and when.tzinfo is UTC
