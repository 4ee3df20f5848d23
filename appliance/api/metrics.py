"""`GET /metrics` (Prometheus text format) and the HTTP request counter behind it.

Knows: the route, its auth (a key with the "read" scope, as Bearer, unless `[api]
metrics_public`), and where the request counter sits in sanic (a response middleware, so
error answers count too). Must not know: SQL (`store.metrics`), metric names (`appliance.metrics`).
"""

from __future__ import annotations

from sanic import Blueprint, HTTPResponse, Request, Sanic
from sanic.response import raw

from appliance.api.auth import authorize
from appliance.dispatch.rates import RateLimits
from appliance.metrics import CONTENT_TYPE_LATEST, AppMetrics, live_figures, render
from appliance.store.metrics import read_figures

bp = Blueprint("metrics")


@bp.route("/metrics", methods=["GET", "HEAD"])
async def metrics(request: Request) -> HTTPResponse:
    appliance = request.app.ctx.appliance
    if not appliance.config.api.metrics_public:
        await authorize(request, "read")
    stored = await appliance.store.read(read_figures)  # a reader thread, not the event loop
    live = live_figures(appliance.pool.all() if appliance.pool else [], appliance.counters_for,
                        RateLimits.from_config(appliance.config.dispatch))
    return raw(render(stored, live, request.app.ctx.metrics), content_type=CONTENT_TYPE_LATEST)


def install_metrics(app: Sanic) -> None:
    """The /metrics route and the per-app request counter (app.ctx.metrics)."""
    app.ctx.metrics = AppMetrics()
    app.blueprint(bp)

    @app.on_response
    async def _count_request(request: Request, response: HTTPResponse) -> None:
        # The route's pattern, never the raw path: one series per route, not per URL asked.
        template = request.uri_template
        if template is None and response.status == 405:
            template = _route_of_path(request)
        request.app.ctx.metrics.count_request(template, request.method, response.status)


def _route_of_path(request: Request) -> str | None:
    """The pattern of the route a path belongs to, found with a method it allows: a 405 (a
    known path asked with another method) counts under its route, not as an unknown path."""
    router = request.app.router
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
        try:
            route, _, _ = router.get(request.path, method, request.headers.get("host"))
        except Exception:  # noqa: BLE001, S112 - sanic's NotFound/MethodNotAllowed: next
            continue
        return f"/{route.path}"  # as Request.uri_template writes it
    return None
