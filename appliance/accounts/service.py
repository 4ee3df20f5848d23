"""The accounts service the consoles call: log in, change a password, sessions.

Knows: the order of a login (lock check, scrypt, outcome written with its audit entry), that
an unknown name costs the same scrypt as a wrong password, sessions as random tokens stored
only as their SHA-256, idle and absolute expiry, and that a password change ends every
session of the user.
Must not know: HTTP, terminals, SQL (store.accounts).

Threads: reads go through `Store.read`, writes through `Store.write` (each login's outcome is
one job: attempt, lock counts and audit entry together); scrypt runs on a worker thread,
at most SCRYPT_AT_ONCE at a time (it takes 16 MiB and tens of ms on a Pi), never on the event
loop nor on a store thread.

A user who must change their password (created or reset by an administrator, or by `cardgate
demo`) can log in and get a session, but `roles.may` allows them nothing until
`change_password` succeeds: no first password survives the first login.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta

from appliance.accounts.lockout import (
    LockPolicy,
    address_subject,
    after_failure,
    retry_after,
    user_subject,
)
from appliance.accounts.passwords import (
    MAX_LENGTH,
    PasswordRefused,
    check_new_password,
    dummy_hash,
    hash_password,
    password_matches,
)
from appliance.audit import Actor, append
from appliance.config import AccountsConfig
from appliance.store import accounts as accounts_store
from appliance.store.accounts import UserInfo
from appliance.store.db import utcnow

SCRYPT_AT_ONCE = 2
TOUCH_EVERY = timedelta(seconds=60)  # a session's last use is written at most this often
TOKEN_PREFIX = "cgs_"
KEEP_SESSIONS = timedelta(days=1)  # ended or expired sessions are deleted after this
KEEP_ATTEMPTS = timedelta(days=90)  # the login history kept (the audit log keeps its own)


class LoginRefused(Exception):
    """A login that did not succeed. `reason`: "invalid" (unknown name or wrong password: the
    same answer for both), "disabled", "locked" (`retry_after` seconds to wait)."""

    def __init__(self, reason: str, retry_after: int = 0) -> None:
        messages = {"invalid": "wrong user name or password",
                    "disabled": "this account is disabled",
                    "role": "this account's role may not log in here",
                    "locked": f"too many failed logins; try again in {retry_after} s"}
        super().__init__(messages.get(reason, reason))
        self.reason = reason
        self.retry_after = retry_after


def token_hash(token: str) -> str:
    """A session token is 256 random bits: a plain SHA-256 is enough to store it (no one can
    guess a preimage; scrypt is for secrets people choose)."""
    return hashlib.sha256(token.encode(errors="surrogatepass")).hexdigest()


class Accounts:
    def __init__(self, config: AccountsConfig, store, *,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.config = config
        self.store = store
        self.clock = clock or utcnow
        self.policy = LockPolicy.from_config(config)
        self._scrypt = asyncio.Semaphore(SCRYPT_AT_ONCE)

    async def _check(self, password: str, stored: str | None) -> bool:
        """scrypt off the loop; `stored` None (no such user): against the dummy hash, made
        on the same thread the first time, so an unknown name costs what a wrong password
        does."""
        # No password may be longer than MAX_LENGTH: a longer one is cut just past it (it still
        # cannot match), so a megabyte typed at the prompt costs what a short one does.
        password = password[:MAX_LENGTH + 1]
        async with self._scrypt:
            return await asyncio.to_thread(
                lambda: password_matches(password, stored or dummy_hash()) and bool(stored))

    # -- login ---------------------------------------------------------------------------

    async def authenticate(self, name: str, password: str, address: str,
                           door: str = "console",
                           roles: frozenset[str] | None = None) -> UserInfo:
        """The user, if `name` and `password` are right and neither the user nor the address
        is locked out; else LoginRefused. `roles`: the roles this door admits (the serial
        console: admin and technician); a right password of another role is refused as
        "role", recorded as such, not as a success, and not counted towards a lockout."""
        now = self.clock()
        subjects = [user_subject(name), address_subject(address)]
        # One read for both (a hop to a reader thread costs more than either query).
        locks, found = await self.store.read(lambda: (
            accounts_store.lock_rows(subjects), accounts_store.password_hash_of(name)))
        wait = max((retry_after(lock.locked_until, now) for lock in locks.values()), default=0)
        if wait:
            await self.store.write(lambda: accounts_store.record_attempt(
                name, address, door, False, "locked", now))
            raise LoginRefused("locked", wait)
        ok = await self._check(password, found[1] if found else None)
        actor = Actor("user" if found else "anonymous", str(found[0].id) if found else "",
                      name[:128], address, door)
        if found and ok:
            user = found[0]
            if user.disabled:
                await self.store.write(lambda: self._refused_disabled(actor, now))
                raise LoginRefused("disabled")
            if roles is not None and user.role not in roles:
                await self.store.write(lambda: self._refused_role(actor, user.role, now))
                raise LoginRefused("role")
            await self.store.write(lambda: self._succeeded(actor, user, subjects, now))
            return user
        wait = await self.store.write(lambda: self._failed(actor, subjects, now))
        raise LoginRefused("locked" if wait else "invalid", wait)

    def _succeeded(self, actor: Actor, user: UserInfo, subjects: list[str],
                   now: datetime) -> None:
        for subject in subjects:
            accounts_store.clear_lock(subject)
        accounts_store.record_attempt(actor.name, actor.address, actor.door, True, "ok", now)
        accounts_store.record_login(user.id, now)
        append(actor, "login.success", f"user:{user.name}",
               {"must_change_password": user.must_change_password}, at=now)

    def _refused_role(self, actor: Actor, role: str, now: datetime) -> None:
        accounts_store.record_attempt(actor.name, actor.address, actor.door, False, "role", now)
        append(actor, "login.failure", f"user:{actor.name}", {"reason": "role", "role": role},
               at=now)

    def _refused_disabled(self, actor: Actor, now: datetime) -> None:
        accounts_store.record_attempt(actor.name, actor.address, actor.door, False,
                                      "disabled", now)
        append(actor, "login.failure", f"user:{actor.name}", {"reason": "disabled"}, at=now)

    def _failed(self, actor: Actor, subjects: list[str], now: datetime) -> int:
        """Count the failure against the user and the address; the seconds now locked."""
        accounts_store.record_attempt(actor.name, actor.address, actor.door, False,
                                      "invalid", now)
        append(actor, "login.failure", f"user:{actor.name}", {"reason": "invalid"}, at=now)
        rows = accounts_store.lock_rows(subjects)
        wait = 0
        for subject in subjects:
            row = rows.get(subject)
            previous = (row.failures, row.last_failure_at) if row else None
            failures, until = after_failure(previous, now, subject, self.policy)
            accounts_store.save_lock(subject, failures, now, until)
            if until is not None:
                seconds = retry_after(until, now)
                wait = max(wait, seconds)
                append(actor, "login.lockout", subject,
                       {"failures": failures, "seconds": seconds}, at=now)
        return wait

    # -- passwords -----------------------------------------------------------------------

    async def change_password(self, user: UserInfo, old: str, new: str, *, address: str = "",
                              door: str = "console") -> UserInfo:
        """The user's own change: the current password, then the policy; every session of the
        user ends (log in again). PasswordRefused names what is wrong."""
        now = self.clock()
        found = await self.store.read(lambda: accounts_store.password_hash_of(user.name))
        if found is None or found[0].id != user.id:
            raise PasswordRefused("no such user")
        if not await self._check(old, found[1]):
            actor = Actor("user", str(user.id), user.name, address, door)
            await self.store.write(lambda: self._failed(
                actor, [user_subject(user.name), address_subject(address)], now))
            raise PasswordRefused("the current password is wrong")
        check_new_password(user.name, new, min_length=self.config.min_password_length)
        if new == old:
            raise PasswordRefused("the new password must differ from the current one")
        async with self._scrypt:
            stored = await asyncio.to_thread(hash_password, new)
        actor = Actor("user", str(user.id), user.name, address, door)

        def save() -> UserInfo:
            ended = accounts_store.set_password_hash(user.id, stored,
                                                     must_change_password=False, now=now)
            append(actor, "password.change", f"user:{user.name}", {"sessions_ended": ended},
                   at=now)
            changed = accounts_store.get_user(user.id)
            assert changed is not None
            return changed

        return await self.store.write(save)

    # -- sessions ------------------------------------------------------------------------

    async def create_session(self, user: UserInfo, address: str = "",
                             door: str = "console") -> str:
        """A new session for `user`; the token (shown to the client once, stored hashed)."""
        if user.disabled:
            raise LoginRefused("disabled")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        digest = token_hash(token)
        now = self.clock()
        expires = now + timedelta(seconds=self.config.session_max_seconds)

        def insert() -> None:
            # The tables are pruned at each login: sessions and attempts stay as many as the
            # users' activity, with no timer of their own.
            accounts_store.prune(now - KEEP_SESSIONS, now - KEEP_ATTEMPTS,
                                 now - timedelta(seconds=self.policy.forget_after), now)
            accounts_store.insert_session(digest, user.id, address, door, now, expires)

        await self.store.write(insert)
        return token

    async def session_user(self, token: str) -> UserInfo | None:
        """The user a session token belongs to, while the session lives (not ended, not idle
        too long, before its absolute end, the user not disabled); else None."""
        if not token.startswith(TOKEN_PREFIX) or len(token) > 100:
            return None
        digest = token_hash(token)
        now = self.clock()
        def look_up():  # one hop to a reader for both: every console page asks
            session = accounts_store.find_session(digest)
            if session is None or session.ended_at is not None:
                return None, None
            return session, accounts_store.get_user(session.user_id)

        session, user = await self.store.read(look_up)
        if session is None:
            return None
        deadline = accounts_store.session_deadline(
            session.last_seen_at, self.config.session_idle_seconds, session.expires_at)
        if now >= deadline:
            return None
        if user is None or user.disabled:
            return None
        if now - session.last_seen_at >= TOUCH_EVERY:
            await self.store.write(lambda: accounts_store.touch_session(session.id, now))
        return user

    async def end_session(self, token: str) -> bool:
        """Log out: the session can no longer be used. False if it was not a live one."""
        digest = token_hash(token)
        now = self.clock()
        session = await self.store.read(lambda: accounts_store.find_session(digest))
        if session is None:
            return False

        def end() -> bool:
            if not accounts_store.end_session(session.id, now):
                return False
            append(Actor("user", str(session.user_id)), "logout",
                   f"user_id:{session.user_id}", {"session": session.id}, at=now)
            return True

        return await self.store.write(end)
