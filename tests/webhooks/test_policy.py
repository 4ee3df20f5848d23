"""Retry policy from tables: which answers are final, how the wait grows, when to give up."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from appliance.webhooks.policy import backoff, classify, gives_up


@pytest.mark.parametrize(("status", "verdict"), [
    (200, "delivered"), (201, "delivered"), (204, "delivered"), (299, "delivered"),
    (None, "retry"), (500, "retry"), (502, "retry"), (503, "retry"), (599, "retry"),
    (408, "retry"), (425, "retry"), (429, "retry"),
    (400, "failed"), (401, "failed"), (403, "failed"), (404, "failed"), (410, "failed"),
    (413, "failed"), (422, "failed"), (301, "failed"), (302, "failed"), (307, "failed"),
    (101, "failed"),
])
def test_which_answers_are_final(status, verdict):
    assert classify(status) == verdict


def test_backoff_doubles_with_jitter_and_stops_at_the_cap():
    rng = random.Random(1)
    for failures in range(1, 30):
        plain = min(3600.0, 5.0 * 2 ** (failures - 1))
        waits = [backoff(failures, 5.0, 3600.0, rng) for _ in range(200)]
        assert all(plain * 0.5 <= w < plain for w in waits), failures
        assert len(set(waits)) > 100  # jittered: many rows do not retry in lockstep


def test_backoff_grows_until_the_cap():
    class Half(random.Random):
        def random(self) -> float:
            return 0.5

    waits = [backoff(n, 1.0, 60.0, Half()) for n in range(1, 10)]
    assert waits == [0.75, 1.5, 3.0, 6.0, 12.0, 24.0, 45.0, 45.0, 45.0]
    assert backoff(10_000, 1.0, 60.0, Half()) == 45.0  # no overflow for a huge count


T0 = datetime(2026, 12, 1, tzinfo=UTC)


@pytest.mark.parametrize(("attempts", "age", "max_attempts", "max_age", "final"), [
    (1, 0, 15, 86400, False),
    (14, 0, 15, 86400, False),
    (15, 0, 15, 86400, True),
    (3, 86399, 15, 86400, False),
    (3, 86400, 15, 86400, True),
    (1000, 10, 0, 86400, False),  # no attempt limit: age alone
    (1000, 86400, 0, 86400, True),
    (5, 10**7, 5, 0, True),  # no age limit: attempts alone
    (4, 10**7, 5, 0, False),
])
def test_when_a_delivery_gives_up(attempts, age, max_attempts, max_age, final):
    now = T0 + timedelta(seconds=age)
    assert gives_up(attempts, T0, now, max_attempts=max_attempts, max_age=max_age) is final
