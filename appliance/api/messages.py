"""`POST /api/v1/messages`, `GET /api/v1/messages` (a listing), `GET /api/v1/messages/{id}`,
`DELETE /api/v1/messages/{id}`.

A message held for an approval still open shows its state as `pending_approval` (stored as
`held`; see policy.approval).

POST answers 202 with the accepted messages, and "rejected": the recipients left out because
they are on the blacklist or are duplicates (policy.dedupe), each with its reason (an empty list
when none was), and "policy" when a rule has more to say (`waiting`: quiet hours or maintenance
hold it until a time). When every recipient is blacklisted it answers 422 "blacklisted", with
the same "rejected" list; a policy refusal answers with its own code (recipient_cap,
no_recipient_left, skip_dedupe_not_allowed...). `"skip_dedupe": true` lifts dedupe for one send
(alert, otp or an admin key).

GET shows who submitted a message (`submitted_by`: door, address, API key, user, department)
and, for a queued message held back now, `waiting` (reason, until); the listing filters by
`door` and `department_id`.

Knows: the JSON shapes of the messages API and how a request maps to the intake service.
Must not know: validation rules (intake does that), storage, modems.

A key sees only its own messages: GET and DELETE of a message another key submitted (or the
console, or the system) answer 404, exactly as for a message that does not exist, so ids tell
nothing about other submitters' traffic. Ownership is part of the query that loads the message
(`get_message(..., owner=...)`), so "not yours" and "not found" are the same read and the same
answer. A key with the `admin` scope sees every message.

JSON: only standard JSON numbers. Python's parsers also accept NaN, Infinity and -Infinity, and
turn a literal like 1e999 into infinity; none of these is a number any field can use, so a body
holding one is refused naming the field, before anything else looks at it.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from sanic import Blueprint, Request
from sanic.helpers import json_dumps
from sanic.response import HTTPResponse, JSONResponse, json

from appliance.api import query
from appliance.api.auth import Caller, origin_of, require_scope
from appliance.api.errors import ApiError
from appliance.api.jsonbody import iso
from appliance.dispatch.intake import (
    AllRecipientsBlocked,
    InvalidRequest,
    NotPermitted,
    PolicyRefused,
    SendRequest,
    submit_request,
)
from appliance.dispatch.phone import InvalidNumber, normalize_number
from appliance.policy.approval import PENDING_APPROVAL
from appliance.policy.origin import DOORS
from appliance.store.approvals import approval_of
from appliance.store.messages import (
    IdempotencyConflict,
    MessageNotFound,
    get_message,
    list_messages,
)
from appliance.store.states import InvalidTransition, MessageState

bp = Blueprint("messages", url_prefix="/api/v1")

KNOWN_FIELDS = {"to", "text", "priority", "category", "send_at", "ttl", "client_ref",
                "skip_dedupe"}
MAX_ID = 2**63 - 1  # larger ids cannot exist (SQLite/PostgreSQL integer keys) nor be queried


def _is_json_type(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def _body(request: Request) -> dict[str, Any]:
    # The body is parsed as JSON whatever the Content-Type says: `curl -d '{...}'` labels JSON
    # as form data, and devices configured that way should just work. Only when the body is
    # not JSON does a non-JSON Content-Type become the explanation worth giving.
    content_type = request.headers.get("content-type", "")
    try:
        body = request.json
    except Exception:
        if content_type and not _is_json_type(content_type):
            raise ApiError(400, "invalid_json",
                           f"the request body must be JSON (Content-Type: application/json); "
                           f"got Content-Type {content_type.split(';')[0].strip()}") from None
        raise ApiError(400, "invalid_json", "the request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_json", "the request body must be a JSON object "
                       '(e.g. {"to": "+8613800138000", "text": "..."})')
    unknown = sorted(set(body) - KNOWN_FIELDS)
    if unknown:
        raise ApiError(400, "invalid_field", f"unknown field {unknown[0]!r}", field=unknown[0])
    for name, value in body.items():
        where = _non_finite(value, name)
        if where is not None:
            raise ApiError(400, "invalid_field", f"{where}: not a finite number (NaN, Infinity "
                           "and out-of-range literals are not JSON numbers)", field=name)
    return body


_FINITE = frozenset({str, int, bool, type(None)})
"""JSON values that cannot be, or hold, a non-finite number."""


def _non_finite(value: Any, path: str) -> str | None:
    """Where in `value` a NaN or an infinity sits (e.g. "to[3]"), or None. A loop, not
    recursion: a body may nest lists thousands deep."""
    stack = [(value, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, float):
            if not math.isfinite(item):
                return where
        elif isinstance(item, list):
            if set(map(type, item)) <= _FINITE:  # a list of numbers as strings: nothing inside
                continue
            stack.extend((v, f"{where}[{i}]") for i, v in reversed(list(enumerate(item))))
        elif isinstance(item, dict):
            stack.extend((v, f"{where}.{k}") for k, v in reversed(list(item.items())))
    return None


def _parse_time(value: Any, name: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ApiError(400, "invalid_field", f"{name}: must be an ISO 8601 time string",
                       field=name)
    if len(value) > 64:  # the longest ISO 8601 time is ~40 characters
        raise ApiError(400, "invalid_field", f"{name}: not an ISO 8601 time (too long)",
                       field=name)
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (ValueError, OverflowError):
        raise ApiError(400, "invalid_field", f"{name}: not an ISO 8601 time: {value!r}",
                       field=name) from None


def summary_view(data: dict[str, Any]) -> dict[str, Any]:
    """A message in a listing (store.messages.list_messages): no parts, no history."""
    return {"id": data["id"], "to": data["recipient"], "text": data["text"],
            "state": data["state"], "category": data["category"], "priority": data["priority"],
            "client_ref": data["client_ref"], "sim": data["sim"],
            "parts_count": data["parts_count"], "attempts": data["attempts"],
            "error": data["error"] or None, "send_at": iso(data["send_at"]),
            "expires_at": iso(data["expires_at"]), "created_at": iso(data["created_at"]),
            "updated_at": iso(data["updated_at"]), "sent_at": iso(data["sent_at"]),
            "final_at": iso(data["final_at"]),
            "submitted_by": {"door": data["door"], "address": data["address"] or None,
                             "api_key_id": data["api_key_id"], "user_id": data["user_id"],
                             "department_id": data["department_id"]}}


def message_view(data: dict[str, Any]) -> dict[str, Any]:
    """The API's view of a stored message (store.messages.get_message): its summary, its
    parts and its history; `waiting`: why a queued message is held back now (quiet hours,
    maintenance) and until when, else null."""
    return {
        **summary_view(data),
        "waiting": data.get("waiting"),
        "parts": [{
            "index": p["index"], "state": p["state"], "sim": p["sim"],
            "message_reference": p["message_reference"], "error": p["error"] or None,
            "sent_at": iso(p["sent_at"]), "report_status": p["report_status"],
            "report_at": iso(p["report_at"]),
        } for p in data["parts"]],
        "events": [{"at": iso(e["at"]), "from": e["old_state"], "to": e["new_state"],
                    "detail": e["detail"], "sim": e["sim"]} for e in data["events"]],
    }


@bp.post("/messages")
@require_scope("send")
async def post_messages(request: Request) -> HTTPResponse:
    body = _body(request)
    skip_dedupe = body.get("skip_dedupe", False)
    if not isinstance(skip_dedupe, bool):
        raise ApiError(400, "invalid_field", "skip_dedupe: must be true or false",
                       field="skip_dedupe")
    to = body.get("to")
    if isinstance(to, str):
        to = [to]
    if not isinstance(to, list):
        raise ApiError(400, "invalid_field", "to: must be a phone number or a list of them",
                       field="to")
    category = body.get("category", "notice")
    if not isinstance(category, str):
        raise ApiError(400, "invalid_field", "category: must be a string", field="category")
    ttl = body.get("ttl")
    # A tuple, not `int | float`: that builds a union object at every call.
    if ttl is not None and (not isinstance(ttl, (int, float)) or isinstance(ttl, bool)):
        raise ApiError(400, "invalid_field", "ttl: must be a number of seconds", field="ttl")
    # Everything else (ranges, finiteness, the other fields' types) is intake's to check.
    caller = request.ctx.caller
    send = SendRequest(
        to=to, text=body.get("text"), category=category,
        priority=body.get("priority"), send_at=_parse_time(body.get("send_at"), "send_at"),
        ttl=ttl, client_ref=body.get("client_ref"), submitter_kind="api_key",
        submitter_id=str(caller.key_id), privileged="admin" in caller.scopes,
        origin=origin_of(request, caller, "api"), skip_dedupe=skip_dedupe)
    dispatcher = request.app.ctx.appliance.dispatcher
    try:
        accepted = await submit_request(dispatcher, send)
    except NotPermitted as exc:
        raise ApiError(403, "forbidden", str(exc), field=exc.field) from None
    except PolicyRefused as exc:
        raise ApiError(exc.status, exc.code, str(exc), field=exc.field,
                       **_details_view(exc.details)) from None
    except AllRecipientsBlocked as exc:
        # 422, not 400: the request is well formed and valid; what stands in the way is the
        # state of the blacklist, and the same body sent after an unblacklisting is accepted.
        raise ApiError(422, "blacklisted", str(exc), field="to",
                       rejected=_rejected_view(exc.rejected)) from None
    except InvalidRequest as exc:
        raise ApiError(400, "invalid_field", str(exc), field=exc.field) from None
    except IdempotencyConflict as exc:
        raise ApiError(409, "client_ref_conflict", str(exc), field="client_ref") from None
    # The bytes `json()` would send (sanic's own encoder), without its JSONResponse, whose
    # set-up (a body kept to be re-encoded on change) cost more than the encoding itself.
    return HTTPResponse(json_dumps({
        "messages": [{"id": i, "to": r} for i, r in zip(accepted.ids, accepted.recipients,
                                                         strict=True)],
        "parts": accepted.parts,
        "encoding": accepted.encoding,
        "rejected": _rejected_view(accepted.rejected),
        **({"policy": accepted.notes} if accepted.notes else {}),
    }), status=202, content_type="application/json")


def _details_view(details: dict[str, Any]) -> dict[str, Any]:
    """A policy refusal's facts for the JSON error (recipients left out as a list of objects)."""
    view = dict(details)
    if "rejected" in view:
        view["rejected"] = _rejected_view(view["rejected"])
    return view


