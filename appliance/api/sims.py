"""`GET /api/v1/sims`: every SIM the box has known, with its counters and caps.

Knows: how a SIM is shown. Must not know: how counters are kept (the dispatcher's slots) or
stored (store.sims).

A SIM in a modem now shows where (`port`, `modem_state`) and its live counters; one taken
out stays listed (`port` null) with what the store kept of it, and its counters as long as the
dispatcher still holds them (until a restart). `caps` gives, per window, the cap that applies
(0: none) and the parts counted in that window now: sliding 60 s, 60 minutes and 24 hours, and
the calendar month, as the balancer counts them.
"""

from __future__ import annotations

from typing import Any

from sanic import Blueprint, Request
from sanic.response import JSONResponse, json

from appliance.api.auth import require_scope
from appliance.api.jsonbody import iso
from appliance.dispatch.rates import RateLimits
from appliance.dispatch.slots import CAP_COUNTERS
from appliance.store.sims import list_sims

bp = Blueprint("sims", url_prefix="/api/v1")

def caps_view(counters: dict[str, Any], limits: RateLimits) -> dict[str, dict[str, Any]]:
    """Per cap window: the cap that applies (0: none) and the parts it counts now."""
    return {window: {"limit": limits.cap(window), "used": counters.get(key)}
            for window, key in CAP_COUNTERS.items()}


def sim_view(row: dict[str, Any], live: dict[str, Any] | None, counters: dict[str, Any],
             limits: RateLimits) -> dict[str, Any]:
    return {
        "iccid": row["iccid"], "imsi": row["imsi"] or None, "label": row["label"] or None,
        "operator": row["operator"] or None, "operator_code": row["operator_code"] or None,
        "own_number": row["own_number"] or None, "enabled": bool(row["enabled"]),
        "state": row["state"], "barred_reason": row["barred_reason"] or None,
        "last_seen_at": iso(row["last_seen_at"]), "created_at": iso(row["created_at"]),
        "port": live["port"] if live else None,
        "modem_state": live["state"] if live else None,
        "counters": counters,
        "caps": caps_view(counters, limits),
    }


async def sims_listing(appliance) -> list[dict[str, Any]]:
    """Every SIM known (shared by this endpoint and the admin socket)."""
    rows = await appliance.store.read(list_sims)
    live = {}
    for sup in appliance.pool.all() if appliance.pool else []:
        iccid = sup.status.identity.sim.iccid
        if iccid:
            live[iccid] = {"port": sup.status.port, "state": sup.status.state.value}
    dispatcher = appliance.dispatcher
    limits = RateLimits.from_config(appliance.config.dispatch)
    views = [sim_view(row, live.get(row["iccid"]),
                      dispatcher.counters_for(row["iccid"]) if dispatcher else {}, limits)
             for row in rows]
    return views


@bp.route("/sims", methods=["GET", "HEAD"])
@require_scope("read")
async def list_all(request: Request) -> JSONResponse:
    return json({"sims": await sims_listing(request.app.ctx.appliance)})
