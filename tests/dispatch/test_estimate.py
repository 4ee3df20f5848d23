"""The finish-time estimate of a send under the SIMs' caps, from tables."""

from datetime import UTC, datetime, timedelta

import pytest

from appliance.dispatch.estimate import MODEM_PARTS_PER_HOUR, SimCapacity, estimate_finish

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
MIIT = SimCapacity(per_minute=6, per_hour=200, per_day=1000)


def sims(n, **kw):
    return [SimCapacity(**{"per_minute": 6, "per_hour": 200, "per_day": 1000, **kw})
            for _ in range(n)]


@pytest.mark.parametrize(("messages", "parts", "fleet", "backlog", "after", "capped"), [
    # 6 SIMs at 200/hour send 1,200 an hour: 1,000 notices in 50 minutes.
    (1_000, 1, sims(6), 0, timedelta(minutes=50), False),
    # 10,000: 6,000 in the first 5 hours fill the daily caps; the other 4,000 go 24 hours
    # from now at 1,200 an hour (3 h 20 min).
    (10_000, 1, sims(6), 0, timedelta(hours=27, minutes=20), True),
    # Parts, not messages: 100 three-part messages on one SIM at 200/hour take 1.5 hours.
    (100, 3, sims(1), 0, timedelta(hours=1, minutes=30), False),
    # The backlog goes first: 600 queued + 600 new on 6 SIMs = one hour.
    (600, 1, sims(6), 600, timedelta(hours=1), False),
    # A daily cap already used up: nothing until 24 hours from now.
    (100, 1, sims(1, day_left=0), 0, timedelta(hours=24, minutes=30), True),
    # Half the daily cap left: 500 now (2.5 h), the other 100 the next day (30 min).
    (600, 1, sims(1, day_left=500), 0, timedelta(hours=24, minutes=30), True),
    # The per-minute cap binds before the hourly one: 2/minute is 120/hour.
    (120, 1, sims(1, per_minute=2), 0, timedelta(hours=1), False),
    # No caps at all: a modem's own pace.
    (MODEM_PARTS_PER_HOUR, 1, sims(1, per_minute=0, per_hour=0, per_day=0), 0,
     timedelta(hours=1), False),
    # Nothing to send: done now.
    (0, 1, sims(2), 0, timedelta(0), False),
])
def test_finish_time(messages, parts, fleet, backlog, after, capped):
    est = estimate_finish(messages, parts, fleet, NOW, backlog_parts=backlog)
    assert est.finish is not None
    assert abs((est.finish - NOW) - after) < timedelta(seconds=1)
    assert est.day_capped is capped
    assert est.sims == len(fleet)
    assert est.parts == messages * parts


def test_no_sim_able_to_send_has_no_finish():
    est = estimate_finish(100, 1, [], NOW)
    assert est.finish is None and est.sims == 0 and est.rate == 0


def test_beyond_the_horizon_has_no_finish():
    # 1,000 a day for 400,000 parts: more than a year.
    assert estimate_finish(400_000, 1, [MIIT], NOW).finish is None


def test_a_later_start_ignores_todays_backlog_and_used_caps():
    start = NOW + timedelta(days=2)
    est = estimate_finish(200, 1, sims(1, day_left=0), NOW, backlog_parts=5_000, start=start)
    assert est.finish == start + timedelta(hours=1)
    assert est.backlog_parts == 0


def test_rates_reported_for_the_sentence():
    fleet = sims(5) + sims(1, per_minute=2)
    est = estimate_finish(10, 1, fleet, NOW)
    assert est.rate == 200  # the most common
    assert est.total_rate == 5 * 200 + 120
