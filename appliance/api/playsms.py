"""playSMS webservices, `GET|POST /index.php?app=ws&op=pv|ds|ix|in`, for clients written
against a playSMS server.

Knows: where the parameters come from (the query string, a form body urlencoded or multipart),
how a playSMS user maps onto ours (`u` is an API key's name and `h` the key itself: playSMS's
username and webservices token), which scope each op needs (`pv` send; `ds`, `ix`, `in` read;
"admin" any), and that playSMS answers every request with HTTP 200 and the outcome in the body.
Must not know: parameter semantics and answer formats (compat.playsms_ws), validation
(intake), SQL (store.playsms), modems.

A thin translation, like the Kannel adapter: every message goes through intake's
`submit_request`, and failed key checks count in the same FailureThrottle/AddressGate as the
JSON API's. A request refused by that throttle gets playSMS's ERR 100 with HTTP 429 (or 503)
and Retry-After (playSMS has no code for "try later"); a key without the op's scope is ERR 100
too (playSMS's users have no scopes).

The mapping:
- `pv`: one queue code per request, kept as the messages' client_ref (store.playsms), 32 hex
  digits as playSMS 1.4.3's md5 (1.4.8 makes 64: a client's VARCHAR(32) would not hold one);
  `smslog_id` is our message id, a string as 1.4.3 and the documentation give it (1.4.8
  encodes an integer). A recipient on the
  blacklist is ERR 200 (playSMS's answer for its blacklist), one that is not a number (or a
  #group / @user, which we do not have) ERR 201, the others OK. A request refused as a whole
  (the text: too long, control characters; a `schedule` that is not a time; the store
  failing) is ERR 200. `from` is not sent: a SIM sends with its own number. `type=flash` is
  message class 0, `unicode=1` forces UCS2. Credit (103) is never refused: there is none.
- `ds`: this key's messages (whatever door they came through), newest first; `src` is the
  sending SIM's own number, `dt` the acceptance time and `update` the last change, both UTC.
  A message waiting for its `schedule` is "still in queue" as in playSMS: not listed, and a
  `queue` asked for whose messages all wait is ERR 401; a queue that exists but matches
  nothing with the other filters ERR 402; otherwise no row is ERR 400.
- `ix`: the inbox (every key with the read scope sees it all, as on the JSON API), complete
  messages only; `dst` the receiving SIM's own number (empty when not known).
- `in`: playSMS's "incoming" are received messages that a keyword feature handled. Ours are
  received messages that a rule (or the built-in unsubscribe) acted on, `kwd` being the first
  such rule's name.
- An op we do not serve is ERR 101, none at all ERR 102 (playSMS itself answers an unknown op
  with an empty body).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
import zoneinfo
from dataclasses import dataclass

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
from appliance.compat import playsms_ws as ws
from appliance.dispatch.intake import (
    THREAD_RECIPIENTS,
    AllRecipientsBlocked,
    InvalidRequest,
    PolicyRefused,
    SendRequest,
    submit_request,
)
from appliance.dispatch.phone import InvalidNumber, normalize_number
from appliance.inbox.handler import number_of
from appliance.store import playsms as store_playsms

log = logging.getLogger(__name__)

THREAD_TO_CHARS = 20_000  # a `to` longer than this is read on a thread (~0.25 s a megabyte)

bp = Blueprint("playsms")

SCOPES = {"pv": "send", "ds": "read", "ix": "read", "in": "read"}


@dataclass
class _Refused(Exception):
    code: str
    status: int = 200
    retry_after: int | None = None


def _params(request: Request) -> dict[str, str]:
    try:
        return ws.parse_params(*forms.sources(request))
    except forms.UnreadableForm:  # PHP fills $_POST only from the two form types
        return ws.parse_params(forms.query(request))


def _reply(body: dict, fmt: str, status: int = 200,
           headers: dict[str, str] | None = None) -> HTTPResponse:
    data, content_type = ws.render(body, fmt)
    return HTTPResponse(data, status=status, headers=headers, content_type=content_type)


@bp.route("/index.php", methods=["GET", "POST"])
async def webservices(request: Request) -> HTTPResponse:
    params = _params(request)
    fmt = ws.output_format(params)
    now = int(time.time())
    try:
        body = await _serve(request, params)
    except ws.WsError as exc:
        return _reply(ws.answer(error=exc.code, timestamp=now), fmt)
    except _Refused as refused:
        headers = None
        if refused.retry_after is not None:
            headers = {"Retry-After": str(max(1, refused.retry_after))}
        return _reply(ws.answer(error=refused.code, timestamp=now), fmt, refused.status, headers)
    except Exception:  # a bug: logged, and still answered in playSMS's words
        log.exception("playSMS webservices: %s failed", params.get("op", "")[:10])
        return _reply(ws.answer(error=ws.SEND_FAILED, timestamp=now), fmt, 500)
    return _reply(body, fmt)


async def _serve(request: Request, params: dict[str, str]) -> dict:
    if params.get("app", "").lower() != "ws":
        raise ws.WsError(ws.BAD_OP)  # index.php serves only the webservices here
    op = ws.operation(params)
    caller = await _caller(request, params)
    scope = SCOPES[op]
    if scope not in caller.scopes and "admin" not in caller.scopes:
        raise ws.WsError(ws.AUTH_FAILED)
    note_use(request, caller)
    if op == "pv":
        return await _pv(request, caller, params)
    query = ws.read_list(params)
    if op == "ds":
        return await _ds(request, caller, query)
    return await _received(request, op, query)


async def _caller(request: Request, params: dict[str, str]) -> Caller:
    """The API key named `u` whose plaintext is `h`."""
    throttle = request.app.ctx.appliance.auth_throttle
    client = client_address(request)
    user, key = params.get("u", ""), params.get("h", "")
    if not user or not key:
        wait = throttle.retry_after(client)
        if wait:
            raise _Refused(ws.AUTH_FAILED, 429, wait)
        throttle.failed(client)
        raise ws.WsError(ws.AUTH_FAILED)
    try:
        caller = await authenticate_key(request, key)
    except ApiError as exc:
        if exc.status in (401, 403):  # a bad key, or a key used from outside its networks
            raise ws.WsError(ws.AUTH_FAILED) from None
        raise _Refused(ws.AUTH_FAILED, exc.status,
                       int(exc.headers.get("Retry-After", 1))) from None
    if caller.name != user:
        throttle.failed(client)  # a valid key under another name is a failed attempt too
        raise ws.WsError(ws.AUTH_FAILED)
    return caller


def _number(given: str) -> str | None:
    try:
        return normalize_number(given)
    except InvalidNumber:
        return None


def _numbers(recipients: list[ws.Recipient]) -> list[str | None]:
    return [None if r.refused else _number(r.given) for r in recipients]


async def _pv(request: Request, caller: Caller, params: dict[str, str]) -> dict:
    appliance = request.app.ctx.appliance
    dispatcher = appliance.dispatcher
    zone = zoneinfo.ZoneInfo(appliance.config.dispatch.timezone)
    if len(params.get("to", "")) > THREAD_TO_CHARS:  # splitting a megabyte: off the loop
        pv = await asyncio.to_thread(ws.read_pv, params, zone, dispatcher.now())
    else:
        pv = ws.read_pv(params, zone, dispatcher.now())
    bound = dispatcher.config.max_recipients
    if len(pv.recipients) > bound:  # intake's bound, before ~30 µs a number
        raise ws.WsError(ws.SEND_FAILED)
    # Each item, in order: the normalised number to send to, or None (not a number).
    if len(pv.recipients) > THREAD_RECIPIENTS:  # not on the event loop
        numbers = await asyncio.to_thread(_numbers, pv.recipients)
    else:
        numbers = _numbers(pv.recipients)
    wanted = list(dict.fromkeys(n for n in numbers if n is not None))
    queue = secrets.token_hex(16)
    ids: dict[str, int] = {}
    blocked: set[str] = set()
    if wanted:
        submit = SendRequest(
            to=wanted, text=pv.text, send_at=pv.schedule, client_ref=store_playsms.queue_ref(queue),
            submitter_kind="api_key", submitter_id=str(caller.key_id),
            origin=origin_of(request, caller, "playsms"), force_ucs2=pv.force_ucs2,
            message_class=0 if pv.flash else None)
        try:
            accepted = await submit_request(dispatcher, submit)
        except AllRecipientsBlocked as exc:
            blocked = {number for number, _ in exc.rejected}
        except PolicyRefused as exc:  # playSMS has one word for a rule: credit, or failed
            log.info("playSMS pv refused by policy (%s): %s", exc.code, exc)
            raise ws.WsError(ws.NOT_ENOUGH_CREDIT if exc.code == "over_quota"
                             else ws.SEND_FAILED) from None
        except InvalidRequest as exc:
            log.info("playSMS pv refused: %s", exc)
            raise ws.WsError(ws.SEND_FAILED) from None
        except Exception:  # the store refused or failed
            log.exception("playSMS pv: accepting failed")
            raise ws.WsError(ws.SEND_FAILED) from None
        else:
            ids = dict(zip(accepted.recipients, accepted.ids, strict=True))
            blocked = {number for number, _ in accepted.rejected}
    data = []
    seen: set[str] = set()
    for recipient, number in zip(pv.recipients, numbers, strict=True):
        if number is None:
            data.append(ws.pv_err(ws.DESTINATION_INVALID, recipient.given))
        elif number in seen:  # "0138..." and "+86138..." are one recipient: sent once
            continue
        elif number in ids:
            seen.add(number)
            data.append(ws.pv_ok(ids[number], queue, recipient.given))
        else:
            seen.add(number)
            code = ws.SEND_FAILED if number in blocked else ws.DESTINATION_INVALID
            data.append(ws.pv_err(code, recipient.given))
    return ws.answer(data=data, timestamp=int(time.time()))


async def _ds(request: Request, caller: Caller, query: ws.ListQuery) -> dict:
    appliance = request.app.ctx.appliance
    now = appliance.dispatcher.now()
    dst = None
    if query.dst:
        dst = _number(query.dst)
        if dst is None:
            raise ws.WsError(ws.NO_STATUS)
    rows = await appliance.store.read(lambda: store_playsms.outgoing(
        key_id=caller.key_id, now=now, count=query.count, last=query.last,
        smslog_id=query.smslog_id, queue=query.queue,
        src=number_of(query.src) if query.src else "", dst=dst, dt=query.dt))
    if rows:
        return ws.answer(data=[ws.ds_item(r) for r in rows], timestamp=int(time.time()))
    if query.queue:
        state = await appliance.store.read(lambda: store_playsms.queue_state(
            key_id=caller.key_id, queue=query.queue, now=now))
        if state == "queued":
            raise ws.WsError(ws.STILL_QUEUED)
        if state == "processed":
            raise ws.WsError(ws.PROCESSED)
    raise ws.WsError(ws.NO_STATUS)


async def _received(request: Request, op: str, query: ws.ListQuery) -> dict:
    store = request.app.ctx.appliance.store
    src = number_of(query.src) if query.src else None
    dst = number_of(query.dst) if query.dst else ""  # a SIM's own number, as stored (E.164)
    if op == "ix":
        rows = await store.read(lambda: store_playsms.inbox(
            count=query.count, last=query.last, src=src, dst=dst, dt=query.dt))
        data = [ws.ix_item(r) for r in rows]
    else:
        rows = await store.read(lambda: store_playsms.incoming(
            count=query.count, last=query.last, src=src, dst=dst, kwd=query.kwd,
            dt=query.dt))
        data = [ws.in_item(r) for r in rows]
    if not data:
        raise ws.WsError(ws.NO_DATA)
    return ws.answer(data=data, timestamp=int(time.time()))
