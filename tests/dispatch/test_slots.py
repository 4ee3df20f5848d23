"""A SIM slot's counters and health as the balancer and /modems see them (no modem needed)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from appliance.dispatch import health, rates
from appliance.dispatch.cms_errors import ErrorClass
from appliance.dispatch.slots import SimSlot

TZ = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 5, 6, 2, 59, 30, tzinfo=UTC)  # 10:59:30 in Shanghai
LIMITS = rates.RateLimits(per_minute=6, per_hour=10, per_day=100)


def slot_with_sends(n: int) -> SimSlot:
    slot = SimSlot(iccid="8986001", network="mobile", sender=object())  # type: ignore[arg-type]
    for k in range(n):
        slot.record_sent(T0 + timedelta(seconds=k), TZ, 1)
    return slot


def test_view_counts_the_sliding_day_and_the_reserved_parts() -> None:
    slot = slot_with_sends(4)
    slot.reserved[1] = 3
    view = slot.view(LIMITS, T0 + timedelta(minutes=1), TZ)
    assert view.headroom == 10 - 4 - 3  # hour cap, less what is claimed and not yet sent
    assert view.sent_today == 4
    # An hour on, the calendar day is the same, the sliding hour is empty again.
    assert slot.view(LIMITS, T0 + timedelta(hours=1, seconds=4), TZ).headroom == 10 - 3


def test_counters_view_shows_calendar_and_sliding_counts() -> None:
    slot = slot_with_sends(4)
    slot.health = health.after_silence(slot.health, T0)
    slot.record_turnaround(0.4)
    view = slot.counters_view(LIMITS, T0 + timedelta(seconds=40), TZ)  # 11:00:10 local
    assert (view["sent_hour"], view["sent_last_hour"]) == (0, 4)  # the calendar hour turned
    assert (view["sent_today"], view["sent_last_24h"], view["sent_last_60s"]) == (4, 4, 4)
    assert view["consecutive_silences"] == 1 and view["resting_until"] is None
    assert view["turnaround_p99"] == 0.4
    assert view["sent_total"] == 4


def test_plan_and_check_with_the_parts_of_the_message() -> None:
    slot = slot_with_sends(4)
    now = T0 + timedelta(seconds=20)
    when = slot.plan_next_send(LIMITS, now, TZ, random.Random(1), parts=3)
    assert when == T0 + timedelta(seconds=60)  # 4 + 3 > 6 in the minute: the 1st must leave
    assert slot.caps_allow(LIMITS, now, TZ, parts=2) == now  # 4 + 2 fit now
    assert slot.next_send_at == when


def test_send_timeout_learns_from_the_turnarounds() -> None:
    slot = slot_with_sends(0)
    assert slot.send_timeout(5, 60, 3) == 15
    for _ in range(5):
        slot.record_turnaround(4.0)
    assert slot.send_timeout(5, 60, 3) == 12


def test_rest_shows_in_the_counters_view() -> None:
    slot = slot_with_sends(0)
    for _ in range(3):
        slot.health = health.after_failure(slot.health, ErrorClass.TRANSIENT, 500, T0)
    view = slot.counters_view(LIMITS, T0, TZ)
    assert view["resting_until"] == (T0 + timedelta(seconds=5)).isoformat()
    assert view["consecutive_failures"] == 3


def test_a_plan_without_parts_is_for_the_next_queued_message() -> None:
    slot = slot_with_sends(4)
    now = T0 + timedelta(seconds=20)
    assert slot.plan_next_send(LIMITS, now, TZ, random.Random(1)) < T0 + timedelta(seconds=60)
    slot.queue.put_nowait(7)
    slot.reserved[7] = 3  # claimed, 3 parts: 4 + 3 > 6 in the minute
    assert slot.plan_next_send(LIMITS, now, TZ, random.Random(1)) == T0 + timedelta(seconds=60)
    assert slot.queue.peek() == 7 and slot.queue.qsize() == 1