def _rejected_view(rejected: list[tuple[str, str]]) -> list[dict[str, str]]:
    """Recipients left out of a request (on the blacklist), with why."""
    return [{"to": number, "reason": reason} for number, reason in rejected]


def _owner(caller: Caller) -> tuple[str, str] | None:
    """The submitter whose messages the caller may see; None: every one (admin)."""
    return None if "admin" in caller.scopes else ("api_key", str(caller.key_id))


async def _load(request: Request, message_id: int) -> dict[str, Any]:
    """The message, if it exists and the caller may see it; else 404 (one query, the same 404
    either way)."""
    store = request.app.ctx.appliance.store
    not_found = ApiError(404, "not_found", f"no message with id {message_id}")
    if not 0 < message_id <= MAX_ID:
        raise not_found
    owner = _owner(request.ctx.caller)
    try:
        data, links = await store.read(lambda: (get_message(message_id, owner=owner),
                                                approval_of([message_id])))
    except MessageNotFound:
        raise not_found from None
    data = _shown_state(data, links)
    data["waiting"] = _waiting(request, data)
    return data


def _shown_state(data: dict[str, Any], links: dict[int, tuple[int, str]]) -> dict[str, Any]:
    """A message held for an approval still open shows as `pending_approval` (stored: held)."""
    link = links.get(data["id"])
    if data["state"] == MessageState.HELD.value and link is not None and link[1] == "pending":
        data["state"] = PENDING_APPROVAL
    return data


