"""`GET /api/v1/health` and `GET /api/v1/modems`: the live pool, as JSON.

Knows: how a modem's status is shown. Must not know: how it was obtained.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from sanic import Blueprint, Request
from sanic.response import JSONResponse, json

from appliance import __version__
from appliance.api.auth import require_scope
from appliance.pool.supervisor import ModemSupervisor, PoolState

bp = Blueprint("modems", url_prefix="/api/v1")


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def modem_view(sup: ModemSupervisor, counters: dict | None = None) -> dict:
    status = sup.status
    ident = status.identity
    return {
        "port": status.port,
        "state": status.state.value,
        "state_reason": status.reason,
        "since": _iso(status.since),
        "profile": status.profile,
        "usb_id": status.usb_id,
        "manufacturer": ident.manufacturer,
        "model": ident.model,
        "revision": ident.revision,
        "imei": ident.imei,
        "sim": {
            "iccid": ident.sim.iccid,
            "imsi": ident.sim.imsi,
            "operator": ident.sim.operator,
            "operator_code": ident.sim.operator_code,
            "own_number": ident.sim.own_number,
        },
        "signal": {"rssi": status.rssi, "dbm": status.dbm, "bars": status.bars},
        "registration": status.registration,
        "recoveries": status.recoveries,
        "counters": counters or {},
    }


@bp.get("/health")
async def health(request: Request) -> JSONResponse:
    appliance = request.app.ctx.appliance
    modems = appliance.pool.all() if appliance.pool else []
    ready = sum(1 for s in modems if s.status.state is PoolState.ready)
    return json({
        "status": "ok" if appliance.started else "starting",
        "version": __version__,
        "uptime_seconds": round(time.monotonic() - appliance.started_at, 1),
        "modems": {"total": len(modems), "ready": ready},
    })


@bp.get("/modems")
@require_scope("read")
async def list_modems(request: Request) -> JSONResponse:
    appliance = request.app.ctx.appliance
    sups = sorted(appliance.pool.all(), key=lambda s: s.status.port)
    views = [modem_view(s, appliance.counters_for(s)) for s in sups]
    return json({"modems": views})
