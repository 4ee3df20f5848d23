"""Audit entries for changes made in the console.

Knows: who made a change here (the signed-in user, from the client's address, through the
"console" door) and how an entry is queued (AuditLog.enqueue: written with the next
transaction, nobody waits). The actions are named as the API's changes name theirs
(api.audit_trail: `contact.create`, `group.members.add`...), so the log reads the same
whichever door a change came through.
Must not know: what a page changed (its caller says).
"""

from __future__ import annotations

from typing import Any

from sanic import Request

from appliance.audit import Actor
from appliance.console_web.session import client_address


def console_actor(request: Request) -> Actor:
    user = request.ctx.user
    return Actor("user", str(user.id), user.name, client_address(request), "console")


def audit_change(request: Request, action: str, target: str,
                 detail: dict[str, Any] | None = None) -> None:
    """Queue the entry of a change this request made (no audit log in bare tests: nothing)."""
    audit = request.app.ctx.appliance.audit
    if audit is not None:
        audit.enqueue(console_actor(request), action, target, detail)


__all__ = ["audit_change", "console_actor"]
