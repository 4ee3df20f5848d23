"""What each role may do, as one table the consoles and the API ask through `may`.

Knows: the roles, the actions, and which role may take which action.
Must not know: how a user is stored or authenticated, or what an action does.

Actions:
- `send`: submit messages (compose, campaigns, a test SMS);
- `approve`: approve or reject what waits for approval (never one's own: the approval rule);
- `read`: see messages, replies, reports, the pool;
- `admin`: users, departments, API keys, rules, settings, the audit log;
- `diagnose`: the technician's tools (modems, SIMs, signal, AT traffic, test sends).
A user who must change their password may do nothing until they have (first login).
"""

from __future__ import annotations

from typing import Protocol

ROLES = ("admin", "approver", "operator", "viewer", "technician")
ACTIONS = ("send", "approve", "read", "admin", "diagnose")

PERMISSIONS: dict[str, frozenset[str]] = {
    "admin": frozenset({"send", "approve", "read", "admin", "diagnose"}),
    "approver": frozenset({"send", "approve", "read"}),
    "operator": frozenset({"send", "read"}),
    "viewer": frozenset({"read"}),
    "technician": frozenset({"read", "diagnose"}),
}

assert set(PERMISSIONS) == set(ROLES)
assert all(actions <= set(ACTIONS) for actions in PERMISSIONS.values())


class Subject(Protocol):
    role: str
    disabled: bool
    must_change_password: bool


def check_role(role: str) -> str:
    """`role` if it is one; ValueError naming the known ones otherwise."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r} (one of {', '.join(ROLES)})")
    return role


def may(user: Subject, action: str) -> bool:
    """Whether `user` may take `action` now. An unknown action is a programming error."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r} (one of {', '.join(ACTIONS)})")
    if user.disabled or user.must_change_password:
        return False
    return action in PERMISSIONS.get(user.role, frozenset())
