"""The blacklist over JSON: `GET/POST /api/v1/blacklist`, `DELETE /api/v1/blacklist/{number}`.

Knows: the JSON shape of a blacklist entry, and that every change goes through the appliance's
`contacts.blacklist.Blacklist` (memory, table and the cancelling of waiting messages together).
Must not know: SQL (store.blacklist), the dispatcher.

Scopes: reading needs "read", changing needs "admin". POST {"number", "reason", "source"}
(source "api" by default, or "console") answers 201 with the entry and "cancelled": the ids of
the waiting messages to that number it cancelled; a number already listed answers 200 with the
entry as first listed and "added": false. The number in a DELETE path may be written in any
form that normalises to the listed one ("+" as %2B, or the national form).
"""

from __future__ import annotations

from typing import Any

from sanic import Blueprint, Request
from sanic.response import JSONResponse, json

from appliance.api import jsonbody as jb
from appliance.api.auth import require_scope
from appliance.api.errors import ApiError
from appliance.store import blacklist as blacklist_store

bp = Blueprint("blacklist", url_prefix="/api/v1")

FIELDS = {"number", "reason", "source"}
API_SOURCES = ("api", "console")  # "sms" and "rule" are the rules engine's to write


def entry_view(e: dict[str, Any]) -> dict[str, Any]:
    return {"number": e["number"], "reason": e["reason"], "source": e["source"],
            "created_at": jb.iso(e["created_at"])}


@bp.route("/blacklist", methods=["GET", "HEAD"])
@require_scope("read")
async def list_blacklist(request: Request) -> JSONResponse:
    limit, offset = jb.limit_offset(request)
    q = jb.text(request.args.get("q", ""), "q", limit=100).strip()
    entries, total = await request.app.ctx.appliance.store.read(
        lambda: blacklist_store.list_entries(q, limit=limit, offset=offset))
    return json({"blacklist": [entry_view(e) for e in entries], "total": total,
                 "limit": limit, "offset": offset})


@bp.post("/blacklist")
@require_scope("admin")
async def add_to_blacklist(request: Request) -> JSONResponse:
    body = jb.json_object(request, FIELDS)
    if "number" not in body:
        raise jb.bad("number", "is required")
    number = jb.number(body["number"], "number", jb.region(request))
    reason = jb.text(body.get("reason", ""), "reason", limit=500)
    source = body.get("source", "api")
    if source not in API_SOURCES:
        raise jb.bad("source", f"must be one of {', '.join(API_SOURCES)}")
    appliance = request.app.ctx.appliance
    added, cancelled = await appliance.blacklist.add_and_cancel(number, reason, source)
    entry = await appliance.store.read(lambda: blacklist_store.get(number))
    return json({**entry_view(entry), "added": added, "cancelled": cancelled},
                status=201 if added else 200)


@bp.delete("/blacklist/<number:str>")
@require_scope("admin")
async def remove_from_blacklist(request: Request, number: str) -> JSONResponse:
    number = jb.number(jb.path_part(number), "number", jb.region(request))
    if not await request.app.ctx.appliance.blacklist.remove(number):
        raise ApiError(404, "not_found", f"{number} is not on the blacklist")
    return json({"number": number, "removed": True})
