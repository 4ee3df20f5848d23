"""`GET /api/v1/approvals`, `GET /api/v1/approvals/{id}`, `POST .../{id}/approve`,
`POST .../{id}/reject` (`{"reason": "..."}`): the send requests held for an approver; and
`GET /api/v1/approval-rules`, `PUT|DELETE /api/v1/approval-rules/{department_id}`: which
requests need one (the box default of `[approval]`, and each department's own rule).

Knows: the JSON shapes of approvals and who may see and decide them: a key with the `approve`
scope (or `admin`) sees every approval and decides, but never its own request (403
`own_request`: the same user when both are bound to users, else the same key), and, when the
approver belongs to a department, only that department's requests (403 `other_department`;
an admin decides for every department); any other key
with `read` sees only the approvals of its own requests (the submitter sees the outcome): a
key bound to a user, those of the user's requests, whichever of their keys submitted them.
Must not know: SQL (store.approvals), what a decision does to the messages (policy.approval).
"""

from __future__ import annotations

from typing import Any

from sanic import Blueprint, Request
from sanic.response import JSONResponse, json

from appliance.api import jsonbody as jb
from appliance.api import query
from appliance.api.auth import Caller, origin_of, require_scope
from appliance.api.errors import ApiError
from appliance.api.jsonbody import iso
from appliance.config import CATEGORIES
from appliance.policy import approval as policy
from appliance.store import approvals
from appliance.store.approvals import ApprovalProblem, Decider

bp = Blueprint("approvals", url_prefix="/api/v1")

LIST_DEFAULT = 100
LIST_MAX = 500
STATUS = {"not_found": 404, "own_request": 403, "other_department": 403,
          "already_decided": 409, "nothing_held": 409, "invalid_field": 400}


def view(data: dict[str, Any]) -> dict[str, Any]:
    """An approval as the API shows it (its state: pending_approval / approved / rejected)."""
    out = {k: iso(v) for k, v in data.items()}
    out["state"] = policy.shown_state(data["state"])
    return out


def _approver(caller: Caller) -> bool:
    return "approve" in caller.scopes or "admin" in caller.scopes


def _mine(caller: Caller) -> dict[str, int | None]:
    """Whose approvals the caller sees: every one (an approver), else its user's (whichever
    of the user's keys submitted), else its key's."""
    if _approver(caller):
        return {}
    if caller.user_id is not None:
        return {"submitter_user": caller.user_id}
    return {"submitter_key": caller.key_id}


def _problem(exc: ApprovalProblem) -> ApiError:
    extra = {"field": exc.field} if exc.field else {}
    return ApiError(STATUS[exc.code], exc.code, exc.message, **extra)


@bp.route("/approval-rules", methods=["GET", "HEAD"])
@require_scope("read")
async def list_rules(request: Request) -> JSONResponse:
    a = request.app.ctx.appliance.config.approval
    default = approvals.Rule(a.mode, a.above, tuple(a.categories))
    rows = await request.app.ctx.appliance.store.read(approvals.list_rules)
    return json({"default": default.as_dict(), "departments": rows})


@bp.put("/approval-rules/<department_id:int>")
@require_scope("admin")
async def put_rule(request: Request, department_id: int) -> JSONResponse:
    body = jb.json_object(request, {"mode", "above", "categories"})
    if not 0 < department_id <= query.MAX_ID:
        raise ApiError(404, "not_found", f"no department {department_id}")
    try:
        rule = approvals.check_rule(body.get("mode"), body.get("above", 0),
                                    body.get("categories", []), CATEGORIES)
    except ApprovalProblem as exc:
        raise _problem(exc) from None
    await request.app.ctx.appliance.store.write(lambda: approvals.set_rule(department_id, rule))
    return json({"department_id": department_id, **rule.as_dict()})


@bp.delete("/approval-rules/<department_id:int>")
@require_scope("admin")
async def delete_rule(request: Request, department_id: int) -> JSONResponse:
    if not 0 < department_id <= query.MAX_ID:  # SQLite's INTEGER: a bigger id is an overflow
        raise ApiError(404, "not_found", f"department {department_id} has no rule of its own")
    found = await request.app.ctx.appliance.store.write(
        lambda: approvals.delete_rule(department_id))
    if not found:
        raise ApiError(404, "not_found", f"department {department_id} has no rule of its own")
    return json({"department_id": department_id, "deleted": True})


@bp.route("/approvals", methods=["GET", "HEAD"])
@require_scope("read")
async def list_approvals(request: Request) -> JSONResponse:
    """Newest first; `state` (pending / approved / rejected), `before` to page back."""
    query.refuse_unknown(request, {"state", "before", "limit"})
    state = query.one(request, "state")
    if state is not None and state not in approvals.STATES:
        raise query.bad("state", f"must be one of {', '.join(approvals.STATES)}")
    before = query.integer(request, "before", 1, query.MAX_ID)
    limit = query.integer(request, "limit", 1, LIST_MAX) or LIST_DEFAULT
    mine = _mine(request.ctx.caller)
    rows = await request.app.ctx.appliance.store.read(lambda: approvals.listing(
        state=state, before=before, limit=limit, **mine))
    return json(query.page("approvals", rows, ascending=False, since=None, before=before,
                           view=view))


def _in_range(approval_id: int) -> None:
    """A 404 for an id no row can have (beyond SQLite's INTEGER it would be an overflow)."""
    if not 0 < approval_id <= query.MAX_ID:
        raise ApiError(404, "not_found", f"no approval with id {approval_id}")


async def _get(request: Request, approval_id: int) -> dict[str, Any]:
    _in_range(approval_id)
    mine = _mine(request.ctx.caller)
    try:
        return await request.app.ctx.appliance.store.read(
            lambda: approvals.get(approval_id, **mine))
    except ApprovalProblem as exc:
        raise _problem(exc) from None


@bp.route("/approvals/<approval_id:int>", methods=["GET", "HEAD"])
@require_scope("read")
async def get_approval(request: Request, approval_id: int) -> JSONResponse:
    return json(view(await _get(request, approval_id)))


def _decider(request: Request) -> Decider:
    caller = request.ctx.caller
    origin = origin_of(request, caller, "api")
    return Decider(name=caller.name, api_key_id=caller.key_id, user_id=origin.user_id,
                   department_id=origin.department_id,
                   every_department="admin" in caller.scopes)


@bp.post("/approvals/<approval_id:int>/approve")
@require_scope("approve")
async def approve(request: Request, approval_id: int) -> JSONResponse:
    _in_range(approval_id)
    if request.body:
        jb.json_object(request, set())  # no fields: anything given is a mistake, named
    appliance = request.app.ctx.appliance
    try:
        await policy.approve(appliance.dispatcher, appliance.hub, approval_id,
                             _decider(request))
    except ApprovalProblem as exc:
        raise _problem(exc) from None
    return json(view(await _get(request, approval_id)))


@bp.post("/approvals/<approval_id:int>/reject")
@require_scope("approve")
async def reject(request: Request, approval_id: int) -> JSONResponse:
    _in_range(approval_id)
    body = jb.json_object(request, {"reason"})
    reason = jb.text(body.get("reason", ""), "reason", limit=approvals.MAX_REASON,
                     required=True)
    appliance = request.app.ctx.appliance
    try:
        await policy.reject(appliance.dispatcher, appliance.hub, approval_id,
                            _decider(request), reason)
    except ApprovalProblem as exc:
        raise _problem(exc) from None
    return json(view(await _get(request, approval_id)))
