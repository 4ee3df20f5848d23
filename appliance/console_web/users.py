"""Users, for administrators: who may log in, with which role; add one, change a user's role
or department, reset a password, disable or enable. (Departments themselves, API keys and
the rest of administration are part 2.)

Knows: the forms, and that a password an administrator sets is random, shown once, and must be
changed at the user's first login (accounts.manage).
Must not know: SQL or hashing (accounts.manage, store.accounts).
"""

from __future__ import annotations

import asyncio

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from appliance.accounts import manage
from appliance.accounts.passwords import random_password
from appliance.accounts.roles import ROLES
from appliance.console_web.audited import console_actor
from appliance.console_web.guard import page
from appliance.console_web.render import render, text
from appliance.store import accounts as accounts_store
from appliance.store.accounts import AccountError

bp = Blueprint("console_users", url_prefix="/console")


async def _page(request: Request, *, status: int = 200, errors: dict | None = None,
                shown: tuple[str, str] | None = None, form: dict | None = None,
                done: str = "") -> HTTPResponse:
    store = request.app.ctx.appliance.store
    users, departments = await store.read(lambda: (accounts_store.list_users(),
                                                   accounts_store.list_departments()))
    return render(request, "users.html", status=status, users=users, roles=ROLES,
                  departments=departments, errors=errors or {}, shown=shown, form=form or {},
                  done=done)


@bp.get("/users")
@page("admin")
async def users(request: Request) -> HTTPResponse:
    return await _page(request)


@bp.post("/users")
@page("admin")
async def add_user(request: Request) -> HTTPResponse:
    form = request.form or {}
    name = (form.get("name") or "").strip()
    role = form.get("role") or ""
    display_name = (form.get("display_name") or "").strip()
    department = form.get("department_id") or ""
    values = {"name": name, "role": role, "display_name": display_name,
              "department_id": department}
    try:
        department_id = int(department) if department else None
    except ValueError:
        return await _page(request, status=400, form=values, errors={
            "department_id": text(request, "Choose a department from the list.")})
    password = random_password()
    password_hash = await asyncio.to_thread(manage.prepare_password, name or "-", password)
    actor = console_actor(request)
    try:
        await request.app.ctx.appliance.store.write(lambda: manage.add_user(
            actor, name, role, password_hash, department_id=department_id,
            display_name=display_name))
    except AccountError as exc:
        return await _page(request, status=400, form=values,
                           errors={exc.field or "name": _account_error(request, exc)})
    return await _page(request, status=201, shown=(name, password))


def _account_error(request: Request, exc: AccountError) -> str:
    message = str(exc)
    if "UNIQUE" in message or "already" in message:
        return text(request, "A user of that name exists already.")
    if "last active admin" in message:
        return text(request, "This is the last active administrator: make another "
                             "administrator first.")
    # accounts.manage words its refusals for the API and the CLI (field names, "null"): the
    # console says the same in the user's language, naming the field as the form labels it.
    if exc.field == "name":
        return text(request, "A user name is 1 to 64 letters, digits or . _ @ - (no spaces).")
    if exc.field == "display_name":
        return text(request, "A name is at most 128 characters, without control characters.")
    if exc.field == "role":
        return text(request, "Choose a role from the list.")
    if exc.field == "department_id":
        return text(request, "Choose a department from the list.")
    return text(request, message[:1].upper() + message[1:] + ".")


async def _user(request: Request, user_id: int):
    return await request.app.ctx.appliance.store.read(lambda: accounts_store.get_user(user_id))


@bp.post("/users/<user_id:int>/reset")
@page("admin")
async def reset(request: Request, user_id: int) -> HTTPResponse:
    user = await _user(request, user_id)
    if user is None:
        return await _page(request, status=404, errors={"list": text(request, "No such user.")})
    password = random_password()
    password_hash = await asyncio.to_thread(manage.prepare_password, user.name, password)
    actor = console_actor(request)
    await request.app.ctx.appliance.store.write(
        lambda: manage.reset_password(actor, user_id, password_hash))
    return await _page(request, shown=(user.name, password))


@bp.post("/users/<user_id:int>/disabled")
@page("admin")
async def set_disabled(request: Request, user_id: int) -> HTTPResponse:
    disabled = (request.form or {}).get("disabled") == "1"
    actor = console_actor(request)
    if user_id == request.ctx.user.id and disabled:
        return await _page(request, status=400, errors={
            "list": text(request, "You cannot disable your own account.")})
    try:
        changed = await request.app.ctx.appliance.store.write(
            lambda: manage.change_user(actor, user_id, {"disabled": disabled}))
    except AccountError as exc:
        return await _page(request, status=exc.status,
                           errors={"list": _account_error(request, exc)})
    if changed is None:
        return await _page(request, status=404, errors={"list": text(request, "No such user.")})
    return await _page(request)


@bp.post("/users/<user_id:int>/role")
@page("admin")
async def set_role(request: Request, user_id: int) -> HTTPResponse:
    """A user's role and department (approval rules and quotas go by the department). Their
    sessions see it at their next request: the guard reads the user each time."""
    form = request.form or {}
    department = form.get("department_id") or ""
    try:
        department_id = int(department) if department else None
    except ValueError:
        return await _page(request, status=400, errors={
            "list": text(request, "Choose a department from the list.")})
    changes = {"role": form.get("role") or "", "department_id": department_id}
    actor = console_actor(request)
    try:
        changed = await request.app.ctx.appliance.store.write(
            lambda: manage.change_user(actor, user_id, changes))
    except AccountError as exc:
        return await _page(request, status=exc.status,
                           errors={"list": _account_error(request, exc)})
    if changed is None:
        return await _page(request, status=404, errors={"list": text(request, "No such user.")})
    return await _page(request, done=text(request, "Saved: {name} is now {role}.",
                                          name=changed.display_name or changed.name,
                                          role=text(request, changed.role)))
