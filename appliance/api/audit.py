"""The audit log over JSON (admin scope): list, verify, export.

Knows: the JSON shape of an entry, the listing's filters and paging (like the messages
listing: `since`/`before` by seq, `next_since`/`next_before`), and streaming an export.
Must not know: SQL (store.audit), how entries are chained (store.audit) or formatted
(audit.export).

- `GET /api/v1/audit?action=&actor=&since_time=&since=&before=&limit=&order=`: a page;
  `action` matches itself and its dotted children (`user` lists user.create, user.change...);
  `actor` a name or an id.
- `GET /api/v1/audit/verify`: walks the chain; `{"ok", "entries", "last_hash",
  "first_bad": {"seq", "reason"} | null}`.
- `GET /api/v1/audit/export?format=csv|jsonl&since_time=`: the whole log, oldest first,
  streamed a batch at a time.
"""

from __future__ import annotations

import functools
import json as jsonlib
from typing import Any

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, JSONResponse, json

from appliance.api import jsonbody as jb
from appliance.api import query
from appliance.api.auth import require_scope
from appliance.audit.export import FORMATS, csv_header, csv_rows, jsonl_rows
from appliance.store import audit as audit_store

bp = Blueprint("audit", url_prefix="/api/v1")

LIST_PARAMS = {"action", "actor", "since_time", "since", "before", "limit", "order"}
LIST_DEFAULT, LIST_MAX = 50, 500
EXPORT_BATCH = 1000


def entry_view(entry: dict[str, Any]) -> dict[str, Any]:
    try:
        detail = jsonlib.loads(entry["detail"])
    except ValueError:  # a tampered row; verify names it, the listing still shows it
        detail = entry["detail"]
    return {"seq": entry["seq"], "at": jb.iso(entry["at"]),
            "actor": {"kind": entry["actor_kind"], "id": entry["actor_id"],
                      "name": entry["actor_name"]},
            "address": entry["address"], "door": entry["door"], "action": entry["action"],
            "target": entry["target"], "detail": detail, "prev_hash": entry["prev_hash"],
            "hash": entry["hash"]}


@bp.route("/audit", methods=["GET", "HEAD"])
@require_scope("admin")
async def list_audit(request: Request) -> JSONResponse:
    query.refuse_unknown(request, LIST_PARAMS)
    since = query.integer(request, "since", 0, query.MAX_ID)
    before = query.integer(request, "before", 1, query.MAX_ID)
    limit = query.integer(request, "limit", 1, LIST_MAX) or LIST_DEFAULT
    ascending = query.order(request, ascending_by_default=since is not None)
    action = query.one(request, "action")
    actor = query.one(request, "actor")
    for name, value in (("action", action), ("actor", actor)):
        if value is not None and not 0 < len(value) <= 128:
            raise query.bad(name, "must be 1 to 128 characters")
    since_time = query.time(request, "since_time")
    rows = await request.app.ctx.appliance.store.read(lambda: audit_store.list_entries(
        action=action, actor=actor, since_time=since_time, since=since, before=before,
        limit=limit, ascending=ascending))
    return json(query.page("entries", rows, ascending=ascending, since=since, before=before,
                           view=entry_view))


@bp.route("/audit/verify", methods=["GET", "HEAD"])
@require_scope("admin")
async def verify_audit(request: Request) -> JSONResponse:
    check = await request.app.ctx.appliance.store.read(audit_store.verify_chain)
    bad = None if check.ok else {"seq": check.bad_seq, "reason": check.reason}
    return json({"ok": check.ok, "entries": check.entries, "last_hash": check.last_hash,
                 "first_bad": bad})


@bp.route("/audit/export", methods=["GET", "HEAD"])
@require_scope("admin")
async def export_audit(request: Request):
    query.refuse_unknown(request, {"format", "since_time"})
    fmt = query.one(request, "format") or "jsonl"
    if fmt not in FORMATS:
        raise query.bad("format", f'must be one of {", ".join(FORMATS)}, got {fmt[:20]!r}')
    since_time = query.time(request, "since_time")
    headers = {"Content-Disposition": f'attachment; filename="cardgate-audit.{fmt}"'}
    if request.method == "HEAD":  # the answer's headers, without reading the log
        return HTTPResponse(status=200, content_type=FORMATS[fmt], headers=headers)
    store = request.app.ctx.appliance.store
    response = await request.respond(content_type=FORMATS[fmt], headers=headers)
    if fmt == "csv":
        await response.send(csv_header())
    seq = 0
    while True:
        batch = await store.read(functools.partial(
            audit_store.entries_after, seq, since_time=since_time, limit=EXPORT_BATCH))
        if not batch:
            break
        await response.send(csv_rows(batch) if fmt == "csv" else jsonl_rows(batch))
        seq = batch[-1]["seq"]
    await response.eof()
