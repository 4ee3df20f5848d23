"""Departments' own per-send recipient caps: `GET /api/v1/recipient-caps`,
`PUT /api/v1/recipient-caps/{department_id}` {"max_recipients": N},
`DELETE /api/v1/recipient-caps/{department_id}`.

Knows: the JSON shape. Every change goes through the appliance's
`policy.recipient_cap.RecipientCap` (memory and table together).
Must not know: SQL, what the cap refuses. Scopes: GET "read", PUT and DELETE "admin".
"""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import JSONResponse, json

from appliance.api import jsonbody as jb
from appliance.api.auth import require_scope
from appliance.api.errors import ApiError
from appliance.policy.recipient_cap import MAX_CAP

bp = Blueprint("recipient_caps", url_prefix="/api/v1")


def _view(request: Request) -> dict:
    caps = request.app.ctx.appliance.recipient_caps
    return {"default": caps.default,
            "departments": [{"department_id": d, "max_recipients": n}
                            for d, n in sorted(caps.departments.items())]}


@bp.route("/recipient-caps", methods=["GET", "HEAD"])
@require_scope("read")
async def list_caps(request: Request) -> JSONResponse:
    return json(_view(request))


def _department(department_id: int) -> int:
    if not 0 < department_id < 2**31:
        raise ApiError(404, "not_found", f"no department {department_id}")
    return department_id


@bp.put("/recipient-caps/<department_id:int>")
@require_scope("admin")
async def put_cap(request: Request, department_id: int) -> JSONResponse:
    department_id = _department(department_id)
    body = jb.json_object(request, {"max_recipients"})
    cap = body.get("max_recipients")
    if not isinstance(cap, int) or isinstance(cap, bool) or not 1 <= cap <= MAX_CAP:
        raise jb.bad("max_recipients", f"must be a whole number from 1 to {MAX_CAP}")
    appliance = request.app.ctx.appliance
    await appliance.recipient_caps.set_department(department_id, cap, appliance.dispatcher.now())
    return json({"department_id": department_id, "max_recipients": cap})


@bp.delete("/recipient-caps/<department_id:int>")
@require_scope("admin")
async def delete_cap(request: Request, department_id: int) -> JSONResponse:
    department_id = _department(department_id)
    if not await request.app.ctx.appliance.recipient_caps.clear_department(department_id):
        raise ApiError(404, "not_found", f"department {department_id} has no cap of its own")
    return json({"department_id": department_id, "removed": True})
