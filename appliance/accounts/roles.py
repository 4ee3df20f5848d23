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

An API key bound to a user (`cardgate apikey create --user NAME`) can do no more than that
user's role allows: `key_scopes` is the one place a key's scopes and its user's role meet (the
API's `auth` asks it for every key it verifies). A key's scopes are the actions of the same
names (`send`, `read`, `approve`, `admin`; the `admin` scope stands for all four), and a bound
key may do their intersection with the role's actions: a key with `admin` bound to an operator
sends and reads; a key with `send` bound to a viewer has no scope left. `diagnose` has no key
scope (the technician's tools are the consoles'), so a technician's key reads at most. A key
bound to a disabled user is refused outright (store.apikeys counts it as revoked). A user who
must change their password keeps their keys' rights: the first-login rule is about the
password, which a key does not use.
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

CONSOLE_ROLES = frozenset(role for role, may_do in PERMISSIONS.items() if "diagnose" in may_do)
"""Who may log in at the technician console: the roles that may use the technician's tools."""

KEY_SCOPES = ("send", "read", "approve", "admin")
"""The actions an API key can be given (store.apikeys.SCOPES): the same names."""

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


def key_scopes(scopes: frozenset[str], role: str | None) -> frozenset[str]:
    """What a key with `scopes` may do when bound to a user of `role` (None: a key bound to no
    user, or to a department only, keeps its scopes). An unknown role allows nothing."""
    if role is None:
        return scopes
    granted = set(KEY_SCOPES) if "admin" in scopes else set(scopes) & set(KEY_SCOPES)
    return frozenset(granted & PERMISSIONS.get(role, frozenset()))


def may(user: Subject, action: str) -> bool:
    """Whether `user` may take `action` now. An unknown action is a programming error."""
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r} (one of {', '.join(ACTIONS)})")
    if user.disabled or user.must_change_password:
        return False
    return action in PERMISSIONS.get(user.role, frozenset())
