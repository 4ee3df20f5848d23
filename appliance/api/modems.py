"""`GET /api/v1/health` and `GET /api/v1/modems`: the live pool, as JSON.

Knows: how a modem's status is shown. Must not know: how it was obtained.

Health is for monitoring, which often sends HEAD and reads only the status code: 200 when the
appliance is started and the dispatcher reports no problems (`Dispatcher.problems()`), else
503 with `status` "starting" or "degraded" and the reasons in `problems` (also when no modem
is ready: the box cannot send).

The pool forgets a supervisor once its port vanishes (the static-port watcher removes it within
half a second), so a modem that was unplugged would simply drop out of the list. A technician
needs to see it as `gone` instead: every modem the store has ever recorded (by IMEI) that is not
on a supervised port now is listed as gone, with what was last known of it.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from sanic import Blueprint, Request
from sanic.response import JSONResponse, json

from appliance import __version__
from appliance.api.auth import require_scope
from appliance.pool.supervisor import ModemSupervisor, PoolState
from appliance.store.modems import known_modems

bp = Blueprint("modems", url_prefix="/api/v1")


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def history_view(history) -> dict | None:
    """What the pool remembers of a modem across plugs (pool.ModemHistory), by IMEI."""
    if history is None:
        return None
    return {"first_seen": _iso(history.first_seen), "last_seen": _iso(history.last_seen),
            "plugs": history.plugs, "ports": list(history.ports),
            "iccids": list(history.iccids), "recoveries_before": history.recoveries}


def modem_view(sup: ModemSupervisor, counters: dict | None = None,
               history: object | None = None) -> dict:
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
        "history": history_view(history),
    }


def health_facts(appliance) -> tuple[dict, int]:
    """The appliance's health and the HTTP status it is answered with: this endpoint's body,
    and the facts other doors translate into their own shape (api.android's `/health`)."""
    modems = appliance.pool.all() if appliance.pool else []
    ready = sum(1 for s in modems if s.status.state is PoolState.ready)
    problems = list(appliance.dispatcher.problems()) if appliance.dispatcher else []
    if appliance.started and not ready:  # nothing can be sent: monitoring must hear of it
        problems.append(f"no modem is ready to send ({len(modems)} known to the pool)")
    if not appliance.started:
        status = "starting"
    else:
        status = "degraded" if problems else "ok"
    return {
        "status": status,
        "problems": problems,
        "version": __version__,
        "uptime_seconds": round(time.monotonic() - appliance.started_at, 1),
        "modems": {"total": len(modems), "ready": ready},
    }, 200 if status == "ok" else 503


@bp.route("/health", methods=["GET", "HEAD"])
async def health(request: Request) -> JSONResponse:
    body, status = health_facts(request.app.ctx.appliance)
    return json(body, status=status)


def gone_view(known: dict) -> dict:
    """A recorded modem that no supervised port holds now."""
    return {
        "port": known["port"],
        "state": "gone",
        "state_reason": f"not connected (last seen {known['last_seen'] or 'unknown'})",
        "since": known["last_seen"],
        "profile": None,
        "usb_id": None,
        "manufacturer": known["manufacturer"],
        "model": known["model"],
        "revision": known["revision"],
        "imei": known["imei"],
        "sim": known["sim"],
        "signal": {"rssi": None, "dbm": None, "bars": 0},
        "registration": "unknown",
        "recoveries": 0,
        "counters": {},
        "history": None,
    }


async def modems_listing(appliance) -> list[dict]:
    """Every modem: those on a supervised port (sorted by port), then those gone. Shared by
    this endpoint and the admin socket (the technician console numbers them in this order)."""
    sups = sorted(appliance.pool.all(), key=lambda s: s.status.port)
    history = appliance.pool.history
    views = [modem_view(s, appliance.counters_for(s), history.get(s.status.identity.imei))
             for s in sups]
    present_imeis = {v["imei"] for v in views if v["imei"]}
    present_ports = {v["port"] for v in views}
    known = await appliance.store.read(known_modems)
    views += [gone_view(k) for k in known
              if k["imei"] not in present_imeis and k["port"] not in present_ports]
    return views


@bp.route("/modems", methods=["GET", "HEAD"])
@require_scope("read")
async def list_modems(request: Request) -> JSONResponse:
    return json({"modems": await modems_listing(request.app.ctx.appliance)})
