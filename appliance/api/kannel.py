"""Kannel's `GET|POST /cgi-bin/sendsms`, for devices set up for a Kannel smsbox.

Knows: how Kannel's sendsms answers (status, body text with no trailing newline, `Content-Type:
text/html`), where its parameters come from (the query string, a form body urlencoded or
multipart), and how a Kannel user maps onto ours: `username` is an API key's name and
`password` the key itself, with the `send` scope.
Must not know: parameter semantics (compat.kannel_request), validation (intake), SQL, modems.

A thin translation: every message goes through intake's `submit_request`, like the JSON API's.
Failed key checks count against the client's address in the same FailureThrottle/AddressGate
as the JSON API; what the JSON API answers 401 is Kannel's `403 Authorization failed for
sendsms`, and what it answers 429/503 (throttled, too many checks) is Kannel's `503 Temporal
failure, try again later.` with Retry-After.

Answers: `202 0: Accepted for delivery`, or `202 3: Queued for later delivery` when `deferred`
puts the message in the future or no modem is ready to send now. Receivers that are not phone
numbers are left out, as Kannel denies them, and named in an `X-Denied-Receivers` header (the
body stays byte for byte Kannel's: playSMS compares it); when none is left it is Kannel's
`400 Number(s) has/have been denied by white- and/or black-lists.`. `from` is recorded with
the message (it renders %P in reports) but not sent: a SIM sends with its own number.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from appliance.api import forms
from appliance.api.auth import (
    Caller,
    authenticate_key,
    client_address,
    note_use,
    origin_of,
)
from appliance.api.errors import ApiError
from appliance.compat import kannel_request as kr
from appliance.dispatch.intake import (
    MAX_SCHEDULE_AHEAD,
    MAX_TTL,
    THREAD_RECIPIENTS,
    AllRecipientsBlocked,
    InvalidRequest,
    PolicyRefused,
    SendRequest,
    submit_request,
)
from appliance.dispatch.phone import InvalidNumber, normalize_number
from appliance.store.kannel import KannelFields, sim_named

log = logging.getLogger(__name__)

bp = Blueprint("kannel")

def reply(status: int, text: str, headers: dict[str, str] | None = None) -> HTTPResponse:
    """Kannel's answer: the text as is (no newline), as text/html."""
    return HTTPResponse(text.encode("utf-8"), status=status, headers=headers,
                        content_type="text/html")


def _params(request: Request) -> dict[str, bytes]:
    try:
        return kr.parse_pairs(*forms.sources(request))
    except forms.UnreadableForm:
        # Kannel's POST interface with X-Kannel-* headers (text/plain, text/xml) is not
        # offered; a multipart body without a boundary is Kannel's refusal too.
        raise kr.Refusal(400, kr.INVALID_CONTENT_TYPE) from None


async def _caller(request: Request, params: dict[str, bytes]) -> Caller:
    """The API key named `username` whose plaintext is `password`, with the send scope."""
    appliance = request.app.ctx.appliance
    throttle = appliance.auth_throttle
    client = client_address(request)
    user, password = kr.credentials(params)
    if not user or not password:
        wait = throttle.retry_after(client)
        if wait:
            raise kr.Refusal(503, kr.TEMPORAL, retry_after=wait)
        throttle.failed(client)
        raise kr.Refusal(403, kr.AUTH_FAILED)
    try:
        caller = await authenticate_key(request, password)
    except ApiError as exc:
        if exc.status in (401, 403):  # a bad key, or a key used from outside its networks
            raise kr.Refusal(403, kr.AUTH_FAILED) from None
        raise kr.Refusal(503, kr.TEMPORAL,
                         retry_after=int(exc.headers.get("Retry-After", 1))) from None
    if caller.name != user:
        throttle.failed(client)  # a valid key under another name is a failed attempt too
        raise kr.Refusal(403, kr.AUTH_FAILED)
    if "send" not in caller.scopes and "admin" not in caller.scopes:
        raise kr.Refusal(403, kr.AUTH_FAILED)
    note_use(request, caller)
    return caller


def _receivers(numbers: list[str]) -> tuple[list[str], list[str]]:
    """(allowed as E.164 without repeats, denied as given)."""
    allowed: dict[str, None] = {}
    denied = []
    for raw in numbers:
        try:
            allowed.setdefault(normalize_number(raw), None)
        except InvalidNumber:
            denied.append(raw)
    return list(allowed), denied


