"""`GET /api/v1/conversations/{number}`: the thread with one number (or one contact), both
directions in time order.

Knows: the query parameters, the JSON shape of a thread and of its paging cursor.
Must not know: SQL (store.conversations, store.contacts), how numbers are normalised
(contacts.numbers with `[contacts] default_region`: "13800138000", "+86 138-0013-8000" and
"%2B8613800138000" all name +8613800138000's thread).

A contact with several numbers is one conversation: when the number belongs to a contact, the
thread holds every number of that contact (each item says which). Items: "direction" "in" or
"out", "text" exactly as sent or received, "sim" (the ICCID used), "at" (outbound: accepted;
inbound: arrived), outbound "state" and "sent_at", inbound "partial" and "smsc_at".

Paging: the newest `limit` items (oldest first); "next_before" is an opaque cursor for the page
before them (`?before=<cursor>`), null at the start of the thread. `before` may also be an
ISO 8601 time: the items before that instant.

Visibility follows GET /messages/{id}: a key without "admin" sees its own outbound messages and
the appliance's own (auto-replies), and every inbound one.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

from sanic import Blueprint, Request
from sanic.response import JSONResponse, json

from appliance.api import jsonbody as jb
from appliance.api.auth import require_scope
from appliance.store import contacts as book
from appliance.store import conversations as threads

bp = Blueprint("conversations", url_prefix="/api/v1")

KNOWN_PARAMS = {"before", "limit"}


def _encode(cursor: threads.Cursor | None) -> str | None:
    if cursor is None:
        return None
    raw = f"{cursor.at.isoformat()}|{cursor.direction}|{cursor.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode(token: str) -> threads.Cursor:
    """A cursor from `next_before`, or from an ISO 8601 time."""
    if len(token) > 200:
        raise jb.bad("before", "not a cursor nor an ISO 8601 time (too long)")
    try:
        at, direction, ident = base64.urlsafe_b64decode(
            token + "=" * (-len(token) % 4)).decode().split("|")
        when = datetime.fromisoformat(at)
        if direction not in (threads.INBOUND, threads.OUTBOUND) or when.tzinfo is None:
            raise ValueError(direction)
        return threads.Cursor(at=when.astimezone(UTC), direction=direction, id=int(ident))
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(token.replace("Z", "+00:00"))
    except ValueError:
        raise jb.bad("before", f"not a cursor (next_before) nor an ISO 8601 time: "
                               f"{token[:40]!r}") from None
    if when.tzinfo is None:
        raise jb.bad("before", "an ISO 8601 time needs a time zone (e.g. +08:00 or Z)")
    # The earliest position at that instant: nothing at it is included.
    return threads.Cursor(at=when.astimezone(UTC), direction=threads.INBOUND, id=0)


encode_cursor = _encode
"""The opaque `next_before` of a cursor (the console's thread pages use the same form)."""
decode_cursor = _decode
"""A cursor from `next_before` or an ISO 8601 time; ApiError 400 when it is neither."""


def _item_view(item: dict[str, Any]) -> dict[str, Any]:
    out = {"direction": item["direction"], "id": item["id"], "number": item["number"],
           "text": item["text"], "sim": item["sim"], "at": jb.iso(item["at"])}
    if item["direction"] == threads.OUTBOUND:
        out.update(state=item["state"], sent_at=jb.iso(item["sent_at"]),
                   final_at=jb.iso(item["final_at"]), error=item["error"])
    else:
        out.update(sender=item["sender"], modem=item["modem"], partial=item["partial"],
                   smsc_at=jb.iso(item["smsc_at"]))
    return out


@bp.route("/conversations/<number:str>", methods=["GET", "HEAD"])
@require_scope("read")
async def get_conversation(request: Request, number: str) -> JSONResponse:
    unknown = sorted(set(request.args) - KNOWN_PARAMS)
    if unknown:
        raise jb.bad(unknown[0], f"unknown parameter (known: {', '.join(sorted(KNOWN_PARAMS))})")
    number = jb.number(jb.path_part(number), "number", jb.region(request))
    limit = jb.query_int(request, "limit", 50, low=1, high=jb.MAX_LIMIT)
    before = request.args.get("before")
    cursor = _decode(before) if before else None
    caller = request.ctx.caller
    owner = None if "admin" in caller.scopes else ("api_key", str(caller.key_id))

    def read() -> tuple[dict | None, list[dict[str, Any]], threads.Cursor | None]:
        contact = book.contact_for_number(number)
        numbers = contact["numbers"] if contact else [number]
        items, older = threads.thread(numbers, before=cursor, limit=limit, owner=owner)
        return contact, items, older

    contact, items, older = await request.app.ctx.appliance.store.read(read)
    return json({
        "number": number,
        "contact": None if contact is None else {"id": contact["id"], "name": contact["name"],
                                                 "numbers": contact["numbers"]},
        "items": [_item_view(i) for i in items],
        "next_before": _encode(older),
    })
