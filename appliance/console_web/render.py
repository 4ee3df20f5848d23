"""HTML out: Jinja2 templates from web/templates, with what every page needs.

Knows: the template environment (autoescape on for every template: text that came by SMS is
hostile and is only ever shown escaped), the globals a template may use, and the navigation
by role.
Must not know: what a page shows.

Template globals, per request: `_` (translate into the request's language, `{name}` fields
filled after), `lang`, `user`, `may(action)`, `csrf_token()`, `fmt_time(dt)` (the
appliance's local time zone), `nav` (the menu the user's role may use), `request`,
`appliance` (for read-only look-ups).
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sanic import Request
from sanic.response import HTTPResponse, html

from appliance.accounts.roles import may
from appliance.console_web.assets import TEMPLATES_DIR
from appliance.console_web.i18n import LANGS, translate
from appliance.console_web.reasons import intake_message, message_error

NAV: tuple[tuple[str, str, str], ...] = (
    # (href, English label, the action a role needs to see it); a page is under the entry
    # whose href starts its path (NAV_ALSO: other paths that belong to an entry)
    ("/console/dashboard", "Dashboard", "read"),
    ("/console/compose", "Compose", "send"),
    ("/console/campaigns", "Campaigns", "read"),
    ("/console/approvals", "Approvals", "approve"),
    ("/console/history", "History", "read"),
    ("/console/replies", "Replies", "read"),
    ("/console/contacts", "Contacts", "read"),
    ("/console/users", "Users", "admin"),
)


NAV_ALSO = {"/console/contacts": ("/console/groups",),
            "/console/compose": ("/console/schedules",)}


def nav_active(path: str, href: str) -> bool:
    return path.startswith(href) or path.startswith(NAV_ALSO.get(href, ("\0",)))


@cache
def environment() -> Environment:
    env = Environment(loader=FileSystemLoader(str(TEMPLATES_DIR)),
                      autoescape=select_autoescape(default=True, default_for_string=True),
                      trim_blocks=True, lstrip_blocks=True, auto_reload=False)
    return env


@cache
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def zone(request: Request) -> ZoneInfo:
    """The appliance's time zone (dispatch.timezone): what every time on a page is shown in."""
    return _zone(request.app.ctx.appliance.config.dispatch.timezone)


def local_time(request: Request, value: datetime | None, pattern: str = "%Y-%m-%d %H:%M:%S"
               ) -> str:
    """`value` in the appliance's time zone (dispatch.timezone); "" for None."""
    if value is None:
        return ""
    return value.astimezone(zone(request)).strftime(pattern)


def context(request: Request, **values: Any) -> dict[str, Any]:
    lang = getattr(request.ctx, "lang", "zh-CN")
    user = getattr(request.ctx, "user", None)

    def allowed(action: str) -> bool:
        return user is not None and may(user, action)

    out: dict[str, Any] = {
        "_": lambda text, **fields: translate(lang, text, **fields),
        "lang": lang,
        "langs": LANGS,
        "user": user,
        "may": allowed,
        "csrf_token": lambda: getattr(request.ctx, "csrf", ""),
        "fmt_time": lambda value, pattern="%Y-%m-%d %H:%M:%S": local_time(request, value,
                                                                          pattern),
        "nav": [(href, label, nav_active(request.path, href))
                for href, label, action in NAV if allowed(action)],
        "request": request,
        "appliance": request.app.ctx.appliance,
        "message_error": lambda reason: message_error(lang, reason),
        "intake_message": lambda message: intake_message(lang, message),
    }
    out.update(values)
    return out


def fragment(request: Request, template: str, status: int = 200,
             headers: dict[str, str] | None = None, **values: Any) -> HTTPResponse:
    """A template rendered alone (an htmx partial, or a page that extends the layout)."""
    body = environment().get_template(template).render(context(request, **values))
    out = html(body, status=status, headers=headers)
    out.headers.setdefault("Cache-Control", "no-store")
    return out


render = fragment
"""A page: the same call; a page's template extends base.html, a partial does not."""


def text(request: Request, english: str, **fields: Any) -> str:
    """`english` in the request's language (for flash messages and errors built in code)."""
    return translate(getattr(request.ctx, "lang", "zh-CN"), english, **fields)
