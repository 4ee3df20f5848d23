"""The accounts service on a real SQLite store with a hand-moved clock: logins, lockout with
backoff, the first-login password change, sessions and their expiry."""

from __future__ import annotations

import pytest

from appliance.accounts.manage import add_user, prepare_password
from appliance.accounts.passwords import PasswordRefused
from appliance.accounts.roles import may
from appliance.accounts.service import Accounts, LoginRefused
from appliance.audit import Actor
from appliance.config import AccountsConfig
from appliance.store import audit as audit_store
from appliance.store.models import LoginAttempt

ADMIN = Actor("cli", "", "root", "", "cli")
CONFIG = AccountsConfig(lockout_after=3, address_lockout_after=6, lockout_base_seconds=10,
                        lockout_max_seconds=100, session_idle_seconds=600,
                        session_max_seconds=3600)


@pytest.fixture
async def accounts(store, clock):
    hashed = prepare_password("alice", "first-pass-1")
    await store.write(lambda: add_user(ADMIN, "alice", "operator", hashed))
    return Accounts(CONFIG, store, clock=clock)


async def actions(store) -> list[str]:
    rows = await store.read(lambda: audit_store.list_entries(limit=100, ascending=True))
    return [r["action"] for r in rows]


async def test_login_then_first_password_change(accounts, store):
    user = await accounts.authenticate("alice", "first-pass-1", "10.0.0.5")
    assert user.name == "alice" and user.must_change_password
    assert not may(user, "send")  # nothing before the first password is replaced
    token = await accounts.create_session(user, "10.0.0.5")
    assert (await accounts.session_user(token)).id == user.id

    with pytest.raises(PasswordRefused, match="current password is wrong"):
        await accounts.change_password(user, "nope", "second-pass-2")
    with pytest.raises(PasswordRefused, match="must differ"):
        await accounts.change_password(user, "first-pass-1", "first-pass-1")
    with pytest.raises(PasswordRefused, match="at least 8"):
        await accounts.change_password(user, "first-pass-1", "short")
    changed = await accounts.change_password(user, "first-pass-1", "second-pass-2")
    assert not changed.must_change_password and may(changed, "send")
    assert await accounts.session_user(token) is None  # every session ended on the change
    with pytest.raises(LoginRefused) as refused:
        await accounts.authenticate("alice", "first-pass-1", "10.0.0.5")
    assert refused.value.reason == "invalid"  # the first password did not survive
    assert (await accounts.authenticate("alice", "second-pass-2", "10.0.0.5")).id == user.id
    assert await actions(store) == [
        "user.create", "login.success", "login.failure", "password.change", "login.failure",
        "login.success"]


async def test_unknown_user_and_wrong_password_answer_alike(accounts, store):
    answers = []
    for name in ("alice", "mallory"):
        with pytest.raises(LoginRefused) as refused:
            await accounts.authenticate(name, "guess-guess", "10.0.0.9")
        answers.append((refused.value.reason, str(refused.value)))
    assert answers[0] == answers[1] == ("invalid", "wrong user name or password")
    rows = await store.read(lambda: [(a.name, a.success, a.reason)
                                     for a in LoginAttempt.select().order_by(LoginAttempt.id)])
    assert rows == [("alice", False, "invalid"), ("mallory", False, "invalid")]


async def test_lockout_backs_off_and_ends(accounts, store, clock):
    # (seconds to wait first, password, outcome, retry_after)
    table = [
        (0, "bad", "invalid", 0),
        (1, "bad", "invalid", 0),
        (1, "bad", "locked", 10),          # the 3rd failure in a row locks for 10 s
        (5, "first-pass-1", "locked", 5),  # even the right password waits it out
        (5, "bad", "locked", 20),          # the 4th failure: 20 s
        (20, "bad", "locked", 40),         # the 5th: 40 s
        (40, "first-pass-1", "ok", 0),     # over: the right password gets in and clears it
        (0, "bad", "invalid", 0),          # the count started again
    ]
    for wait, password, outcome, retry in table:
        clock.advance(wait)
        if outcome == "ok":
            assert (await accounts.authenticate("alice", password, "10.0.0.7")).name == "alice"
            continue
        with pytest.raises(LoginRefused) as refused:
            await accounts.authenticate("alice", password, "10.0.0.7")
        assert (refused.value.reason, refused.value.retry_after) == (outcome, retry), wait
    assert (await actions(store)).count("login.lockout") == 3


