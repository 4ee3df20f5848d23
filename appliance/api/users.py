"""Users and departments over JSON (admin scope): `/api/v1/users`, `/api/v1/departments`.

Knows: the JSON shape of a user and a department, which fields a request may set, and that a
password given here (create, or a reset through PATCH) must be changed by the user at their
next login. Hashes are never part of an answer.
Must not know: SQL (store.accounts), password rules and hashing (accounts), lockout policy.

- `GET /users`, `POST /users` {"name", "role", "password", "display_name"?, "department_id"?}
  → 201; `GET /users/{id}`; `PATCH /users/{id}` {"display_name", "role", "department_id",
  "disabled", "must_change_password", "password"}; `POST /users/{id}/unlock` clears the
  user's lockout after failed logins.
- `GET /departments`, `POST /departments` {"name", "short_name"?} → 201,
  `GET|PATCH|DELETE /departments/{id}` (a department with users or keys: 409).
Every change and its audit entry are one transaction on the writer.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sanic import Blueprint, Request
from sanic.response import JSONResponse, json

from appliance.accounts import manage
from appliance.accounts.passwords import PasswordRefused
from appliance.api import jsonbody as jb
from appliance.api.audit_trail import api_actor
from appliance.api.auth import require_scope
from appliance.api.errors import ApiError
from appliance.api.query import MAX_ID
from appliance.store import accounts as accounts_store
from appliance.store.accounts import AccountError

bp = Blueprint("users", url_prefix="/api/v1")

USER_FIELDS = {"name", "role", "password", "display_name", "department_id"}
PATCH_FIELDS = {"display_name", "role", "department_id", "disabled", "must_change_password",
                "password"}
DEPARTMENT_FIELDS = {"name", "short_name"}


def user_json(user) -> dict[str, Any]:
    return {k: jb.iso(v) for k, v in manage.user_view(user).items()}


def department_json(department: dict[str, Any]) -> dict[str, Any]:
    return {k: jb.iso(v) for k, v in department.items()}


def _refused(exc: AccountError) -> ApiError:
    code = "conflict" if exc.status == 409 else "invalid_field"
    return ApiError(exc.status, code, str(exc), field=exc.field or "body")


async def _write(request: Request, fn):
    try:
        return await request.app.ctx.appliance.store.write(fn)
    except AccountError as exc:
        raise _refused(exc) from None


async def _hash(request: Request, name: str, password: Any) -> str:
    if not isinstance(password, str):
        raise jb.bad("password", "must be a string")
    minimum = request.app.ctx.appliance.config.accounts.min_password_length
    try:
        return await asyncio.to_thread(manage.prepare_password, name, password, minimum)
    except PasswordRefused as exc:
        raise jb.bad("password", str(exc)) from None


def _known(value: int, what: str) -> int:
    """A path id the database can hold (else no such thing: 404, not an overflow)."""
    if not 0 < value <= MAX_ID:
        raise ApiError(404, "not_found", f"no {what} with id {value}")
    return value


def _department_id(value: Any) -> int | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                              or not 0 < value <= MAX_ID):
        raise jb.bad("department_id", "must be a department's id or null")
    return value


@bp.route("/users", methods=["GET", "HEAD"])
@require_scope("admin")
async def list_users(request: Request) -> JSONResponse:
    users = await request.app.ctx.appliance.store.read(accounts_store.list_users)
    return json({"users": [user_json(u) for u in users]})


@bp.post("/users")
@require_scope("admin")
async def create_user(request: Request) -> JSONResponse:
    body = jb.json_object(request, USER_FIELDS)
    for name in ("name", "role", "password"):
        if name not in body:
            raise jb.bad(name, "is required")
    name = jb.text(body["name"], "name", limit=64, required=True)
    try:
        manage.check_user_name(name)
    except AccountError as exc:
        raise _refused(exc) from None
    role = jb.text(body["role"], "role", limit=16, required=True)
    display = jb.text(body.get("display_name", ""), "display_name", limit=128)
    department = _department_id(body.get("department_id"))
    hashed = await _hash(request, name, body["password"])
    actor = api_actor(request)
    user = await _write(request, lambda: manage.add_user(
        actor, name, role, hashed, department_id=department, display_name=display))
    return json(user_json(user), status=201)


async def _user_or_404(request: Request, user_id: int):
    _known(user_id, "user")
    user = await request.app.ctx.appliance.store.read(lambda: accounts_store.get_user(user_id))
    if user is None:
        raise ApiError(404, "not_found", f"no user with id {user_id}")
    return user


@bp.route("/users/<user_id:int>", methods=["GET", "HEAD"])
@require_scope("admin")
async def get_user(request: Request, user_id: int) -> JSONResponse:
    _known(user_id, "user")
    return json(user_json(await _user_or_404(request, user_id)))


@bp.patch("/users/<user_id:int>")
@require_scope("admin")
async def change_user(request: Request, user_id: int) -> JSONResponse:
    _known(user_id, "user")
    body = jb.json_object(request, PATCH_FIELDS)
    if not body:
        raise ApiError(400, "invalid_field", f"nothing to change (fields: "
                       f"{', '.join(sorted(PATCH_FIELDS))})", field="body")
    user = await _user_or_404(request, user_id)
    hashed = await _hash(request, user.name, body.pop("password")) if "password" in body \
        else None
    if "department_id" in body:
        _department_id(body["department_id"])
    actor = api_actor(request)

    def change():
        changed = manage.change_user(actor, user_id, body) if body else user
        if hashed is not None:
            changed = manage.reset_password(actor, user_id, hashed)
        return changed

    changed = await _write(request, change)
    if changed is None:
        raise ApiError(404, "not_found", f"no user with id {user_id}")
    return json(user_json(changed))


@bp.post("/users/<user_id:int>/unlock")
@require_scope("admin")
async def unlock_user(request: Request, user_id: int) -> JSONResponse:
    _known(user_id, "user")
    actor = api_actor(request)
    user = await _write(request, lambda: manage.unlock_user(actor, user_id))
    if user is None:
        raise ApiError(404, "not_found", f"no user with id {user_id}")
    return json({"id": user.id, "name": user.name, "unlocked": True})


@bp.route("/departments", methods=["GET", "HEAD"])
@require_scope("admin")
async def list_departments(request: Request) -> JSONResponse:
    rows = await request.app.ctx.appliance.store.read(accounts_store.list_departments)
    return json({"departments": [department_json(d) for d in rows]})


@bp.post("/departments")
@require_scope("admin")
async def create_department(request: Request) -> JSONResponse:
    body = jb.json_object(request, DEPARTMENT_FIELDS)
    if "name" not in body:
        raise jb.bad("name", "is required")
    name = jb.text(body["name"], "name", limit=64, required=True)
    short = jb.text(body.get("short_name", ""), "short_name", limit=32)
    actor = api_actor(request)
    department = await _write(request, lambda: manage.add_department(actor, name, short))
    return json(department_json(department), status=201)


@bp.route("/departments/<department_id:int>", methods=["GET", "HEAD"])
@require_scope("admin")
async def get_department(request: Request, department_id: int) -> JSONResponse:
    _known(department_id, "department")
    row = await request.app.ctx.appliance.store.read(
        lambda: accounts_store.get_department(department_id))
    if row is None:
        raise ApiError(404, "not_found", f"no department with id {department_id}")
    return json(department_json(row))


@bp.patch("/departments/<department_id:int>")
@require_scope("admin")
async def change_department(request: Request, department_id: int) -> JSONResponse:
    _known(department_id, "department")
    body = jb.json_object(request, DEPARTMENT_FIELDS)
    changes = {k: jb.text(v, k, limit=64 if k == "name" else 32, required=k == "name")
               for k, v in body.items()}
    actor = api_actor(request)
    row = await _write(request, lambda: manage.change_department(actor, department_id, changes))
    if row is None:
        raise ApiError(404, "not_found", f"no department with id {department_id}")
    return json(department_json(row))


@bp.delete("/departments/<department_id:int>")
@require_scope("admin")
async def delete_department(request: Request, department_id: int) -> JSONResponse:
    _known(department_id, "department")
    actor = api_actor(request)
    if not await _write(request, lambda: manage.delete_department(actor, department_id)):
        raise ApiError(404, "not_found", f"no department with id {department_id}")
    return json({"deleted": department_id})
