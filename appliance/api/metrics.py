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
        request.app.ctx.metrics.count_request(request.uri_template, request.method,
                                              response.status)
