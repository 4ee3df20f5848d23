"""Log in, log out, change one's password, choose the language; `/` leads to the dashboard.

Knows: the forms and what each refusal says (a wrong name or password is one message whichever
was wrong; a lockout says how long).
Must not know: how passwords are checked or sessions stored (accounts.service).
"""

from __future__ import annotations

import re
from urllib.parse import quote

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, redirect

from appliance.accounts.passwords import PasswordRefused
from appliance.accounts.service import LoginRefused
from appliance.console_web.guard import PASSWORD_PATH, forbidden, page
from appliance.console_web.i18n import LANG_COOKIE, LANGS
from appliance.console_web.render import render, text
from appliance.console_web.session import (
    PRELOGIN_COOKIE,
    SESSION_COOKIE,
    clear_cookie,
    client_address,
    csrf_ok,
    load_session,
    remember_prelogin,
    set_cookie,
)

bp = Blueprint("console_auth")

HOME = "/console/dashboard"


def safe_next(target: str | None) -> str:
    """Only a path on this box (never //host or a scheme): an open redirect is a phishing aid."""
    if (not target or not target.startswith("/") or target.startswith("//")
            or "\\" in target or any(ord(c) < 32 for c in target)):
        return HOME
    return target


@bp.get("/")
async def root(request: Request) -> HTTPResponse:
    await load_session(request)
    return redirect(HOME if request.ctx.user is not None else "/console/login")


@bp.get("/console", strict_slashes=False)
async def console_root(request: Request) -> HTTPResponse:
    """/console typed by hand: as the box's address (it was a 404)."""
    return await root(request)


def _login_page(request: Request, *, status: int = 200, error: str = "", name: str = "",
                next_path: str = HOME) -> HTTPResponse:
    response = render(request, "login.html", status=status, error=error, name=name,
                      next_path=next_path)
    remember_prelogin(request, response)
    return response


@bp.get("/console/login")
async def login_form(request: Request) -> HTTPResponse:
    await load_session(request)
    next_path = safe_next(request.args.get("next"))
    if request.ctx.user is not None:
        return redirect(next_path)
    return _login_page(request, next_path=next_path)


@bp.post("/console/login")
async def login(request: Request) -> HTTPResponse:
    await load_session(request)
    form = request.form or {}
    name = (form.get("name") or "").strip()
    password = form.get("password") or ""
    next_path = safe_next(form.get("next"))
    if not csrf_ok(request):
        return _login_page(request, status=403, name=name, next_path=next_path,
                           error=text(request, "The login form had expired: please try "
                                               "again."))
    if not name or not password:
        return _login_page(request, status=400, name=name, next_path=next_path,
                           error=text(request, "Enter your user name and password."))
    accounts = request.app.ctx.appliance.accounts
    address = client_address(request)
    try:
        user = await accounts.authenticate(name, password, address, door="console")
    except LoginRefused as refused:
        if refused.reason == "locked":
            message = text(request, "Too many failed attempts. Try again in {seconds} "
                                    "seconds.", seconds=refused.retry_after)
            status = 429
        elif refused.reason == "disabled":
            message = text(request, "This account is disabled. Ask an administrator.")
            status = 403
        else:
            message = text(request, "Wrong user name or password.")
            status = 401
        response = _login_page(request, status=status, name=name, next_path=next_path,
                               error=message)
        if refused.retry_after:
            response.headers["Retry-After"] = str(refused.retry_after)
        return response
    token = await accounts.create_session(user, address, door="console")
    target = PASSWORD_PATH if user.must_change_password else next_path
    response = redirect(target)
    set_cookie(request, response, SESSION_COOKIE, token)
    clear_cookie(request, response, PRELOGIN_COOKIE)
    return response


@bp.post("/console/logout")
@page(None)
async def logout(request: Request) -> HTTPResponse:
    await request.app.ctx.appliance.accounts.end_session(request.ctx.session_token)
    response = redirect("/console/login")
    clear_cookie(request, response, SESSION_COOKIE)
    return response


@bp.get("/console/password")
@page(None)
async def password_form(request: Request) -> HTTPResponse:
    return render(request, "password.html", errors={})


@bp.post("/console/password")
@page(None)
async def change_password(request: Request) -> HTTPResponse:
    form = request.form or {}
    current = form.get("current") or ""
    new = form.get("new") or ""
    repeat = form.get("repeat") or ""
    errors: dict[str, str] = {}
    if not current:
        errors["current"] = text(request, "Enter your current password.")
    if not new:
        errors["new"] = text(request, "Choose a new password.")
    elif new != repeat:
        errors["repeat"] = text(request, "The two new passwords differ.")
    if errors:
        return render(request, "password.html", status=400, errors=errors)
    accounts = request.app.ctx.appliance.accounts
    address = client_address(request)
    try:
        user = await accounts.change_password(request.ctx.user, current, new,
                                              address=address, door="console")
    except PasswordRefused as refused:
        reason = str(refused)
        field = "current" if "current password" in reason else "new"
        return render(request, "password.html", status=400,
                      errors={field: password_message(request, reason)})
    # The change ended every session of the user (a stolen one too): this browser gets a new.
    token = await accounts.create_session(user, address, door="console")
    response = redirect(HOME + "?changed=1")
    set_cookie(request, response, SESSION_COOKIE, token)
    return response


def password_message(request: Request, reason: str) -> str:
    """The password rules' English reason in the request's language (the length in "at least
    N characters" is a field, so the Chinese can place it)."""
    match = re.match(r"the password must be at least (\d+) characters", reason)
    if match:
        return text(request, "The password must be at least {n} characters long.",
                    n=match.group(1))
    match = re.match(r"the password must be at most (\d+) characters", reason)
    if match:
        return text(request, "The password must be at most {n} characters long.",
                    n=match.group(1))
    return text(request, reason[:1].upper() + reason[1:] + ".")


@bp.get("/console/lang/<lang>")
async def choose_language(request: Request, lang: str) -> HTTPResponse:
    """The switcher: a preference, not a change of state (a GET is safe), kept a year."""
    await load_session(request)
    if lang not in LANGS:
        return forbidden(request, text(request, "Unknown language."))
    response = redirect(safe_next(request.args.get("next")))
    set_cookie(request, response, LANG_COOKIE, lang, max_age=365 * 86400)
    return response


def login_url(path: str) -> str:
    return f"/console/login?next={quote(path, safe='')}"