def _waiting(request: Request, data: dict[str, Any]) -> dict[str, Any] | None:
    """Why a queued message is not being sent now: quiet hours or maintenance hold its
    category (policy.holds), until when."""
    appliance = request.app.ctx.appliance
    maintenance = getattr(appliance, "maintenance", None)
    if data["state"] != MessageState.QUEUED.value or maintenance is None:
        return None
    hold = maintenance.schedule.state(appliance.dispatcher.now()).hold_of(data["category"])
    if hold is None:
        return None
    return {"reason": hold.reason, "until": iso(hold.until)}


LIST_PARAMS = {"since", "before", "limit", "order", "state", "to", "sim", "client_ref",
               "created_from", "created_to", "door", "department_id"}
LIST_DEFAULT = 100
LIST_MAX = 1000


@bp.route("/messages", methods=["GET", "HEAD"])
@require_scope("read")
async def list_all(request: Request) -> JSONResponse:
    """The caller's messages (an admin key: everyone's), newest first, or oldest first after
    `since` (a client polls with `next_since`); `before` pages back (`next_before`). Filters:
    `state` (comma-separated), `to`, `sim`, `client_ref`, `created_from`, `created_to`,
    `door` and `department_id` (who submitted it)."""
    query.refuse_unknown(request, LIST_PARAMS)
    since = query.integer(request, "since", 0, query.MAX_ID)
    before = query.integer(request, "before", 1, query.MAX_ID)
    limit = query.integer(request, "limit", 1, LIST_MAX) or LIST_DEFAULT
    ascending = query.order(request, ascending_by_default=since is not None)
    states = None
    raw_states = query.one(request, "state")
    if raw_states is not None:
        states = [s.strip() for s in raw_states.split(",") if s.strip()]
        known = [s.value for s in MessageState] + [PENDING_APPROVAL]
        wrong = [s for s in states if s not in known]
        if wrong or not states:
            raise query.bad("state", f"unknown state {(wrong or [''])[0][:40]!r} (known: "
                                     f"{', '.join(known)})")
        # The state a listing shows for a message held for an open approval is stored `held`
        # (see _shown_state): asking for the one is asking for the other.
        states = list(dict.fromkeys(MessageState.HELD.value if s == PENDING_APPROVAL else s
                                    for s in states))
    recipient = query.one(request, "to")
    if recipient is not None:
        try:
            recipient = normalize_number(recipient)
        except InvalidNumber as exc:
            raise query.bad("to", str(exc)) from None
    sim = query.one(request, "sim")
    if sim is not None and not 0 < len(sim) <= 22:
        raise query.bad("sim", "must be a SIM's ICCID (1 to 22 characters)")
    client_ref = query.one(request, "client_ref")
    if client_ref is not None and not 0 < len(client_ref) <= 255:
        raise query.bad("client_ref", "must be 1 to 255 characters")
    start, end = query.time(request, "created_from"), query.time(request, "created_to")
    if start is not None and end is not None and end < start:
        raise query.bad("created_to", "must not be before `created_from`")
    door = query.one(request, "door")
    if door is not None and door not in DOORS:
        raise query.bad("door", f"unknown door {door[:40]!r} (known: {', '.join(DOORS)})")
    department = query.integer(request, "department_id", 1, query.MAX_ID)
    owner = _owner(request.ctx.caller)

    def read() -> list[dict[str, Any]]:
        rows = list_messages(
            owner=owner, since=since, before=before, limit=limit, states=states,
            recipient=recipient, sim=sim, client_ref=client_ref, created_from=start,
            created_to=end, door=door, department_id=department, ascending=ascending)
        links = approval_of([r["id"] for r in rows if r["state"] == MessageState.HELD.value])
        return [_shown_state(r, links) for r in rows]

    rows = await request.app.ctx.appliance.store.read(read)
    return json(query.page("messages", rows, ascending=ascending, since=since,
                           before=before, view=summary_view))


@bp.route("/messages/<message_id:int>", methods=["GET", "HEAD"])
@require_scope("read")
async def get_one(request: Request, message_id: int) -> JSONResponse:
    return json(message_view(await _load(request, message_id)))


@bp.delete("/messages/<message_id:int>")
@require_scope("send")
async def cancel_one(request: Request, message_id: int) -> JSONResponse:
    await _load(request, message_id)
    try:
        await request.app.ctx.appliance.dispatcher.cancel(message_id)
    except InvalidTransition as exc:
        raise ApiError(409, "not_cancellable",
                       f"message {message_id} can no longer be cancelled ({exc})") from None
    return json(message_view(await _load(request, message_id)))
