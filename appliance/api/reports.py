"""Reports over JSON: `GET /api/v1/reports/number-quality` (scope read).

Knows: which store read and which report function each route is.
Must not know: SQL (store.number_quality), what makes a number valid (contacts.quality).

The report classifies every number of the book with phonenumbers (tens of µs each), so it
runs on a reader thread with the query, never on the event loop.
"""

from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import JSONResponse, json

from appliance.api.auth import require_scope
from appliance.contacts.quality import quality_report
from appliance.store import number_quality

bp = Blueprint("reports", url_prefix="/api/v1/reports")


@bp.route("/number-quality", methods=["GET", "HEAD"])
@require_scope("read")
async def number_quality_report(request: Request) -> JSONResponse:
    region = request.app.ctx.appliance.config.contacts.default_region

    def build() -> dict:
        return quality_report(number_quality.contacts_with_numbers(),
                              number_quality.groups_with_members(), region)

    return json(await request.app.ctx.appliance.store.read(build))
