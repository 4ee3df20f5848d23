"""Roles, password policy and hashing, lockout backoff: pure rules, from tables."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from appliance.accounts.lockout import LockPolicy, after_failure, lock_seconds, retry_after
from appliance.accounts.passwords import (
    PasswordRefused,
    check_new_password,
    hash_password,
    password_matches,
)
from appliance.accounts.roles import ACTIONS, PERMISSIONS, ROLES, may
from appliance.store.accounts import UserInfo

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def user(role: str, *, disabled: bool = False, must_change: bool = False) -> UserInfo:
    return UserInfo(1, "u", "u", role, None, None, disabled, must_change, T0, None, None)


ROLE_TABLE = [
    # role          send   approve read   admin  diagnose
    ("admin",       True,  True,   True,  True,  True),
    ("approver",    True,  True,   True,  False, False),
    ("operator",    True,  False,  True,  False, False),
    ("viewer",      False, False,  True,  False, False),
    ("technician",  False, False,  True,  False, True),
]


@pytest.mark.parametrize(("role", *ACTIONS), ROLE_TABLE)
def test_what_each_role_may_do(role, send, approve, read, admin, diagnose):
    expected = dict(zip(ACTIONS, (send, approve, read, admin, diagnose), strict=True))
    assert {a: may(user(role), a) for a in ACTIONS} == expected


def test_the_table_covers_every_role():
    assert sorted(r[0] for r in ROLE_TABLE) == sorted(ROLES) == sorted(PERMISSIONS)


@pytest.mark.parametrize("role", ROLES)
def test_must_change_password_or_disabled_may_do_nothing(role):
    for action in ACTIONS:
        assert not may(user(role, must_change=True), action)
        assert not may(user(role, disabled=True), action)


def test_an_unknown_action_is_a_programming_error():
    with pytest.raises(ValueError, match="unknown action 'delete'"):
        may(user("admin"), "delete")


@pytest.mark.parametrize(("name", "password", "problem"), [
    ("alice", "short7!", "at least 8"),
    ("alice", "Alice", "at least 8"),
    ("alice12345", "ALICE12345", "not be the user's name"),
    ("alice", "tab\there!!", "control characters"),
    ("alice", "x" * 257, "at most 256"),
    ("alice", "\ud800abcdefgh", "lone surrogate"),
])
def test_password_policy_refuses(name, password, problem):
    with pytest.raises(PasswordRefused, match=problem):
        check_new_password(name, password)


def test_password_policy_honours_a_longer_minimum():
    with pytest.raises(PasswordRefused, match="at least 12"):
        check_new_password("bob", "elevenchars", min_length=12)
    assert check_new_password("bob", "twelve chars", min_length=12) == "twelve chars"


def test_password_hash_round_trip():
    stored = hash_password("correct horse 电池")
    assert stored.startswith("scrypt$16384$8$1$")
    assert "correct" not in stored
    assert password_matches("correct horse 电池", stored)
    assert not password_matches("correct horse 电", stored)
    assert not password_matches("x", "bcrypt$garbage")
    assert hash_password("same") != hash_password("same")  # salted


@pytest.mark.parametrize(("failures", "threshold", "seconds"), [
    (1, 5, 0), (4, 5, 0), (5, 5, 30), (6, 5, 60), (7, 5, 120), (10, 5, 960),
    (11, 5, 1920), (12, 5, 3600), (40, 5, 3600), (500, 5, 3600),
])
def test_lockout_doubles_from_the_threshold_up_to_the_cap(failures, threshold, seconds):
    assert lock_seconds(failures, threshold, 30.0, 3600.0) == seconds


def test_a_run_of_failures_with_a_clock():
    policy = LockPolicy(user_threshold=3, address_threshold=10, base_seconds=10,
                        max_seconds=100, forget_after=600)
    # (seconds since start, failures after it, locked for seconds)
    table = [(0, 1, 0), (1, 2, 0), (2, 3, 10), (20, 4, 20), (50, 5, 40), (100, 6, 80),
             (200, 7, 100), (300, 8, 100),
             (300 + 600, 1, 0)]  # ten quiet minutes: the count starts again
    state = None
    for at, failures, locked in table:
        now = T0 + timedelta(seconds=at)
        count, until = after_failure(state, now, "user:alice", policy)
        assert count == failures, at
        assert retry_after(until, now) == locked, at
        state = (count, now)


def test_an_address_has_its_own_threshold():
    policy = LockPolicy(user_threshold=3, address_threshold=10)
    assert after_failure((2, T0), T0, "user:x", policy)[1] is not None
    assert after_failure((2, T0), T0, "address:10.0.0.1", policy)[1] is None
    assert after_failure((9, T0), T0, "address:10.0.0.1", policy)[1] is not None