@bp.route("/cgi-bin/sendsms", methods=["GET", "POST"])
async def sendsms(request: Request) -> HTTPResponse:
    try:
        return await _sendsms(request)
    except kr.Refusal as refusal:
        headers = {}
        if refusal.retry_after is not None:
            headers["Retry-After"] = str(max(1, refusal.retry_after))
        if refusal.denied:
            headers["X-Denied-Receivers"] = " ".join(refusal.denied)
        return reply(refusal.status, refusal.text, headers or None)


async def _sendsms(request: Request) -> HTTPResponse:
    appliance = request.app.ctx.appliance
    params = _params(request)
    caller = await _caller(request, params)
    send = kr.read_request(params)
    via_sim = None
    if send.smsc:
        via_sim = await appliance.store.read(lambda: sim_named(send.smsc))
        if via_sim is None:
            raise kr.Refusal(403, kr.NOT_ROUTABLE)
    if len(send.to) > THREAD_RECIPIENTS:  # ~30 µs a number: not on the event loop
        allowed, denied = await asyncio.to_thread(_receivers, send.to)
    else:
        allowed, denied = _receivers(send.to)
    if not allowed:
        raise kr.Refusal(400, kr.DENIED, denied=denied)
    # 0 minutes: expired before it is sent; beyond intake's bounds a time would not even add.
    if send.validity is not None and not 1 <= send.validity <= MAX_TTL / 60:
        raise kr.Refusal(400, kr.VALIDITY_MISFORMED)
    if send.deferred is not None and send.deferred > MAX_SCHEDULE_AHEAD.total_seconds() / 60:
        raise kr.Refusal(400, kr.DEFERRED_MISFORMED)
    dispatcher = appliance.dispatcher
    now = dispatcher.now()
    send_at = now + timedelta(minutes=send.deferred) if send.deferred else None
    ttl = None if send.validity is None else send.validity * 60.0
    category, priority = kr.our_priority(send.priority)
    fields = KannelFields(
        service=caller.name, sender=send.sender, account=send.account, smsc=send.smsc,
        charset=send.charset, coding=send.coding, mclass=send.mclass,
        udh=kr.hex_udh(send.udh), binfo=send.binfo,
        validity_at=None if ttl is None else (send_at or now) + timedelta(seconds=ttl),
        deferred_at=send_at, dlr_mask=send.dlr_mask or 0, dlr_url=send.dlr_url)
    submit = SendRequest(
        to=allowed, text=send.text, category=category, priority=priority, send_at=send_at,
        ttl=ttl, submitter_kind="api_key", submitter_id=str(caller.key_id), via_sim=via_sim,
        origin=origin_of(request, caller, "kannel"),
        force_ucs2=send.coding == 2, message_class=send.mclass,
        # A row only when there is something to keep: reports owed, or what the caller said
        # about itself (a monitoring script's plain request needs none).
        kannel=fields if (fields.dlr_mask and fields.dlr_url) or fields.sender
        or fields.account or fields.binfo else None)
    try:
        accepted = await submit_request(dispatcher, submit)
    except AllRecipientsBlocked as exc:
        raise kr.Refusal(400, kr.DENIED, denied=[*denied, *(n for n, _ in exc.rejected)]) \
            from None
    except PolicyRefused as exc:  # an enterprise rule: Kannel's "do not try again" status
        raise kr.Refusal(403, f"{exc.message} ({exc.code}), rejected") from None
    except InvalidRequest as exc:
        raise kr.Refusal(400, _refusal_text(exc)) from None
    except Exception:  # the store refused or failed: the caller should try again
        log.exception("Kannel sendsms: accepting failed")
        raise kr.Refusal(503, kr.TEMPORAL) from None
    if fields.dlr_mask and fields.dlr_url and appliance.kannel_reports is not None:
        appliance.kannel_reports.watch(accepted.ids)
    denied = [*denied, *(number for number, _ in accepted.rejected)]  # + the blacklisted
    headers = {"X-Denied-Receivers": " ".join(denied)} if denied else None
    pool = appliance.pool
    later = send_at is not None or pool is None or not pool.any_ready()
    return reply(202, kr.QUEUED if later else kr.ACCEPTED, headers)


def _refusal_text(exc: InvalidRequest) -> str:
    """Intake's refusal in Kannel's words where Kannel has them, else ours, naming it."""
    if exc.field == "send_at":
        return kr.DEFERRED_MISFORMED
    if exc.field == "ttl":
        return kr.VALIDITY_MISFORMED
    if exc.field == "to" and "at most" in exc.message:
        return f"Too many receivers ({exc.message}), rejected"
    if exc.field.startswith("to"):  # a number refused, or all of them on the blacklist
        return kr.DENIED
    return f"{exc.field.capitalize()} field misformed ({exc.message}), rejected"
