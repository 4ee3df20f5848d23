"""Administration of users and departments: each change and its audit entry in one
transaction.

Knows: what a user name may be, which fields an administrator may change, that a password set
by an administrator must be changed at the user's first login, and the audit action of each
change.
Must not know: HTTP, argument parsing, SQL (store.accounts).

Every function but `prepare_password` is synchronous and runs inside a transaction already
open: `Store.write` on the appliance, `run_in_database` from the command line. Hashing is
slow (scrypt) and happens in `prepare_password`, BEFORE the transaction, off the writer.
"""

from __future__ import annotations

import re
from typing import Any

from appliance.accounts.lockout import user_subject
from appliance.accounts.passwords import check_new_password, hash_password
from appliance.accounts.roles import check_role
from appliance.audit import Actor, append
from appliance.store import accounts as accounts_store
from appliance.store.accounts import AccountError, UserInfo
from appliance.store.db import utcnow

_NAME = re.compile(r"[\w.@-]{1,64}")


def check_user_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise AccountError("a user name is 1 to 64 letters, digits or . _ @ - (no spaces)",
                           "name")
    return name


def prepare_password(name: str, password: str, min_length: int = 8) -> str:
    """The hash of a new password for `name`, after the policy check (PasswordRefused)."""
    return hash_password(check_new_password(name, password, min_length=min_length))


def user_view(user: UserInfo) -> dict[str, Any]:
    """A user as the API and the audit log show it (never the hash)."""
    return {"id": user.id, "name": user.name, "display_name": user.display_name,
            "role": user.role, "department_id": user.department_id,
            "department": user.department_name, "disabled": user.disabled,
            "must_change_password": user.must_change_password, "created_at": user.created_at,
            "last_login_at": user.last_login_at,
            "password_changed_at": user.password_changed_at}


def add_user(actor: Actor, name: str, role: str, password_hash: str, *,
             department_id: int | None = None, display_name: str = "") -> UserInfo:
    check_user_name(name)
    try:
        check_role(role)
    except ValueError as exc:
        raise AccountError(str(exc), "role") from None
    display_name = _display_name(display_name)
    user = accounts_store.create_user(name, role, password_hash, display_name=display_name,
                                      department_id=department_id, must_change_password=True)
    append(actor, "user.create", f"user:{user.name}",
           {"id": user.id, "role": role, "department_id": department_id})
    return user


def _display_name(value: Any) -> str:
    if not isinstance(value, str) or len(value) > 128 or not value.isprintable():
        raise AccountError("display_name: at most 128 printable characters", "display_name")
    return value.strip()


def change_user(actor: Actor, user_id: int, changes: dict[str, Any]) -> UserInfo | None:
    """Apply `changes` (display_name, role, department_id, disabled, must_change_password);
    None for an unknown user."""
    clean: dict[str, Any] = {}
    for key, value in changes.items():
        if key == "role":
            try:
                clean[key] = check_role(value)
            except ValueError as exc:
                raise AccountError(str(exc), "role") from None
        elif key == "display_name":
            clean[key] = _display_name(value)
        elif key in ("disabled", "must_change_password"):
            if not isinstance(value, bool):
                raise AccountError(f"{key}: must be true or false", key)
            clean[key] = value
        elif key == "department_id":
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise AccountError("department_id: must be a department's id or null", key)
            clean[key] = value
        else:
            raise AccountError(f"{key}: not a field of a user that can be changed", key)
    before = accounts_store.get_user(user_id)
    if before is None:
        return None
    if (before.role == "admin" and not before.disabled
            and (clean.get("role", "admin") != "admin" or clean.get("disabled"))
            and _active_admins() <= 1):
        raise AccountError("this is the last active admin: make another admin first",
                           "role" if "role" in clean else "disabled", 409)
    user = accounts_store.update_user(user_id, **clean)
    assert user is not None
    append(actor, "user.change", f"user:{user.name}", {"id": user_id, "changes": clean})
    return user


def _active_admins() -> int:
    return sum(1 for u in accounts_store.list_users() if u.role == "admin" and not u.disabled)


def reset_password(actor: Actor, user_id: int, password_hash: str) -> UserInfo | None:
    """An administrator sets a user's password: the user must change it at their next login,
    and their sessions end."""
    user = accounts_store.get_user(user_id)
    if user is None:
        return None
    now = utcnow()
    ended = accounts_store.set_password_hash(user_id, password_hash, must_change_password=True,
                                             now=now)
    append(actor, "password.reset", f"user:{user.name}", {"id": user_id,
                                                          "sessions_ended": ended}, at=now)
    return accounts_store.get_user(user_id)


def unlock_user(actor: Actor, user_id: int) -> UserInfo | None:
    """Clear a user's lockout (failed logins); None for an unknown user."""
    user = accounts_store.get_user(user_id)
    if user is None:
        return None
    cleared = accounts_store.clear_lock(user_subject(user.name))
    append(actor, "user.unlock", f"user:{user.name}", {"id": user_id, "was_locked": cleared})
    return user


def add_department(actor: Actor, name: str, short_name: str = "") -> dict[str, Any]:
    department = accounts_store.create_department(name, short_name)
    append(actor, "department.create", f"department:{department['name']}",
           {"id": department["id"], "short_name": department["short_name"]})
    return department


def change_department(actor: Actor, department_id: int, changes: dict[str, Any]
                      ) -> dict[str, Any] | None:
    for key, value in changes.items():
        if key not in ("name", "short_name"):
            raise AccountError(f"{key}: not a field of a department that can be changed", key)
        if not isinstance(value, str):
            raise AccountError(f"{key}: must be text", key)
    department = accounts_store.update_department(department_id, **changes)
    if department is not None:
        append(actor, "department.change", f"department:{department['name']}",
               {"id": department_id, "changes": changes})
    return department


def delete_department(actor: Actor, department_id: int) -> bool:
    department = accounts_store.get_department(department_id)
    if department is None or not accounts_store.delete_department(department_id):
        return False
    append(actor, "department.delete", f"department:{department['name']}",
           {"id": department_id})
    return True
