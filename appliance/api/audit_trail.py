"""Audit entries of the changes made through the admin JSON API.

Knows: which API routes change something (a successful POST, PUT, PATCH or DELETE under
/api/v1), the action name each gets (`rule.create`, `webhook.change`, `group.members.add`...),
the caller as an audit actor, and which body fields are secrets (never written to the log).
Must not know: what any route does, SQL.

One response middleware records every such change after it succeeded, so the write endpoints
of rules, the blacklist, webhooks, contacts and groups (and any added later) are covered
without each handler repeating it; so are the Android API's webhook registrations and
cancellations (its handlers leave their caller in `request.ctx.caller` as the JSON API's do).
Not here: sends (`POST /messages`: the policy layer's `audit.check.AuditCheck` records them
with what only it knows), the dry run (changes nothing), and the account endpoints
(`api.users` writes its entries with the change, in one transaction). The entry is written
after the change committed, through the writer's bulk lane.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from sanic import Request, Sanic
from sanic.response import HTTPResponse

from appliance.api.auth import Caller, client_address
from appliance.audit import Actor

log = logging.getLogger(__name__)

WRITE_METHODS = {"POST": "create", "PUT": "replace", "PATCH": "change", "DELETE": "delete"}
SECRET_FIELDS = {"secret", "password", "token", "key", "old_password", "new_password"}
NOT_RECORDED = {"messages:POST", "rules/dry-run:POST"}
OWN_ENTRIES = ("users", "departments", "audit")
RESOURCE_NAMES = {"rules": "rule", "webhooks": "webhook", "groups": "group",
                  "contacts": "contact", "blacklist": "blacklist", "messages": "message"}
SPECIAL = {"messages:DELETE": "message.cancel", "groups/members:POST": "group.members.add",
           "groups/members:DELETE": "group.members.remove", "rules/order:POST": "rule.order",
           "webhooks/test:POST": "webhook.test", "android/messages:DELETE": "message.cancel",
           "android/webhooks:POST": "android.webhook.create",
           "android/webhooks:DELETE": "android.webhook.delete"}
ANDROID = ("messages", "webhooks")  # the Android API's routes at the root


def api_actor(request: Request) -> Actor:
    """The caller of an API request as the audit log names it."""
    caller: Caller | None = getattr(request.ctx, "caller", None)
    address = client_address(request)
    door = "api" if request.path.startswith("/api/") else "android"
    if caller is None:
        return Actor("anonymous", "", "", address, door)
    return Actor("api_key", str(caller.key_id), caller.name, address, door)


def _shape(request: Request) -> tuple[str, list[str]] | None:
    """("rules/order", [path parameters]) for a route under /api/v1, else None."""
    route = request.route
    if route is None:
        return None
    segments = route.path.strip("/").split("/")
    params = [str(v) for v in request.match_info.values()]
    if segments[0] in ANDROID and request.method == "DELETE" or segments == ["webhooks"]:
        # The Android API's doors: its webhook endpoints (registered with a send key) and
        # its cancellations are changes too; its POST /messages is a send (AuditCheck).
        return f"android/{segments[0]}", params
    if segments[:2] != ["api", "v1"] or len(segments) < 3:
        return None
    names = [s for s in segments[2:] if not s.startswith("<")]
    return "/".join(names), params


def action_of(method: str, resource: str) -> str:
    """The audit action of a change: `rule.create`, `webhook.delete`, `message.cancel`..."""
    key = f"{resource}:{method}"
    if key in SPECIAL:
        return SPECIAL[key]
    head, *rest = resource.split("/")
    name = RESOURCE_NAMES.get(head, head.rstrip("s"))
    return ".".join([name, *rest, WRITE_METHODS[method]])


def redact(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: ("***" if k in SECRET_FIELDS else redact(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value[:50]]
    return value


def _body(request: Request) -> Any:
    try:
        body = request.json
    except Exception:
        return None
    return redact(body) if body is not None else None


def _created_id(response: HTTPResponse) -> Any:
    try:
        body = json.loads(response.body or b"null")
    except ValueError:
        return None
    return body.get("id") if isinstance(body, dict) else None


def install_audit_trail(app: Sanic) -> None:
    # (route path, method) -> whether its changes are recorded here: the same for every
    # request on the route, and asked of every send (POST /api/v1/messages is not: AuditCheck).
    recorded: dict[tuple[str, str], bool] = {}

    @app.on_response
    async def record_change(request: Request, response: HTTPResponse) -> None:
        if request.method not in WRITE_METHODS or not 200 <= response.status < 300:
            return
        route = request.route
        known = recorded.get((route.path, request.method)) if route is not None else None
        if known is False:
            return
        shape = _shape(request)
        if shape is None:
            if route is not None:
                recorded[(route.path, request.method)] = False
            return
        resource, params = shape
        if (f"{resource}:{request.method}" in NOT_RECORDED
                or resource.split("/")[0] in OWN_ENTRIES):
            recorded[(route.path, request.method)] = False  # route: not None (shape)
            return
        audit = request.app.ctx.appliance.audit
        if audit is None:
            return
        action = action_of(request.method, resource)
        target = resource.removeprefix("android/").split("/")[0] + (
            ":" + ",".join(params) if params else "")
        detail = {"method": request.method, "path": request.path, "status": response.status,
                  "body": _body(request)}
        if request.method == "POST" and not params and (created := _created_id(response)):
            detail["id"] = created
            target = f"{target}:{created}"
        try:
            await audit.record(api_actor(request), action, target[:255], detail)
        except Exception:  # the change is made; a missing entry is logged, not the client's
            log.exception("could not write the audit entry of %s %s", request.method,
                          request.path)
