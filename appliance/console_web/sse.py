"""Live pages: the event hub's events as Server-Sent Events.

`GET /console/events?kinds=message.state,sms.received` streams each event of those kinds as
`event: <kind>` / `data: <the event's JSON>`; without `kinds`, every kind. Pages listen with
htmx's sse extension or an EventSource and re-fetch what changed; nothing polls the database.

Knows: the wire format, a keep-alive comment every KEEP_ALIVE seconds (a proxy or a phone's
browser would otherwise close an idle stream), and that a slow browser loses the oldest events
of its own queue (the hub's rule for live views), never slows the hub.
Must not know: what a page does with an event.
"""

from __future__ import annotations

import asyncio
import json

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from appliance import hub as hub_module
from appliance.console_web.guard import page
from appliance.console_web.render import text

bp = Blueprint("console_sse", url_prefix="/console")

KEEP_ALIVE = 15.0
QUEUE = 2_000  # a browser's own backlog; beyond it the oldest go (a live view can afford it)
BATCH = 200  # events written in one chunk when a burst is queued


def event_kinds() -> dict[str, type[hub_module.Event]]:
    """Every event class the hub knows, by its wire name."""
    found: dict[str, type[hub_module.Event]] = {}
    pending = list(hub_module.Event.__subclasses__())
    while pending:
        cls = pending.pop()
        found[cls.kind] = cls
        pending.extend(cls.__subclasses__())
    return found


def encode(event: hub_module.Event) -> str:
    data = json.dumps(event.as_dict(), ensure_ascii=False, separators=(",", ":"))
    return f"event: {event.kind}\ndata: {data}\n\n"


@bp.get("/events")
@page("read")
async def events(request: Request) -> HTTPResponse | None:
    known = event_kinds()
    wanted = [k for k in (request.args.get("kinds") or "").split(",") if k]
    unknown = [k for k in wanted if k not in known]
    if unknown:
        return HTTPResponse(text(request, "Unknown event kind: {kinds}",
                                 kinds=", ".join(unknown)), status=400,
                            content_type="text/plain; charset=utf-8")
    kinds = [known[k] for k in wanted] if wanted else None
    hub = request.app.ctx.appliance.hub
    sub = hub.subscribe(f"console:{request.ctx.user.name}", kinds, maxsize=QUEUE)
    streams = request.app.ctx.console_streams
    streams.add(sub)
    try:
        response = await request.respond(
            content_type="text/event-stream; charset=utf-8",
            # Connection: close: an ended stream leaves no idle connection behind.
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no",
                     "Connection": "close"})
        await response.send(": live\n\n")
        while True:
            try:
                batch = await asyncio.wait_for(sub.batch(BATCH), KEEP_ALIVE)
            except TimeoutError:
                await response.send(": keep-alive\n\n")
                continue
            if not batch:
                break
            await response.send("".join(encode(event) for event in batch))
    finally:
        streams.discard(sub)
        sub.close()
    return None


def end_streams(app) -> None:
    """Before the server stops: every open stream ends now (its browser reconnects to the next
    server), instead of holding the shutdown for its graceful timeout."""
    for sub in list(app.ctx.console_streams):
        sub.close()
