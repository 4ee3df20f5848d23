"""`GET /api/v1/quotas`, `PUT /api/v1/quotas/{account}`, `GET /api/v1/ledger?account=`,
`POST /api/v1/ledger`: quotas and prepaid balances in message parts.

Knows: the JSON shapes of quotas and ledger rows; that the month shown is the dispatch time
zone's; who sees what: an admin key every account, another key with `read` only the accounts
of its own user and department (a key bound to neither: none); only an admin changes them.
Must not know: SQL (store.ledger), how a request is checked against them (policy.quota).

An account is `user:<id>` or `department:<id>`. A ledger row is only ever added: a topup, or
an adjustment (either sign) with a note; charges and refunds are the gateway's own.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sanic import Blueprint, Request
from sanic.response import JSONResponse, json

from appliance.api import jsonbody as jb
from appliance.api import query
from appliance.api.auth import origin_of, require_scope
from appliance.api.errors import ApiError
from appliance.api.jsonbody import iso
from appliance.policy.quota import month_bounds
from appliance.store import ledger
from appliance.store.ledger import LedgerInvalid

bp = Blueprint("quotas", url_prefix="/api/v1")

LIST_DEFAULT = 100
LIST_MAX = 1000


def _invalid(exc: LedgerInvalid) -> ApiError:
    return ApiError(400, "invalid_field", str(exc), field=exc.field)


def _month(request: Request) -> tuple[datetime, datetime]:
    dispatcher = request.app.ctx.appliance.dispatcher
    return month_bounds(dispatcher.now(), dispatcher.tz)


def _visible(request: Request) -> list[str] | None:
    """The accounts the caller may see: None for every one (admin)."""
    caller = request.ctx.caller
    if "admin" in caller.scopes:
        return None
    origin = origin_of(request, caller, "api")
    return [ledger.account_name(kind, n) for kind, n in (("user", origin.user_id),
                                                         ("department", origin.department_id))
            if n is not None]


@bp.route("/quotas", methods=["GET", "HEAD"])
@require_scope("read")
async def list_quotas(request: Request) -> JSONResponse:
    start, end = _month(request)
    among = _visible(request)
    rows = await request.app.ctx.appliance.store.read(
        lambda: ledger.list_figures(start, end, among))
    return json({"month_start": start.isoformat(), "quotas": [f.as_dict() for f in rows]})


@bp.put("/quotas/<account:str>")
@require_scope("admin")
async def put_quota(request: Request, account: str) -> JSONResponse:
    try:
        account = ledger.parse_account(account)
    except LedgerInvalid as exc:
        raise _invalid(exc) from None
    body = jb.json_object(request, {"monthly", "prepaid"})
    if "monthly" not in body:
        raise jb.bad("monthly", "is required: the monthly limit in parts, or null for none")
    prepaid = body.get("prepaid")
    if prepaid is not None and not isinstance(prepaid, bool):
        raise jb.bad("prepaid", "must be true or false")
    monthly = body["monthly"]
    store = request.app.ctx.appliance.store
    start, end = _month(request)
    try:
        fig = await store.write(lambda: (ledger.set_quota(account, monthly, prepaid),
                                         ledger.figures(account, start, end))[1])
    except LedgerInvalid as exc:
        raise _invalid(exc) from None
    return json(fig.as_dict())


def _row(row: dict[str, Any]) -> dict[str, Any]:
    return {k: iso(v) for k, v in row.items()}


@bp.route("/ledger", methods=["GET", "HEAD"])
@require_scope("read")
async def list_ledger(request: Request) -> JSONResponse:
    """Newest first; `account` (user:<id> / department:<id>), `before` a row id to page back.
    With an account, its balance (the sum of all its rows) too."""
    query.refuse_unknown(request, {"account", "before", "limit"})
    raw = query.one(request, "account")
    try:
        account = None if raw is None else ledger.parse_account(raw)
    except LedgerInvalid as exc:
        raise query.bad("account", exc.message) from None
    before = query.integer(request, "before", 1, query.MAX_ID)
    limit = query.integer(request, "limit", 1, LIST_MAX) or LIST_DEFAULT
    among = _visible(request)
    if account is not None and among is not None and account not in among:
        raise ApiError(404, "not_found", f"no account {account} of yours")

    def read() -> tuple[list[dict[str, Any]], int | None]:
        rows = ledger.entries(account, among=among, before=before, limit=limit)
        return rows, None if account is None else ledger.balance(account)

    rows, balance = await request.app.ctx.appliance.store.read(read)
    body = query.page("entries", rows, ascending=False, since=None, before=before, view=_row)
    if account is not None:
        body["account"], body["balance"] = account, balance
    return json(body)


@bp.post("/ledger")
@require_scope("admin")
async def post_ledger(request: Request) -> JSONResponse:
    """A topup (parts > 0) or an adjustment (either sign), recorded with who made it."""
    body = jb.json_object(request, {"account", "kind", "parts", "note"})
    try:
        account = ledger.parse_account(body.get("account"))
    except LedgerInvalid as exc:
        raise _invalid(exc) from None
    kind = body.get("kind", "topup")
    note = jb.text(body.get("note", ""), "note", limit=ledger.MAX_NOTE)
    parts = body.get("parts")
    actor = f"api key {request.ctx.caller.name}"
    try:
        row = await request.app.ctx.appliance.store.write(
            lambda: ledger.append(account, parts, kind, actor, note=note))
    except LedgerInvalid as exc:
        raise _invalid(exc) from None
    balance = await request.app.ctx.appliance.store.read(lambda: ledger.balance(account))
    return json({**_row(row), "balance": balance}, status=201)
