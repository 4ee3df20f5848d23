"""`GET /api/v1/maintenance` (what is held now and why) and `PUT /api/v1/maintenance`
(maintenance on or off, at once).

Knows: the JSON shape of the maintenance state. Every change goes through the appliance's
`policy.maintenance.Maintenance` (durable), and wakes the dispatcher.
Must not know: SQL, the hold rules (policy.holds).

PUT {"on": true, "until"?: ISO time with a zone, "reason"?: text} holds every message but
alerts until `until` (or until switched off); {"on": false} ends it. Configured windows
(`[maintenance] windows`) and quiet hours are not changed here. Scopes: GET "read", PUT "admin".
"""

from __future__ import annotations

from datetime import datetime

from sanic import Blueprint, Request
from sanic.response import JSONResponse, json

from appliance.api import jsonbody as jb
from appliance.api.auth import require_scope

bp = Blueprint("maintenance", url_prefix="/api/v1")

FIELDS = {"on", "until", "reason"}


def _view(request: Request) -> dict:
    appliance = request.app.ctx.appliance
    return appliance.maintenance.view(appliance.dispatcher.now())


@bp.route("/maintenance", methods=["GET", "HEAD"])
@require_scope("read")
async def get_maintenance(request: Request) -> JSONResponse:
    return json(_view(request))


@bp.put("/maintenance")
@require_scope("admin")
async def put_maintenance(request: Request) -> JSONResponse:
    body = jb.json_object(request, FIELDS)
    on = body.get("on")
    if not isinstance(on, bool):
        raise jb.bad("on", "is required: true (maintenance now) or false (end it)")
    appliance = request.app.ctx.appliance
    now = appliance.dispatcher.now()
    until = None
    if body.get("until") is not None:
        if not on:
            raise jb.bad("until", "only with \"on\": true")
        raw = body["until"]
        try:
            until = datetime.fromisoformat(raw.replace("Z", "+00:00")) \
                if isinstance(raw, str) and len(raw) <= 64 else None
        except ValueError:
            until = None
        if until is None or until.tzinfo is None:
            raise jb.bad("until", "must be an ISO 8601 time with a time zone "
                                  "(e.g. 2026-12-05T23:00+08:00)")
        if until <= now:
            raise jb.bad("until", f"is not in the future (now is {now.isoformat()})")
    reason = jb.text(body.get("reason", ""), "reason", limit=200)
    caller = request.ctx.caller
    await appliance.maintenance.switch(on, until=until, reason=reason,
                                       by=f"api_key:{caller.key_id}")
    appliance.dispatcher.wake()  # off: held messages may go now
    return json(_view(request))
