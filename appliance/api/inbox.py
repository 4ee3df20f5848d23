"""`GET /api/v1/inbox`: received messages, reassembled, paged by id.

Knows: the query parameters and the JSON shape of the inbox listing.
Must not know: storage (store.inbox lists), reassembly, modems.

Paging: ids only grow (AUTOINCREMENT), so `since=<id>` returns what came after that id,
oldest first, and a client polls with the last id it saw (`next_since`). Without `since` the
newest come first (`before=<id>` pages further back, `next_before`); `order` overrides either.
A partial message that a late part later completes keeps its id: it is not listed again
after `since` (its `updated_at` tells that it changed).

Text is given exactly as received (hostile text included: JSON escaping is all it gets).
A bad parameter is a 400 naming it; an unknown parameter is one too (a typo such as
`?sice=` must not silently list everything).
"""

from __future__ import annotations

from typing import Any

from sanic import Blueprint, Request
from sanic.response import JSONResponse, json

from appliance.api.auth import require_scope
from appliance.api.jsonbody import iso
from appliance.api.query import MAX_ID, bad, integer, one, order, page, refuse_unknown, time
from appliance.inbox.handler import number_of
from appliance.store import inbox as inbox_store

bp = Blueprint("inbox", url_prefix="/api/v1")

KNOWN_PARAMS = {"since", "before", "limit", "number", "sim", "from", "to", "order"}
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


def inbox_view(data: dict[str, Any]) -> dict[str, Any]:
    """The API's view of one inbox message (store.inbox.list_messages)."""
    return {
        "id": data["id"],
        "sender": data["sender"],
        "number": data["number"],
        "contact": data.get("contact"),
        "text": data["text"],
        "sim": data["sim"],
        "modem": data["modem"] or None,
        "smsc_at": iso(data["smsc_at"]),
        "received_at": iso(data["received_at"]),
        "updated_at": iso(data["updated_at"]),
        "partial": data["partial"],
        "parts": data["parts_total"],
        "parts_received": data["parts_received"],
        "handled_at": iso(data["handled_at"]),
    }


@bp.route("/inbox", methods=["GET", "HEAD"])
@require_scope("read")
async def list_inbox(request: Request) -> JSONResponse:
    refuse_unknown(request, KNOWN_PARAMS)
    since = integer(request, "since", 0, MAX_ID)
    before = integer(request, "before", 1, MAX_ID)
    limit = integer(request, "limit", 1, MAX_LIMIT) or DEFAULT_LIMIT
    ascending = order(request, ascending_by_default=since is not None)
    number = one(request, "number")
    if number is not None:
        if not number.strip() or len(number) > 64:
            raise bad("number", "must be a phone number or a sender name (1 to 64 characters)")
        number = number_of(number.strip())
    sim = one(request, "sim")
    if sim is not None and not (sim and len(sim) <= 22):
        raise bad("sim", "must be a SIM's ICCID (1 to 22 characters)")
    start, end = time(request, "from"), time(request, "to")
    if start is not None and end is not None and end < start:
        raise bad("to", "must not be before `from`")
    store = request.app.ctx.appliance.store
    rows = await store.read(lambda: inbox_store.list_messages(
        since=since, before=before, limit=limit, number=number, sim=sim,
        received_from=start, received_to=end, ascending=ascending))
    return json(page("messages", rows, ascending=ascending, since=since,
                     before=before, view=inbox_view))
