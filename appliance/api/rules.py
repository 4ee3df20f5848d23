"""`/api/v1/rules`: the auto-answer rules (list, create, read, change, delete, reorder), the
log of automatic actions, and the dry run.

Knows: the JSON shapes and routes, and that every change is followed by the engine's reload.
Must not know: what a valid rule is (appliance.inbox.rules.definition says, naming the field),
storage (store.rules), matching.

Scopes: `read` for GET and the dry run (it sends and writes nothing), `admin` for changes.
A rule is changed inside one writer job (read, merge, validate, store), so two PATCHes at once
cannot undo each other.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sanic import Blueprint, Request
from sanic.response import JSONResponse, json

from appliance.api.auth import require_scope
from appliance.api.errors import ApiError
from appliance.api.jsonbody import iso
from appliance.inbox.rules.definition import RULE_FIELDS, RuleError, parse_rule
from appliance.store import rules as rules_store

bp = Blueprint("rules", url_prefix="/api/v1")

MAX_ID = 2**63 - 1
LOG_PARAMS = {"limit", "before", "number", "rule_id", "inbox_id"}
DRY_RUN_FIELDS = {"sender", "text", "sim", "at"}
MAX_DRY_TEXT = 5000


def _bad(field: str, message: str) -> ApiError:
    return ApiError(400, "invalid_field", f"{field}: {message}", field=field)


def _body(request: Request) -> dict[str, Any]:
    try:
        body = request.json
    except Exception:
        raise ApiError(400, "invalid_json", "the request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_json", "the request body must be a JSON object")
    return body


def rule_view(rule: dict[str, Any]) -> dict[str, Any]:
    return {k: iso(v) for k, v in rule.items()}


def _position(body: dict[str, Any]) -> int | None:
    position = body.pop("position", None)
    if position is not None and (not isinstance(position, int) or isinstance(position, bool)
                                 or not 1 <= position <= rules_store.MAX_RULES):
        raise _bad("position", f"must be a whole number from 1 to {rules_store.MAX_RULES}")
    return position


def _engine(request: Request):  # noqa: ANN202 - RulesEngine
    engine = request.app.ctx.appliance.rules
    if engine is None:
        raise ApiError(503, "unavailable", "the rules engine is not running")
    return engine


def _not_found(rule_id: int) -> ApiError:
    return ApiError(404, "not_found", f"no rule with id {rule_id}")


async def _change(request: Request, job) -> dict[str, Any]:  # noqa: ANN001
    """Run a change in the writer; RuleError → 400 naming the field; then reload the engine."""
    engine = _engine(request)
    try:
        result = await request.app.ctx.appliance.store.write(job)
    except RuleError as exc:
        raise _bad(exc.field, exc.message) from None
    except rules_store.RuleNotFound as exc:
        raise _not_found(exc.rule_id) from None
    except rules_store.TooManyRules as exc:
        raise ApiError(409, "too_many_rules", str(exc)) from None
    except rules_store.BadOrder as exc:
        raise _bad("ids", str(exc)) from None
    await engine.reload()
    return result


@bp.route("/rules", methods=["GET", "HEAD"])
@require_scope("read")
async def list_rules(request: Request) -> JSONResponse:
    engine = _engine(request)
    rows = await request.app.ctx.appliance.store.read(rules_store.list_rules)
    return json({"rules": [rule_view(r) for r in rows],
                 "broken": [{"id": k, "error": v} for k, v in sorted(engine.broken.items())]})


@bp.post("/rules")
@require_scope("admin")
async def create_rule(request: Request) -> JSONResponse:
    body = _body(request)
    position = _position(body)
    parsed = _parse(body)
    rule = await _change(request, lambda: rules_store.create_rule(parsed.fields, position))
    return json(rule_view(rule), status=201)


def _parse(data: dict[str, Any]):  # noqa: ANN202 - ParsedRule
    try:
        return parse_rule(data)
    except RuleError as exc:
        raise _bad(exc.field, exc.message) from None


def _check_id(rule_id: int) -> None:
    if not 0 < rule_id <= MAX_ID:
        raise _not_found(rule_id)


@bp.route("/rules/<rule_id:int>", methods=["GET", "HEAD"])
@require_scope("read")
async def get_rule(request: Request, rule_id: int) -> JSONResponse:
    _check_id(rule_id)
    try:
        rule = await request.app.ctx.appliance.store.read(lambda: rules_store.get_rule(rule_id))
    except rules_store.RuleNotFound:
        raise _not_found(rule_id) from None
    return json(rule_view(rule))


async def _update(request: Request, rule_id: int, *, partial: bool) -> JSONResponse:
    _check_id(rule_id)
    body = _body(request)
    position = _position(body)
    if not partial:
        _parse(body)  # a whole rule: refused before the writer is asked

    def job() -> dict[str, Any]:
        data = dict(body)
        if partial:
            stored = rules_store.get_rule(rule_id)
            data = {k: stored[k] for k in RULE_FIELDS} | body
        return rules_store.update_rule(rule_id, parse_rule(data).fields, position)

    return json(rule_view(await _change(request, job)))


@bp.put("/rules/<rule_id:int>")
@require_scope("admin")
async def put_rule(request: Request, rule_id: int) -> JSONResponse:
    return await _update(request, rule_id, partial=False)


@bp.patch("/rules/<rule_id:int>")
@require_scope("admin")
async def patch_rule(request: Request, rule_id: int) -> JSONResponse:
    return await _update(request, rule_id, partial=True)


@bp.delete("/rules/<rule_id:int>")
@require_scope("admin")
async def delete_rule(request: Request, rule_id: int) -> JSONResponse:
    _check_id(rule_id)
    await _change(request, lambda: rules_store.delete_rule(rule_id))
    return json({"deleted": rule_id})


@bp.post("/rules/order")
@require_scope("admin")
async def reorder(request: Request) -> JSONResponse:
    body = _body(request)
    ids = body.get("ids")
    unknown = sorted(set(body) - {"ids"})
    if unknown:
        raise _bad(unknown[0], "unknown field")
    if not isinstance(ids, list) or not all(
            isinstance(i, int) and not isinstance(i, bool) for i in ids):
        raise _bad("ids", "must be the list of every rule id, in the new order")
    rows = await _change(request, lambda: rules_store.reorder(ids))
    return json({"rules": [rule_view(r) for r in rows]})


def _param_int(request: Request, name: str) -> int | None:
    values = request.args.getlist(name)
    if not values:
        return None
    raw = values[0]
    if len(values) > 1 or not raw.isascii() or not raw.isdigit() or len(raw) > 19 \
            or not 0 < int(raw) <= MAX_ID:
        raise ApiError(400, "invalid_parameter", f"{name}: must be a positive whole number",
                       field=name)
    return int(raw)


@bp.route("/rules/log", methods=["GET", "HEAD"])
@require_scope("read")
async def action_log(request: Request) -> JSONResponse:
    unknown = sorted(set(request.args) - LOG_PARAMS)
    if unknown:
        raise ApiError(400, "invalid_parameter", f"{unknown[0]}: unknown parameter",
                       field=unknown[0])
    limit = _param_int(request, "limit") or 100
    if limit > rules_store.MAX_LOG_PAGE:
        raise ApiError(400, "invalid_parameter",
                       f"limit: at most {rules_store.MAX_LOG_PAGE}", field="limit")
    before, rule_id = _param_int(request, "before"), _param_int(request, "rule_id")
    inbox_id = _param_int(request, "inbox_id")
    number = request.args.get("number")
    if number is not None and len(number) > 32:
        raise ApiError(400, "invalid_parameter", "number: too long", field="number")
    rows = await request.app.ctx.appliance.store.read(lambda: rules_store.list_log(
        limit=limit, before=before, number=number, rule_id=rule_id, inbox_id=inbox_id))
    return json({"entries": [rule_view(r) for r in rows],
                 "next_before": rows[-1]["id"] if len(rows) == limit else None})


@bp.post("/rules/dry-run")
@require_scope("read")
async def dry_run(request: Request) -> JSONResponse:
    engine = _engine(request)
    body = _body(request)
    unknown = sorted(set(body) - DRY_RUN_FIELDS)
    if unknown:
        raise _bad(unknown[0], "unknown field")
    sender, text, sim = body.get("sender"), body.get("text"), body.get("sim", "")
    if not isinstance(sender, str) or not sender.strip() or len(sender) > 32:
        raise _bad("sender", "must be the sender's number or name (at most 32 characters)")
    if not sender.isascii():  # a lone surrogate (JSON "\ud800") cannot be looked up as UTF-8
        try:
            sender.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise _bad("sender", f"is not valid Unicode at position {exc.start}") from None
    if not isinstance(text, str) or len(text) > MAX_DRY_TEXT:
        raise _bad("text", f"must be a string of at most {MAX_DRY_TEXT} characters")
    if not isinstance(sim, str) or len(sim) > 22:
        raise _bad("sim", "must be a SIM's ICCID")
    at = body.get("at")
    if at is not None:
        if not isinstance(at, str) or len(at) > 64:
            raise _bad("at", "must be an ISO 8601 time")
        try:
            at = datetime.fromisoformat(at.replace("Z", "+00:00"))
        except (ValueError, OverflowError):
            raise _bad("at", f"not an ISO 8601 time: {at!r}") from None
        if at.tzinfo is None:
            raise _bad("at", "must carry a time zone (e.g. 2026-12-07T09:30+08:00)")
        at = at.astimezone(UTC)
    return json(await engine.dry_run(sender, text, sim, at))
