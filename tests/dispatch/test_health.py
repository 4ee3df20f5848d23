"""SIM health: backoff, barring evidence, registration; the clock is passed in."""

from datetime import UTC, datetime, timedelta

import pytest

from appliance.dispatch.cms_errors import classify_send_error
from appliance.dispatch.health import (
    MAX_REST,
    REGISTRATION_DENIED_REASON,
    SimHealth,
    after_failure,
    after_registration_change,
    after_success,
    clear_barring,
    from_dict,
    is_available,
    rest_for,
    to_dict,
)

T0 = datetime(2026, 5, 6, 2, 0, tzinfo=UTC)


def fail(h: SimHealth, cms: int, now: datetime) -> SimHealth:
    return after_failure(h, classify_send_error(cms, None), cms, now)


@pytest.mark.parametrize(("failures", "seconds"), [
    (0, 0), (1, 30), (2, 60), (3, 120), (4, 240), (5, 480), (6, 960), (7, 1800), (8, 1800),
    (50, 1800), (10_000, 1800),
])
def test_backoff_doubles_and_is_capped_at_30_minutes(failures: int, seconds: int) -> None:
    assert rest_for(failures) == timedelta(seconds=seconds)


def test_consecutive_transient_failures_rest_longer_each_time() -> None:
    h, now, rests = SimHealth(), T0, []
    for _ in range(9):
        h = fail(h, 41, now)
        rests.append((h.rest_until - now).total_seconds())
        assert not is_available(h, now)
        now = h.rest_until  # the dispatcher tries again when the rest ends
        assert is_available(h, now)
    assert rests == [30, 60, 120, 240, 480, 960, 1800, 1800, 1800]
    assert h.consecutive_failures == 9
    assert not h.barred  # 41 (temporary failure) is no barring evidence


def test_success_ends_the_run_and_the_rest() -> None:
    h = fail(fail(SimHealth(), 47, T0), 47, T0 + timedelta(seconds=30))
    h = after_success(h, T0 + timedelta(minutes=5))
    assert (h.consecutive_failures, h.rest_until) == (0, None)
    later = T0 + timedelta(minutes=6)
    assert fail(h, 47, later).rest_until == later + timedelta(seconds=30)  # back to the first step


@pytest.mark.parametrize("cms", [1, 28, 30, 96, 195, 304])
def test_permanent_errors_do_not_hurt_the_sim(cms: int) -> None:
    h = SimHealth(score=0.8, consecutive_failures=2)
    after = fail(h, cms, T0)
    assert after == h
    assert is_available(after, T0)


# (codes, one every N seconds, barred?)
BARRING = [
    ([50, 50, 50], 60, True),
    ([69, 69, 69], 60, True),
    ([8, 10, 29], 60, True),
    ([21, 21, 21], 60, True),
    ([50, 50], 60, False),
    ([38] * 6, 120, True),
    ([42] * 6, 120, True),
    ([38, 42, 38, 42, 38, 42], 120, True),
    ([42] * 5, 120, False),
    ([50, 42, 42, 42, 42], 120, True),  # mixed evidence adds up (2 + 4)
    ([50, 50, 50], 1900, False),  # never three within one hour: the oldest ages out
    ([41] * 10, 60, False),  # temporary failure is never barring evidence
    ([310] * 5, 60, False),  # a missing SIM is a SIM problem, not barring
]


@pytest.mark.parametrize(("codes", "every", "barred"), BARRING)
def test_repeated_barring_errors_mark_the_sim_barred(codes: list[int], every: int,
                                                     barred: bool) -> None:
    h, now = SimHealth(), T0
    for cms in codes:
        h = fail(h, cms, now)
        now += timedelta(seconds=every)
    assert h.barred is barred
    if barred:
        assert "barred" in h.barred_reason and str(codes[-1]) in h.barred_reason
        assert not is_available(h, now + timedelta(days=1))  # barred outlasts any rest


def test_a_success_between_clears_the_barring_evidence() -> None:
    h = fail(fail(SimHealth(), 50, T0), 50, T0 + timedelta(minutes=1))
    h = after_success(h, T0 + timedelta(minutes=2))
    h = fail(h, 50, T0 + timedelta(minutes=3))
    assert not h.barred and len(h.recent_barring_errors) == 1


def test_sim_problem_rests_the_longest_until_registration_returns() -> None:
    h = fail(SimHealth(), 310, T0)
    assert h.rest_until == T0 + MAX_REST
    h = after_registration_change(h, True, T0 + timedelta(minutes=1))
    assert is_available(h, T0 + timedelta(minutes=1))


def test_score_falls_on_failures_and_recovers_on_successes() -> None:
    h = SimHealth()
    for i in range(5):
        h = fail(h, 42, T0 + timedelta(minutes=i))
    low = h.score
    assert 0 < low < 0.5
    for i in range(10):
        h = after_success(h, T0 + timedelta(hours=1, minutes=i))
    assert low < h.score <= 1.0


# (registered, denied, expect registered, expect barred)
REGISTRATION = [
    (False, False, False, False),  # lost signal: unavailable, not barred
    (False, True, False, True),  # registration denied: the operator refuses the SIM
]


@pytest.mark.parametrize(("registered", "denied", "is_registered", "barred"), REGISTRATION)
def test_registration_loss(registered: bool, denied: bool, is_registered: bool,
                           barred: bool) -> None:
    h = after_registration_change(SimHealth(), registered, T0, denied=denied)
    assert (h.registered, h.barred) == (is_registered, barred)
    assert not is_available(h, T0)


def test_registering_again_lifts_a_denial_but_not_error_barring() -> None:
    denied = after_registration_change(SimHealth(), False, T0, denied=True)
    assert denied.barred_reason == REGISTRATION_DENIED_REASON
    assert is_available(after_registration_change(denied, True, T0), T0)
    h = SimHealth()
    for i in range(3):
        h = fail(h, 50, T0 + timedelta(minutes=i))
    back = after_registration_change(h, True, T0 + timedelta(minutes=5))
    assert back.barred and not is_available(back, T0 + timedelta(hours=2))
    assert is_available(clear_barring(back), T0 + timedelta(hours=2))


def test_health_survives_a_restart() -> None:
    h = SimHealth()
    for i in range(2):
        h = fail(h, 50, T0 + timedelta(minutes=i))
    restored = from_dict(to_dict(h))
    assert restored == h
    assert fail(restored, 50, T0 + timedelta(minutes=3)).barred
