"""Who is at the browser: the session cookie, the CSRF token, the language.

Knows: the cookie names and flags, how a CSRF token is tied to its session, and what a request
carries once `load_session` ran (`request.ctx.user`, `.lang`, `.csrf`, `.origin`).
Must not know: pages, roles (guard.py), or how sessions are stored (accounts.service).

Sessions are server-side (accounts.service: a random token, stored only as its SHA-256, idle
and absolute expiry). The cookie is HttpOnly and SameSite=Strict, and Secure when the request
came over HTTPS (the box serves plain HTTP on the LAN by default, where a Secure cookie would
never come back). The CSRF token is derived from the session token (SHA-256 over a fixed label
and the token): a page on another site can neither read the cookie nor compute the token.
Before login, the login form is protected the same way by a random `cg_prelogin` cookie that
the form must repeat.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from sanic import Request
from sanic.response import HTTPResponse

from appliance.console_web.i18n import LANG_COOKIE, choose_lang
from appliance.policy.origin import Origin

SESSION_COOKIE = "cg_session"
PRELOGIN_COOKIE = "cg_prelogin"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def csrf_for(secret: str) -> str:
    return hashlib.sha256(b"cardgate console csrf\0" + secret.encode()).hexdigest()[:40]


def client_address(request: Request) -> str:
    return request.remote_addr or request.ip or ""


async def load_session(request: Request) -> None:
    """Fill request.ctx: user (UserInfo or None), lang, csrf, origin. Idempotent."""
    if getattr(request.ctx, "session_loaded", False):
        return
    request.ctx.session_loaded = True
    request.ctx.lang = choose_lang(request.cookies.get(LANG_COOKIE),
                                   request.headers.get("accept-language"))
    token = request.cookies.get(SESSION_COOKIE) or ""
    accounts = request.app.ctx.appliance.accounts
    user = await accounts.session_user(token) if token and accounts is not None else None
    request.ctx.user = user
    request.ctx.session_token = token if user is not None else ""
    if user is not None:
        request.ctx.csrf = csrf_for(token)
        request.ctx.origin = Origin(door="console", address=client_address(request),
                                    user_id=user.id, department_id=user.department_id,
                                    role=user.role)
    else:
        prelogin = request.cookies.get(PRELOGIN_COOKIE) or ""
        request.ctx.new_prelogin = "" if len(prelogin) >= 32 else secrets.token_urlsafe(32)
        request.ctx.csrf = csrf_for(prelogin or request.ctx.new_prelogin)
        request.ctx.origin = None


def csrf_ok(request: Request) -> bool:
    """Whether a state-changing request repeats the CSRF token of its session (form field or
    header; htmx sends the header from the layout's meta tag)."""
    sent = request.headers.get(CSRF_HEADER, "")
    if not sent and request.content_type and (
            request.content_type.startswith("application/x-www-form-urlencoded")
            or request.content_type.startswith("multipart/form-data")):
        sent = (request.form.get(CSRF_FIELD) or "") if request.form else ""
    expected = getattr(request.ctx, "csrf", "")
    return bool(sent) and bool(expected) and hmac.compare_digest(sent, expected)


def _secure(request: Request) -> bool:
    return request.scheme == "https"


def set_cookie(request: Request, response: HTTPResponse, name: str, value: str, *,
               max_age: int | None = None, httponly: bool = True) -> None:
    response.add_cookie(name, value, path="/", httponly=httponly, samesite="Strict",
                        secure=_secure(request), max_age=max_age)


def clear_cookie(request: Request, response: HTTPResponse, name: str) -> None:
    response.add_cookie(name, "", path="/", httponly=True, samesite="Strict",
                        secure=_secure(request), max_age=0)


def remember_prelogin(request: Request, response: HTTPResponse) -> None:
    """Set the pre-login cookie the login form's CSRF token was computed from, if new."""
    new = getattr(request.ctx, "new_prelogin", "")
    if new:
        set_cookie(request, response, PRELOGIN_COOKIE, new, max_age=3600)
