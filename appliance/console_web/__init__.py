"""The web console: server-rendered pages (Jinja2, web/templates), htmx, live by SSE.

Knows: which console modules exist (LANE_BLUEPRINTS: one line each) and how they are mounted
with the static files.
Must not know: what any page does.
"""

from __future__ import annotations

import importlib

from sanic import Sanic

from appliance.console_web.assets import STATIC_DIR

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
    "appliance.console_web.sse",
    "appliance.console_web.users",
    "appliance.console_web.contacts",
]


def install_console(app: Sanic) -> None:
    for module in LANE_BLUEPRINTS:
        app.blueprint(importlib.import_module(module).bp)
    # Assets change only with an upgrade: cached a day; the vendored files carry versions.
    app.static("/static", str(STATIC_DIR), name="console_static",
               use_content_range=False, stream_large_files=False)

    @app.on_response
    async def _console_headers(request, response) -> None:
        path = request.path
        if path.startswith("/static/"):
            if response.status == 200:
                response.headers["Cache-Control"] = "public, max-age=86400"
        elif path == "/" or path.startswith("/console"):
            for name, value in SECURITY_HEADERS.items():
                response.headers.setdefault(name, value)
