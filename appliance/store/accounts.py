"""Accounts in the database: departments, users, login attempts and locks, console sessions.

Knows: the SQL of the `department`, `app_user`, `login_attempt`, `login_lock` and
`user_session` tables (migration 10), and the plain records handed to other threads.
Must not know: passwords in clear (it is given hashes), roles' meaning, lockout policy (the
numbers come from `appliance.accounts`), HTTP.

Every function here is synchronous and meant for the store's writer (`Store.write`) or a
reader (`Store.read`), or `run_in_database` for the command line.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from appliance.store.db import utcnow
from appliance.store.models import (
    ApiKey,
    Department,
    LoginAttempt,
    LoginLock,
    User,
    UserSession,
)


class AccountError(ValueError):
    """A change that cannot be made (a name taken, an unknown department...); `field` names the
    input at fault, `status` the HTTP status it maps to."""

    def __init__(self, message: str, field: str = "", status: int = 400) -> None:
        super().__init__(message)
        self.field = field
        self.status = status


@dataclass(frozen=True)
class UserInfo:
    """A user as the consoles and the policy see them: plain data, safe across threads. The
    password hash is never part of it."""

    id: int
    name: str
    display_name: str
    role: str
    department_id: int | None
    department_name: str | None
    disabled: bool
    must_change_password: bool
    created_at: datetime
    last_login_at: datetime | None
    password_changed_at: datetime | None


def _info(row: User) -> UserInfo:
    department = row.department  # one read when set; users are few
    return UserInfo(row.id, row.name, row.display_name, row.role, row.department_id,
                    department.name if department is not None else None, bool(row.disabled),
                    bool(row.must_change_password), row.created_at, row.last_login_at,
                    row.password_changed_at)


# -- departments -----------------------------------------------------------------------------


def department_view(row: Department) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "short_name": row.short_name,
            "created_at": row.created_at}


def _check_department_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 64 or not name.isprintable():
        raise AccountError("a department's name is 1 to 64 printable characters", "name")
    return name


def _check_short_name(short: str) -> str:
    short = short.strip()
    if len(short) > 32 or not short.isprintable():
        raise AccountError("a department's short name is at most 32 printable characters",
                           "short_name")
    return short


def create_department(name: str, short_name: str = "") -> dict[str, Any]:
    name = _check_department_name(name)
    short_name = _check_short_name(short_name)
    if Department.select().where(Department.name == name).exists():
        raise AccountError(f'a department named "{name}" already exists', "name", 409)
    return department_view(Department.create(name=name, short_name=short_name))


def list_departments() -> list[dict[str, Any]]:
    return [department_view(d) for d in Department.select().order_by(Department.id)]


def get_department(department_id: int) -> dict[str, Any] | None:
    row = Department.get_or_none(Department.id == department_id)
    return department_view(row) if row is not None else None


def department_id_by_name(name: str) -> int:
    row = Department.get_or_none(Department.name == name.strip())
    if row is None:
        raise AccountError(f'no department named "{name}"', "department")
    return row.id


def update_department(department_id: int, *, name: str | None = None,
                      short_name: str | None = None) -> dict[str, Any] | None:
    row = Department.get_or_none(Department.id == department_id)
    if row is None:
        return None
    if name is not None:
        name = _check_department_name(name)
        taken = Department.select().where((Department.name == name)
                                          & (Department.id != department_id)).exists()
        if taken:
            raise AccountError(f'a department named "{name}" already exists', "name", 409)
        row.name = name
    if short_name is not None:
        row.short_name = _check_short_name(short_name)
    row.save()
    return department_view(row)


def delete_department(department_id: int) -> bool:
    """Delete an empty department; AccountError (409) while users or API keys belong to it."""
    row = Department.get_or_none(Department.id == department_id)
    if row is None:
        return False
    users = User.select().where(User.department == department_id).count()
    keys = ApiKey.select().where(ApiKey.department_id == department_id).count()
    if users or keys:
        raise AccountError(f'the department "{row.name}" still has {users} user(s) and {keys} '
                           f"API key(s); move them first", "id", 409)
    row.delete_instance()
    return True


# -- users -----------------------------------------------------------------------------------


def _check_department(department_id: int | None) -> None:
    if department_id is not None and not Department.select().where(
            Department.id == department_id).exists():
        raise AccountError(f"no department with id {department_id}", "department_id")


def create_user(name: str, role: str, password_hash: str, *, display_name: str = "",
                department_id: int | None = None, must_change_password: bool = True,
                now: datetime | None = None) -> UserInfo:
    if User.select().where(User.name == name).exists():
        raise AccountError(f'a user named "{name}" already exists', "name", 409)
    _check_department(department_id)
    row = User.create(name=name, role=role, password_hash=password_hash,
                      display_name=display_name or name, department=department_id,
                      must_change_password=must_change_password, created_at=now or utcnow())
    return _info(row)


def list_users() -> list[UserInfo]:
    return [_info(row) for row in User.select().order_by(User.id)]


def get_user(user_id: int) -> UserInfo | None:
    row = User.get_or_none(User.id == user_id)
    return _info(row) if row is not None else None


def get_user_by_name(name: str) -> UserInfo | None:
    row = User.get_or_none(User.name == name)
    return _info(row) if row is not None else None


def password_hash_of(name: str) -> tuple[UserInfo, str] | None:
    """The user named `name` and their password hash (for checking a login), or None."""
    row = User.get_or_none(User.name == name)
    return (_info(row), row.password_hash) if row is not None else None


_UNCHANGED: Any = object()


def update_user(user_id: int, *, display_name: Any = _UNCHANGED, role: Any = _UNCHANGED,
                department_id: Any = _UNCHANGED, disabled: Any = _UNCHANGED,
                must_change_password: Any = _UNCHANGED) -> UserInfo | None:
    """Change what is given; None for an unknown user. Disabling a user ends their sessions."""
    row = User.get_or_none(User.id == user_id)
    if row is None:
        return None
    if display_name is not _UNCHANGED:
        row.display_name = display_name
    if role is not _UNCHANGED:
        row.role = role
    if department_id is not _UNCHANGED:
        _check_department(department_id)
        row.department = department_id
    if disabled is not _UNCHANGED:
        row.disabled = disabled
        if disabled:
            end_user_sessions(user_id)
    if must_change_password is not _UNCHANGED:
        row.must_change_password = must_change_password
    row.save()
    return _info(row)


def set_password_hash(user_id: int, password_hash: str, *, must_change_password: bool,
                      now: datetime) -> int:
    """Store a new password hash and end every session of the user; the sessions ended."""
    User.update(password_hash=password_hash, must_change_password=must_change_password,
                password_changed_at=now).where(User.id == user_id).execute()
    return end_user_sessions(user_id, now)


def record_login(user_id: int, now: datetime) -> None:
    User.update(last_login_at=now).where(User.id == user_id).execute()


# -- login attempts and locks ----------------------------------------------------------------


def record_attempt(name: str, address: str, door: str, success: bool, reason: str,
                   now: datetime) -> None:
    LoginAttempt.create(at=now, name=name[:64], address=address[:64], door=door,
                        success=success, reason=reason)


@dataclass(frozen=True)
class LockRow:
    subject: str
    failures: int
    last_failure_at: datetime
    locked_until: datetime | None


def lock_rows(subjects: list[str]) -> dict[str, LockRow]:
    rows = LoginLock.select().where(LoginLock.subject.in_(subjects))
    return {r.subject: LockRow(r.subject, r.failures, r.last_failure_at, r.locked_until)
            for r in rows}


def save_lock(subject: str, failures: int, last_failure_at: datetime,
              locked_until: datetime | None) -> None:
    (LoginLock.insert(subject=subject, failures=failures, last_failure_at=last_failure_at,
                      locked_until=locked_until)
     .on_conflict(conflict_target=[LoginLock.subject],
                  update={LoginLock.failures: failures,
                          LoginLock.last_failure_at: last_failure_at,
                          LoginLock.locked_until: locked_until})
     .execute())


def clear_lock(subject: str) -> bool:
    return LoginLock.delete().where(LoginLock.subject == subject).execute() > 0


# -- sessions --------------------------------------------------------------------------------


def insert_session(token_hash: str, user_id: int, address: str, door: str, now: datetime,
                   expires_at: datetime) -> int:
    return UserSession.create(token_hash=token_hash, user=user_id, address=address[:64],
                              door=door, created_at=now, last_seen_at=now,
                              expires_at=expires_at).id


@dataclass(frozen=True)
class SessionRow:
    id: int
    user_id: int
    last_seen_at: datetime
    expires_at: datetime
    ended_at: datetime | None


def find_session(token_hash: str) -> SessionRow | None:
    row = UserSession.get_or_none(UserSession.token_hash == token_hash)
    if row is None:
        return None
    return SessionRow(row.id, row.user_id, row.last_seen_at, row.expires_at, row.ended_at)


def touch_session(session_id: int, now: datetime) -> None:
    UserSession.update(last_seen_at=now).where(UserSession.id == session_id).execute()


def end_session(session_id: int, now: datetime) -> bool:
    return UserSession.update(ended_at=now).where(
        (UserSession.id == session_id) & UserSession.ended_at.is_null()).execute() > 0


def end_user_sessions(user_id: int, now: datetime | None = None) -> int:
    return UserSession.update(ended_at=now or utcnow()).where(
        (UserSession.user == user_id) & UserSession.ended_at.is_null()).execute()


def prune(sessions_before: datetime, attempts_before: datetime, locks_before: datetime,
          now: datetime) -> int:
    """Delete what can never matter again: sessions that ended or expired before
    `sessions_before`, login attempts older than `attempts_before`, and failure counts whose
    last failure is older than `locks_before` and whose lock (if any) is over. How many rows
    went."""
    gone = UserSession.delete().where(
        (UserSession.expires_at < sessions_before)
        | (UserSession.ended_at.is_null(False) & (UserSession.ended_at < sessions_before))
    ).execute()
    gone += LoginAttempt.delete().where(LoginAttempt.at < attempts_before).execute()
    return gone + LoginLock.delete().where(
        (LoginLock.last_failure_at < locks_before)
        & (LoginLock.locked_until.is_null() | (LoginLock.locked_until < now))).execute()


def session_deadline(last_seen_at: datetime, idle_seconds: float, expires_at: datetime
                     ) -> datetime:
    """When a session seen last at `last_seen_at` ends: idle time or its absolute end."""
    return min(last_seen_at + timedelta(seconds=idle_seconds), expires_at)
