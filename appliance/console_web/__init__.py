"""The web console: server-rendered pages (Jinja2, web/templates), htmx, live by SSE.

Knows: which console modules exist (LANE_BLUEPRINTS: one line each) and how they are mounted
with the static files.
Must not know: what any page does.
"""

from __future__ import annotations

import asyncio
import importlib
import time
from typing import TYPE_CHECKING

from appliance.console_web.assets import STATIC_DIR

if TYPE_CHECKING:  # the package imports without sanic (the install test's bare venv)
    from sanic import Sanic

# Pages run only the box's own scripts (no inline script, no eval: htmx is configured with
# allowEval false), talk only to the box, and cannot be framed by another site.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'self'"),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}

LANE_BLUEPRINTS = [
    "appliance.console_web.auth_pages",
    "appliance.console_web.dash",
    "appliance.console_web.sse",
    "appliance.console_web.users",
    "appliance.console_web.compose",
    "appliance.console_web.campaigns",
    "appliance.console_web.history",
    "appliance.console_web.contacts",
]


def install_console(app: Sanic) -> None:
    from appliance.console_web.i18n import catalog
    from appliance.console_web.render import environment

    catalog()  # a few small files, read now rather than by the first request

    @app.after_server_start
    async def _compile_templates(app) -> None:
        # Compiled on a worker thread once the server is up (about 0.5 s of CPU here, more on
        # a Pi): neither the start-up nor the event loop waits for it; a page asked for
        # meanwhile compiles its own template (Jinja's cache is shared and locked).
        templates = environment()
        await asyncio.to_thread(
            lambda: [templates.get_template(name)
                     for name in templates.list_templates(extensions=("html",))])
    for module in LANE_BLUEPRINTS:
        app.blueprint(importlib.import_module(module).bp)
    # Assets change only with an upgrade: cached a day; the vendored files carry versions.
    app.static("/static", str(STATIC_DIR), name="console_static",
               use_content_range=False, stream_large_files=False)

    app.ctx.error_page = error_page
    app.ctx.console_streams = set()

    @app.before_server_stop
    async def _end_streams(app) -> None:
        from appliance.console_web.sse import end_streams

        end_streams(app)

    @app.on_request
    async def _console_clock(request) -> None:
        request.ctx.started = time.perf_counter()

    @app.on_response
    async def _console_headers(request, response) -> None:
        path = request.path
        if path.startswith("/static/"):
            if response.status == 200:
                response.headers["Cache-Control"] = "public, max-age=86400"
        elif path == "/" or path.startswith("/console"):
            for name, value in SECURITY_HEADERS.items():
                response.headers.setdefault(name, value)
            # The server's own time for the page (browser dev tools show it; the console
            # benchmark reads it): from the request's arrival to its response's headers.
            started = getattr(request.ctx, "started", None)
            if started is not None:
                elapsed = (time.perf_counter() - started) * 1000
                response.headers["Server-Timing"] = f"app;dur={elapsed:.2f}"


async def error_page(request, status: int, message: str):
    """An HTML page for an error on a console path (api.errors asks); None elsewhere."""
    if not (request.path == "/" or request.path.startswith("/console")):
        return None
    from appliance.console_web.render import render, text
    from appliance.console_web.session import load_session

    try:
        await load_session(request)
    except Exception:  # the store itself failing: the page still shows, without the user
        request.ctx.user = None
    # 405: an address a button posts to, opened as a page (a reload after the button, a
    # bookmark). Not a refusal of rights: the user needs to know to go back and press it.
    titles = {404: "Page not found", 405: "Not a page", 500: "Something went wrong"}
    reason = (text(request, "There is no page at {path}.", path=request.path) if status == 404
              else text(request, "This address is what a button sends its form to; it cannot "
                                 "be opened as a page. Go back to the page and use the "
                                 "button.") if status == 405
              else text(request, "The appliance could not complete this request; the "
                                 "problem is in its log.") if status >= 500 else message)
    return render(request, "error.html", status=status,
                  title=text(request, titles.get(status, "Error")), reason=reason)