async def test_one_address_trying_many_names_is_locked(accounts, clock):
    for i in range(6):
        with pytest.raises(LoginRefused):
            await accounts.authenticate(f"name{i}", "guess-guess", "203.0.113.4")
    with pytest.raises(LoginRefused) as refused:
        await accounts.authenticate("alice", "first-pass-1", "203.0.113.4")
    assert refused.value.reason == "locked" and refused.value.retry_after == 10
    # another address is not affected
    assert (await accounts.authenticate("alice", "first-pass-1", "10.1.1.1")).name == "alice"


async def test_disabled_user_cannot_log_in(accounts, store):
    from appliance.accounts.manage import change_user

    user = await accounts.authenticate("alice", "first-pass-1", "10.0.0.5")
    token = await accounts.create_session(user)
    await store.write(lambda: change_user(ADMIN, user.id, {"disabled": True}))
    assert await accounts.session_user(token) is None
    with pytest.raises(LoginRefused) as refused:
        await accounts.authenticate("alice", "first-pass-1", "10.0.0.5")
    assert refused.value.reason == "disabled"


async def test_session_idle_and_absolute_expiry(accounts, clock):
    user = await accounts.authenticate("alice", "first-pass-1", "10.0.0.5")
    token = await accounts.create_session(user)
    assert token.startswith("cgs_")
    for _ in range(5):  # used every 9 minutes: alive past the 10-minute idle bound
        clock.advance(540)
        assert await accounts.session_user(token) is not None
    clock.advance(599)
    assert await accounts.session_user(token) is not None
    clock.advance(601)  # over the absolute hour (540*5 + 599 + 601 > 3600)
    assert await accounts.session_user(token) is None

    idle = await accounts.create_session(user)
    clock.advance(601)
    assert await accounts.session_user(idle) is None  # ten minutes unused

    ended = await accounts.create_session(user)
    assert await accounts.end_session(ended)
    assert await accounts.session_user(ended) is None
    assert not await accounts.end_session(ended)
    assert await accounts.session_user("cgs_forged") is None


async def test_session_tokens_are_stored_hashed(accounts, store):
    from appliance.store.models import UserSession

    user = await accounts.authenticate("alice", "first-pass-1", "10.0.0.5")
    token = await accounts.create_session(user)
    stored = await store.read(lambda: [s.token_hash for s in UserSession.select()])
    assert len(stored) == 1 and token not in stored[0] and len(stored[0]) == 64


async def test_old_sessions_and_attempts_are_pruned_at_login(accounts, store, clock):
    from appliance.store.models import LoginLock, UserSession

    with pytest.raises(LoginRefused):
        await accounts.authenticate("mallory", "guess-guess", "10.0.0.66")
    assert await store.read(lambda: LoginLock.select().count()) == 2  # user:, address:
    user = await accounts.authenticate("alice", "first-pass-1", "10.0.0.5")
    old = await accounts.create_session(user)
    await accounts.end_session(old)
    clock.advance(91 * 86400)
    user = await accounts.authenticate("alice", "first-pass-1", "10.0.0.5")
    await accounts.create_session(user)
    assert await store.read(lambda: UserSession.select().count()) == 1
    assert await store.read(lambda: LoginAttempt.select().count()) == 1  # today's only
    assert await store.read(lambda: LoginLock.select().count()) == 0  # forgotten counts
