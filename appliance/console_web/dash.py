"""The live dashboard and the modem page.

`GET /console/dashboard` (read): every modem and SIM, today's figures, the queue, the newest
replies. Its three parts are also fragments (`/console/dashboard/modems|figures|replies`) that
web/static/dash.js re-fetches when the hub's events say they changed (pool.changed,
message.state, message.accepted, sms.received over /console/events), at most once a second
each: a burst of a thousand state changes costs one re-fetch, and nothing polls the database.

`GET /console/modems/<key>` (read): a modem's identity and state; its live AT traffic
(`/console/modems/<key>/traffic`, Server-Sent Events from the modem's in-memory ring) and the
"restart modem" action (`POST .../restart`) for the roles with `diagnose`, whose tools they
are (accounts.roles).

Knows: routes, which template shows what, and the outcome messages of a restart.
Must not know: SQL, how a figure is counted (console_web.dash_snapshot, store.dashboard).
"""

from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, redirect

from appliance.at.traffic import TrafficLine, follow
from appliance.console_web import dash_snapshot as snap
from appliance.console_web.audited import console_actor
from appliance.console_web.guard import page
from appliance.console_web.render import fragment, render, zone

bp = Blueprint("console_dash", url_prefix="/console")

TRAFFIC_BACKLOG = 200
TRAFFIC_POLL = 0.25
KEEP_ALIVE = 15.0
RESTART_OUTCOMES = ("ready", "no_sim", "pin_needed", "resting", "probing", "gone")


def _appliance(request: Request):
    return request.app.ctx.appliance


HELPERS = {"queue_rows": snap.queue_rows, "category_label": snap.category_label,
           "registration_label": snap.registration_label, "operator_label": snap.operator_label}
"""What the dash templates call besides the layout's globals."""


@bp.get("/dashboard")
@page("read")
async def dashboard(request: Request) -> HTTPResponse:
    snapshot = await snap.dashboard_snapshot(_appliance(request))
    return render(request, "dash/dashboard.html", rows=snapshot.rows, figures=snapshot.figures,
                  replies=snapshot.replies, taken_at=snapshot.taken_at, **HELPERS)


@bp.get("/dashboard/modems")
@page("read")
async def dashboard_modems(request: Request) -> HTTPResponse:
    return fragment(request, "dash/_modems.html", rows=await snap.modem_rows(_appliance(request)),
                    **HELPERS)


@bp.get("/dashboard/figures")
@page("read")
async def dashboard_figures(request: Request) -> HTTPResponse:
    return fragment(request, "dash/_figures.html",
                    figures=await snap.today_figures(_appliance(request)), **HELPERS)


@bp.get("/dashboard/replies")
@page("read")
async def dashboard_replies(request: Request) -> HTTPResponse:
    return fragment(request, "dash/_replies.html",
                    replies=await snap.replies(_appliance(request)))


def _not_found(request: Request) -> HTTPResponse:
    return render(request, "dash/modem_missing.html", status=404)


@bp.get("/modems/<key:str>")
@page("read")
async def modem(request: Request, key: str) -> HTTPResponse:
    found = await snap.modem_page(_appliance(request), key)
    if found is None:
        return _not_found(request)
    outcome = request.args.get("restart")
    return render(request, "dash/modem.html", modem=found,
                  outcome=outcome if outcome in RESTART_OUTCOMES else None, **HELPERS)


@bp.get("/modems/<key:str>/status")
@page("read")
async def modem_status(request: Request, key: str) -> HTTPResponse:
    found = await snap.modem_page(_appliance(request), key)
    if found is None:
        return _not_found(request)
    return fragment(request, "dash/_modem_status.html", modem=found, **HELPERS)


def traffic_text(line: TrafficLine, zone: ZoneInfo) -> str:
    """A line of the AT log stamped in the appliance's time zone, as every other time in the
    console (TrafficLine.format uses the process's, UTC on a box left at its default: the log
    read 07:57 beside messages sent at 15:57)."""
    stamp = datetime.fromtimestamp(line.at, zone).strftime("%H:%M:%S")
    return f"{stamp}.{int(line.at * 1000) % 1000:03d} {line.direction} {line.text}"


@bp.get("/modems/<key:str>/traffic")
@page("diagnose")
async def modem_traffic(request: Request, key: str) -> HTTPResponse | None:
    """The modem's AT traffic as Server-Sent Events: the last lines, then each new one
    (`event: at`, data {"dir": ">"|"<", "line": "12:00:01.250 > AT+CSQ"}); the page adds each
    as text, never as HTML."""
    sup = snap.find_supervisor(_appliance(request), key)
    if sup is None:
        return _not_found(request)
    response = await request.respond(
        content_type="text/event-stream; charset=utf-8",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
    await response.send(": traffic\n\n")
    tz = zone(request)
    async for line in follow(sup.traffic, TRAFFIC_BACKLOG, poll=TRAFFIC_POLL, idle=KEEP_ALIVE,
                             until=lambda: sup.status.state.value == "gone"):
        if line is None:
            await response.send(": keep-alive\n\n")
            continue
        data = json.dumps({"dir": line.direction, "line": traffic_text(line, tz)},
                          ensure_ascii=False)
        await response.send(f"event: at\ndata: {data}\n\n")
    await response.send("event: gone\ndata: {}\n\n")
    return None


@bp.post("/modems/<key:str>/restart")
@page("diagnose")
async def modem_restart(request: Request, key: str) -> HTTPResponse:
    appliance = _appliance(request)
    sup = snap.find_supervisor(appliance, key)
    if sup is None:
        return _not_found(request)
    if sup.status.state.value == "gone":
        return redirect(f"/console/modems/{key}?restart=gone", status=303)
    user = request.ctx.user
    state = await snap.restart_modem(appliance, sup, user.name)
    if appliance.audit is not None:
        await appliance.audit.record(console_actor(request), "modem.restart",
                                     sup.status.identity.imei or sup.status.port,
                                     {"port": sup.status.port, "outcome": state})
    return redirect(f"/console/modems/{key}?restart={state}", status=303)

