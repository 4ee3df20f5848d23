"""SIM health: rest after a run of failures, silences, barring evidence, registration; the clock
and the policy are passed in."""

from datetime import UTC, datetime, timedelta

import pytest

from appliance.config import DispatchConfig
from appliance.dispatch.cms_errors import ErrorClass, classify_send_error
from appliance.dispatch.health import (
    DEFAULT_POLICY,
    REGISTRATION_DENIED_REASON,
    SIM_PROBLEM_REST,
    HealthPolicy,
    SimHealth,
    after_failure,
    after_registration_change,
    after_silence,
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


# Defaults: rest from the 3rd failure in a row, 5 s doubling, at most 300 s.
@pytest.mark.parametrize(("failures", "seconds"), [
    (0, 0), (1, 0), (2, 0), (3, 5), (4, 10), (5, 20), (6, 40), (7, 80), (8, 160), (9, 300),
    (10, 300), (10_000, 300),
])
def test_rest_starts_after_three_failures_doubles_and_is_capped(failures: int,
                                                                seconds: int) -> None:
    assert rest_for(failures) == timedelta(seconds=seconds)


# (rest_after_failures, base, max, failures, expected rest in seconds)
POLICIES = [
    (1, 5, 300, 1, 5),
    (1, 5, 300, 2, 10),
    (5, 2, 60, 4, 0),
    (5, 2, 60, 5, 2),
    (5, 2, 60, 9, 32),
    (5, 2, 60, 10, 60),
    (2, 30, 30, 7, 30),
]


@pytest.mark.parametrize(("after", "base", "cap", "failures", "seconds"), POLICIES)
def test_rest_follows_the_policy(after: int, base: int, cap: int, failures: int,
                                 seconds: int) -> None:
    policy = HealthPolicy(rest_after_failures=after, rest_base=timedelta(seconds=base),
                          rest_max=timedelta(seconds=cap))
    assert rest_for(failures, policy) == timedelta(seconds=seconds)
    h = SimHealth()
    for _ in range(failures):
        h = after_failure(h, ErrorClass.TRANSIENT, 500, T0, policy=policy)
    assert is_available(h, T0) is (seconds == 0)
    assert h.rest_until == (T0 + timedelta(seconds=seconds) if seconds else None)


def test_one_transient_failure_does_not_rest_the_sim() -> None:
    h = fail(SimHealth(), 500, T0)
    assert is_available(h, T0)
    assert (h.consecutive_failures, h.rest_until) == (1, None)
    assert h.score < 1.0  # it still counts against the SIM when choosing


def test_consecutive_transient_failures_rest_longer_each_time() -> None:
    h, now, rests = SimHealth(), T0, []
    for _ in range(12):
        h = fail(h, 41, now)
        rests.append((h.rest_until - now).total_seconds() if h.rest_until else 0)
        if h.rest_until:
            assert not is_available(h, now)
            now = h.rest_until  # the dispatcher tries again when the rest ends
        assert is_available(h, now)
    assert rests == [0, 0, 5, 10, 20, 40, 80, 160, 300, 300, 300, 300]
    assert h.consecutive_failures == 12
    assert not h.barred  # 41 (temporary failure) is no barring evidence


def test_success_ends_the_run_and_the_rest() -> None:
    h = SimHealth()
    for i in range(4):
        h = fail(h, 47, T0 + timedelta(seconds=i))
    assert not is_available(h, T0 + timedelta(seconds=4))
    h = after_success(h, T0 + timedelta(minutes=5))
    assert (h.consecutive_failures, h.rest_until) == (0, None)
    later = T0 + timedelta(minutes=6)
    h = fail(fail(h, 47, later), 47, later)
    assert is_available(h, later)  # two in a row again: no rest yet
    assert fail(h, 47, later).rest_until == later + timedelta(seconds=5)  # back to the first step


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
    h = fail(SimHealth(), 310, T0)  # at once: no run of three needed
    assert h.rest_until == T0 + SIM_PROBLEM_REST
    # A transient failure meanwhile does not shorten it.
    assert fail(fail(fail(h, 500, T0), 500, T0), 500, T0).rest_until == T0 + SIM_PROBLEM_REST
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


def test_one_silence_does_not_rest_the_sim_repeated_ones_do() -> None:
    h = after_silence(SimHealth(), T0)
    assert is_available(h, T0) and h.consecutive_silences == 1
    h = after_silence(h, T0 + timedelta(seconds=10))
    assert h.rest_until == T0 + timedelta(seconds=15)  # the 2nd in a row: rest_base
    h = after_silence(h, T0 + timedelta(seconds=15))
    assert h.rest_until == T0 + timedelta(seconds=25)  # doubled
    assert h.consecutive_failures == 0 and h.recent_barring_errors == ()  # not a refusal


def test_a_success_ends_a_run_of_silences() -> None:
    h = after_success(after_silence(SimHealth(), T0), T0 + timedelta(seconds=1))
    h = after_silence(h, T0 + timedelta(seconds=2))
    assert is_available(h, T0 + timedelta(seconds=2)) and h.consecutive_silences == 1


def test_silences_and_failures_are_separate_runs() -> None:
    h = fail(fail(SimHealth(), 500, T0), 500, T0)
    h = after_silence(h, T0)
    assert is_available(h, T0)  # two failures and one silence: neither run is long enough
    assert not is_available(fail(h, 500, T0), T0)


def test_silences_follow_the_policy() -> None:
    policy = HealthPolicy(rest_after_silences=1, rest_base=timedelta(seconds=2),
                          rest_max=timedelta(seconds=3))
    h = after_silence(SimHealth(), T0, policy=policy)
    assert h.rest_until == T0 + timedelta(seconds=2)
    h = after_silence(h, T0 + timedelta(seconds=2), policy=policy)
    assert h.rest_until == T0 + timedelta(seconds=5)  # 2 doubled to 4, capped at 3


def test_health_stored_by_an_older_version_is_read() -> None:
    # What 0.x wrote (health.to_dict before silences were counted), as the Setting row holds it.
    old = {"score": 0.64, "consecutive_failures": 2, "rest_until": "2026-05-06T02:01:00+00:00",
           "barred": False, "barred_reason": "",
           "recent_barring_errors": [{"at": "2026-05-06T02:00:00+00:00", "code": 50,
                                      "weight": 2}],
           "registered": True}
    h = from_dict(old)
    assert (h.score, h.consecutive_failures, h.consecutive_silences) == (0.64, 2, 0)
    assert h.rest_until == T0 + timedelta(minutes=1)
    assert len(h.recent_barring_errors) == 1
    assert from_dict({}) == SimHealth()
    assert from_dict(to_dict(after_silence(h, T0))) == after_silence(h, T0)


def test_policy_from_config_and_its_defaults() -> None:
    assert HealthPolicy.from_config(DispatchConfig()) == DEFAULT_POLICY
    policy = HealthPolicy.from_config(DispatchConfig(
        rest_after_failures=4, rest_after_silences=3, rest_base_seconds=1.5,
        rest_max_seconds=60))
    assert (policy.rest_after_failures, policy.rest_after_silences) == (4, 3)
    assert (policy.rest_base, policy.rest_max) == (timedelta(seconds=1.5), timedelta(minutes=1))


@pytest.mark.parametrize("kwargs", [
    {"rest_after_failures": 0}, {"rest_after_silences": 0},
    {"rest_base": timedelta(0)}, {"rest_base": timedelta(seconds=10),
                                  "rest_max": timedelta(seconds=5)},
])
def test_a_policy_that_makes_no_sense_is_refused(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        HealthPolicy(**kwargs)
