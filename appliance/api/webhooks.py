"""`/api/v1/webhooks`: the webhook endpoints, their recent deliveries, a test delivery.

Knows: the JSON shapes of the webhooks API and which scope each route needs (reading: `read`;
changing, and test deliveries: `admin`), and whose endpoints a key may see.
Must not know: validation rules (store.webhooks checks URL, events, secret), delivery.

- `GET /api/v1/webhooks` → {"webhooks": [...]}, those the key may see (secrets are never
  shown again; `signed` says whether there is one);
- `POST /api/v1/webhooks` {url, events, secret?, description?, enabled?} → 201, with the
  secret (generated when not given): the only time it is shown;
- `GET /api/v1/webhooks/{id}` → the endpoint, its latest deliveries and counts by state;
- `PATCH /api/v1/webhooks/{id}` {any of url, events, secret, description, enabled} (secret:
  null generates a new one, shown in the answer);
- `DELETE /api/v1/webhooks/{id}` → 204; its pending deliveries go with it;
- `POST /api/v1/webhooks/{id}/test` → 202 {"delivery": id}: a `webhook.test` event.

A key sees only the endpoints it registered (through the Android API's /webhooks: they hear
that key's messages only); GET of another's answers 404, exactly as for an endpoint that does
not exist (ownership is part of the query, as for messages). A key with the `admin` scope sees
every endpoint, including those made here (admin only), which hear every key's messages: their
recent deliveries show other keys' message ids, recipients and client_refs.

`/webhooks` without /api/v1 is the SMS Gateway for Android API (issue 9), not this one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, JSONResponse, empty, json

from appliance.api.auth import Caller, require_scope
from appliance.api.errors import ApiError
from appliance.store import webhooks as q
from appliance.store.db import utcnow

bp = Blueprint("webhooks", url_prefix="/api/v1")

CREATE_FIELDS = {"url", "events", "secret", "description", "enabled"}
MAX_ID = 2**63 - 1


def _body(request: Request, known: set[str]) -> dict[str, Any]:
    try:
        body = request.json
    except Exception:
        raise ApiError(400, "invalid_json", "the request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_json", "the request body must be a JSON object "
                       '(e.g. {"url": "http://10.0.0.5/hook", "events": ["sms.received"]})')
    unknown = sorted(set(body) - known)
    if unknown:
        raise ApiError(400, "invalid_field", f"unknown field {unknown[0]!r} "
                       f"(known: {', '.join(sorted(known))})", field=unknown[0])
    return body


def _view(data: dict[str, Any]) -> dict[str, Any]:
    """Datetimes as ISO 8601 text, recursively through deliveries."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            value = [_view(v) for v in value]
        out[key] = value
    return out


def _invalid(exc: q.WebhookInvalid) -> ApiError:
    return ApiError(400, "invalid_field", str(exc), field=exc.field)


def _not_found(webhook_id: int) -> ApiError:
    return ApiError(404, "not_found", f"no webhook with id {webhook_id}")


def _appliance(request: Request):
    return request.app.ctx.appliance


def _clock(request: Request) -> datetime:
    clock = _appliance(request).clock
    return clock() if clock is not None else utcnow()


def _owner(caller: Caller) -> int | None:
    """The key whose endpoints the caller may see; None: every one (admin)."""
    return None if "admin" in caller.scopes else caller.key_id


@bp.route("/webhooks", methods=["GET", "HEAD"])
@require_scope("read")
async def list_webhooks(request: Request) -> JSONResponse:
    owner = _owner(request.ctx.caller)
    rows = await _appliance(request).store.read(lambda: q.list_endpoints(owner))
    return json({"webhooks": [_view(r) for r in rows], "events": list(q.EVENTS)})


@bp.post("/webhooks")
@require_scope("admin")
async def create_webhook(request: Request) -> JSONResponse:
    body = _body(request, CREATE_FIELDS)
    if "url" not in body:
        raise ApiError(400, "invalid_field", "url: required", field="url")
    if "events" not in body:
        raise ApiError(400, "invalid_field", "events: required", field="events")
    now = _clock(request)
    try:
        created = await _appliance(request).store.write(lambda: q.create_endpoint(
            body["url"], body["events"], now, secret=body.get("secret"),
            description=body.get("description", ""), enabled=body.get("enabled", True)))
    except q.WebhookInvalid as exc:
        raise _invalid(exc) from None
    if _appliance(request).webhooks is not None:
        _appliance(request).webhooks.wake()  # perhaps the first one enabled: events matter now
    return json(_view(created), status=201)


async def _one(request: Request, webhook_id: int) -> dict[str, Any]:
    """The endpoint, if it exists and the caller may see it; else 404 (one query, the same 404
    either way)."""
    if not 0 < webhook_id <= MAX_ID:
        raise _not_found(webhook_id)
    owner = _owner(request.ctx.caller)
    try:
        return await _appliance(request).store.read(
            lambda: q.get_endpoint(webhook_id, owner=owner))
    except q.WebhookNotFound:
        raise _not_found(webhook_id) from None


@bp.route("/webhooks/<webhook_id:int>", methods=["GET", "HEAD"])
@require_scope("read")
async def get_webhook(request: Request, webhook_id: int) -> JSONResponse:
    return json(_view(await _one(request, webhook_id)))


@bp.patch("/webhooks/<webhook_id:int>")
@require_scope("admin")
async def patch_webhook(request: Request, webhook_id: int) -> JSONResponse:
    body = _body(request, CREATE_FIELDS)
    if not 0 < webhook_id <= MAX_ID:
        raise _not_found(webhook_id)
    now = _clock(request)
    appliance = _appliance(request)
    try:
        changed = await appliance.store.write(lambda: q.update_endpoint(webhook_id, body, now))
    except q.WebhookNotFound:
        raise _not_found(webhook_id) from None
    except q.WebhookInvalid as exc:
        raise _invalid(exc) from None
    if appliance.webhooks is not None:
        appliance.webhooks.wake()  # re-enabled, or a new URL: its backlog may go now
    return json(_view(changed))


@bp.delete("/webhooks/<webhook_id:int>")
@require_scope("admin")
async def delete_webhook(request: Request, webhook_id: int) -> HTTPResponse:
    if not 0 < webhook_id <= MAX_ID:
        raise _not_found(webhook_id)
    appliance = _appliance(request)
    try:
        await appliance.store.write(lambda: q.delete_endpoint(webhook_id))
    except q.WebhookNotFound:
        raise _not_found(webhook_id) from None
    if appliance.webhooks is not None:
        appliance.webhooks.wake()  # its rows already fetched must not go
    return empty(status=204)


@bp.post("/webhooks/<webhook_id:int>/test")
@require_scope("admin")
async def test_webhook(request: Request, webhook_id: int) -> JSONResponse:
    if not 0 < webhook_id <= MAX_ID:
        raise _not_found(webhook_id)
    deliverer = _appliance(request).webhooks
    if deliverer is None:
        raise ApiError(503, "unavailable", "the appliance is not running")
    try:
        delivery_id = await deliverer.enqueue_test(webhook_id)
    except q.WebhookNotFound:
        raise _not_found(webhook_id) from None
    return json({"delivery": delivery_id, "event": q.TEST_EVENT}, status=202)
