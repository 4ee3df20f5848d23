"""The door of every console page: logged in, password changed, role allowed, CSRF checked.

Knows: the order of the checks and what each refusal looks like (a redirect to the login page
for a browser, `HX-Redirect` for htmx, a 403 page naming what is missing).
Must not know: what a page does.

    @bp.get("/history")
    @page("read")
    async def history(request): ...

The action is one of accounts.roles.ACTIONS; `page(None)` only needs a live session (the
password-change page itself, which a user who must change their password may use).
"""

from __future__ import annotations

from functools import wraps
from urllib.parse import quote

from sanic import Request
from sanic.response import HTTPResponse, redirect

from appliance.accounts.roles import ACTIONS, may
from appliance.console_web.render import render, text
from appliance.console_web.session import SAFE_METHODS, csrf_ok, load_session

LOGIN_PATH = "/console/login"
PASSWORD_PATH = "/console/password"


def _to(request: Request, path: str) -> HTTPResponse:
    if request.headers.get("HX-Request"):
        return HTTPResponse(status=204, headers={"HX-Redirect": path})
    return redirect(path)


def forbidden(request: Request, reason: str) -> HTTPResponse:
    return render(request, "forbidden.html", status=403, reason=reason)


def login_redirect(request: Request) -> HTTPResponse:
    target = request.path + (f"?{request.query_string}" if request.query_string else "")
    return _to(request, f"{LOGIN_PATH}?next={quote(target, safe='')}")


def page(action: str | None = "read"):
    if action is not None and action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")

    def decorate(handler):
        @wraps(handler)
        async def guarded(request: Request, *args, **kwargs):
            await load_session(request)
            user = request.ctx.user
            if user is None:
                if request.method in SAFE_METHODS:
                    return login_redirect(request)
                return forbidden(request, text(request, "Your session has ended: log in "
                                                        "again."))
            if request.method not in SAFE_METHODS and not csrf_ok(request):
                return forbidden(request, text(request, "The form is out of date or did not "
                                                        "come from this console (CSRF token "
                                                        "missing or wrong). Reload the page "
                                                        "and try again."))
            if action is not None and user.must_change_password:
                return _to(request, PASSWORD_PATH)
            if action is not None and not may(user, action):
                return forbidden(request, text(request, "Your role ({role}) may not use this "
                                                        "page.", role=user.role))
            return await handler(request, *args, **kwargs)

        guarded.__wrapped__ = handler
        return guarded

    return decorate
