"""The "SMS Gateway for Android" local API: `POST /messages` (also `/message`),
`GET|DELETE /messages/{id}`, `GET /messages` (this key's messages, paged by limit and
offset), `GET /inbox` (the inbox, which every reading key sees), `GET|POST /webhooks`,
`DELETE /webhooks/{id}` and `GET /health` (no login, as the app's: the facts of
`/api/v1/health` in its shape), for clients
written against that app (its official Python client is PyPI `android-sms-gateway`).

Knows: how that API authenticates (HTTP Basic: an API key's name as the login, the key itself
as the password), which scope each call needs (POST and DELETE `send`, GET `read`), and how it
answers errors: `{"message": ...}` with a 4xx status (a client maps 400/401/403/404 onto its
own exception classes).
Must not know: the Android shapes (compat.android_api), validation (intake), SQL
(store.android), modems.

A thin translation, like the Kannel and playSMS adapters: every message goes through intake's
`submit_request`, failed key checks count in the same FailureThrottle/AddressGate as the JSON
API's. A bad or missing key, and a key used from outside its networks, is 401 (the app knows
no 403 for a login); a key without the scope 403; a request refused by the throttle or the
key's rate 429 (503 when too many checks are under way) with Retry-After.

Webhooks (scope `read`: an endpoint hears inbound SMS, which every reading key sees, and the
state changes of its own key's messages only) are endpoints of our durable delivery queue
with the Android envelope and signature (webhooks.android). POST answers the endpoint with
its signing key in `secret` (the app keeps one signing key in its settings; ours is per
endpoint); POST with an id this key already uses replaces that endpoint's URL and event.

A recipient intake or the policy layer leaves out (blacklisted, a duplicate...) is kept with
the message (`store.android.save_refusals`) and listed as Failed with its reason, at its place
in `phoneNumbers`, in the 202 and every later GET. A request whose every recipient is left
out stays refused, as before the app's shape was followed this far: 400 when all are
blacklisted, the policy's status otherwise (nothing was stored to answer a GET from).
The refusals are a second write after intake's (which has no place for another table's rows
in its acceptance): should it fail, the send is still a 202 listing them (the failure is
logged), and a retry under the same id finding no refusal stored takes the numbers beyond
the stored messages for refused (when each is named twice, blacklisted or sent this text by
another message; else 409) and saves them with UNRECORDED, which the first request's own
write, when a retry overtook it, replaces with the reasons.

DELETE cancels the recipients still queued and answers 204 once every recipient is
Cancelled; when one has already left (Processed or beyond) it answers 409 with the message's
state (the others are cancelled all the same).
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections import Counter
from typing import Any

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, JSONResponse, json

from appliance.api.auth import (
    Caller,
    authenticate_key,
    client_address,
    note_use,
    origin_of,
)
from appliance.api.errors import ApiError
from appliance.api.modems import health_facts
from appliance.compat import android_api as aa
from appliance.dispatch.intake import (
    AllRecipientsBlocked,
    InvalidRequest,
    PolicyRefused,
    SendRequest,
    submit_request,
)
from appliance.dispatch.phone import InvalidNumber, normalize_number
from appliance.store import android as store_android
from appliance.store import inbox as store_inbox
from appliance.store.messages import IdempotencyConflict, MessageNotFound
from appliance.store.states import InvalidTransition
from appliance.store.webhooks import WebhookInvalid
from appliance.webhooks.android import DEVICE_ID, OUR_EVENTS

log = logging.getLogger(__name__)

bp = Blueprint("android")


def _refusal(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return json(aa.error_body(message), status=status, headers=headers)


class _Refused(Exception):
    def __init__(self, status: int, message: str, retry_after: int | None = None):
        super().__init__(message)
        self.status, self.message, self.retry_after = status, message, retry_after


def _basic(request: Request) -> tuple[str, str] | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    login, sep, password = decoded.partition(":")
    return (login, password) if sep and login and password else None


async def _caller(request: Request, scope: str) -> Caller:
    """The API key named by the Basic login whose plaintext is the password, with `scope`."""
    throttle = request.app.ctx.appliance.auth_throttle
    client = client_address(request)
    credentials = _basic(request)
    if credentials is None:
        wait = throttle.retry_after(client)
        if wait:
            raise _Refused(429, "too many failed authentication attempts", wait)
        throttle.failed(client)
        raise _Refused(401, "Basic authentication is needed: an API key's name as the login "
                            "and the key as the password")
    login, password = credentials
    try:
        caller = await authenticate_key(request, password)
    except ApiError as exc:
        if exc.status in (401, 403):
            raise _Refused(401, exc.message) from None
        raise _Refused(exc.status, exc.message,
                       int(exc.headers.get("Retry-After", 1))) from None
    if caller.name != login:
        throttle.failed(client)  # a valid key under another name is a failed attempt too
        raise _Refused(401, "the login is not the name of this API key")
    if scope not in caller.scopes and "admin" not in caller.scopes:
        raise _Refused(403, f"the API key {caller.name!r} lacks the {scope!r} scope")
    note_use(request, caller)
    request.ctx.caller = caller  # the audit trail names who changed what (api.audit_trail)
    return caller


async def _answer(request: Request, scope: str, serve: Any) -> HTTPResponse:
    """Run `serve(caller)` and turn every refusal into `{"message": ...}`."""
    try:
        caller = await _caller(request, scope)
        return await serve(caller)
    except _Refused as refused:
        headers = {}
        if refused.retry_after is not None:
            headers["Retry-After"] = str(max(1, refused.retry_after))
        if refused.status == 401:  # RFC 9110 §11.6.1: a 401 names the scheme to use
            headers["WWW-Authenticate"] = 'Basic realm="cardgate", charset="UTF-8"'
        return _refusal(refused.status, refused.message, headers or None)
    except aa.AndroidError as exc:
        return _refusal(exc.status, exc.message)
    except Exception:  # the store failing, a bug: said in the API's shape, never a traceback
        log.exception("Android API: %s %s failed", request.method, request.path)
        return _refusal(500, "internal error (logged)")


def _owner_state(request: Request, caller: Caller, android_id: str,
                 unsaved: list[dict[str, Any]] = ()):
    """A loader of this key's Android message's answer; `unsaved` the refusals to list when
    none are stored (their write failed)."""
    store = request.app.ctx.appliance.store

    async def load() -> dict[str, Any] | None:
        def read() -> dict[str, Any] | None:
            rows = store_android.messages_of(key_id=caller.key_id, android_id=android_id)
            if not rows:
                return None
            events = store_android.events_of([r["id"] for r in rows])
            refused = store_android.refusals_of(key_id=caller.key_id, android_id=android_id)
            return aa.message_state(android_id, rows, events, refused or list(unsaved))
        return await store.read(read)

    return load


UNRECORDED = ("left out when the message was accepted (blacklisted, a duplicate...); "
              "the reason was not recorded")
"""The error of a refused recipient found only by a retry: the first request's refusals were
not saved (it failed, or the retry overtook it; that request overwrites this reason)."""


def _same_send(earlier: list[dict[str, Any]], refused: list[dict[str, Any]],
               send: aa.AndroidSend) -> list[tuple[int, str, str]] | None:
    """Whether a request under an id already used asks for what was stored: the same text to
    the same numbers (as intake normalises them; those left out count too). None if not;
    else the refusals not stored yet, as (position, number, why) to save: when no refusal is
    stored, the numbers beyond the stored messages were left out (the refusals are saved in
    a second write, after the messages', which a retry may overtake or which may fail)."""
    try:
        numbers = [normalize_number(n) for n in send.phone_numbers]
    except InvalidNumber:
        return None
    if not all(r["text"] == send.text for r in earlier):
        return None
    stored = [r["recipient"] for r in earlier]
    if refused:
        same = set(numbers) == set(stored) | {r["recipient"] for r in refused}
        return [] if same else None
    if Counter(stored) - Counter(numbers):  # a stored recipient the request does not name
        return None
    return aa.refused_in_order(numbers, stored, [(n, UNRECORDED) for n in numbers])


async def _could_be_refused(appliance: Any, earlier: list[dict[str, Any]],
                            missing: list[tuple[int, str, str]], send: aa.AndroidSend,
                            key_id: int, android_id: str) -> bool:
    """Whether every number of `missing` (beyond the stored messages, no refusal stored) can
    have been left out: named twice in the request, blacklisted, or sent this text by another
    message (a duplicate). If not, the request is another message under a used id."""
    stored = {r["recipient"] for r in earlier}
    left = [n for _, n, _ in missing if n not in stored]
    block = appliance.dispatcher.recipient_block
    if left and block is not None:
        blocked = block.blocked_among(left)
        left = [n for n in left if n not in blocked]
    if not left:
        return True
    text = send.text
    seen = await appliance.store.read(lambda: store_android.texted_before(
        left, text, key_id=key_id, android_id=android_id))
    return all(n in seen for n in left)


async def _save_refusals(request: Request, key_id: int, android_id: str,
                         refused: list[tuple[int, str, str]], *, replace: bool) -> bool:
    """Save the refusals of an accepted message; a failure is logged, never the answer's
    (its messages are stored: the send was accepted). True once saved."""
    appliance = request.app.ctx.appliance
    now = appliance.dispatcher.now()
    try:
        await appliance.store.write(lambda: store_android.save_refusals(
            key_id=key_id, android_id=android_id, refused=refused, now=now, replace=replace))
    except Exception:  # noqa: BLE001 - the messages are stored; a retry saves them again
        log.exception("Android API: the refused recipients of message %r (key %s) could "
                      "not be saved", android_id, key_id)
        return False
    return True


async def _send(request: Request, caller: Caller) -> HTTPResponse:
    appliance = request.app.ctx.appliance
    dispatcher = appliance.dispatcher
    try:
        body = request.json
    except Exception:
        raise aa.AndroidError(400, "the request body is not valid JSON") from None
    send = aa.read_send(body, dispatcher.now())
    via_sim = None
    if send.sim_number is not None:
        number = send.sim_number
        via_sim = await appliance.store.read(lambda: store_android.sim_by_number(number))
        if via_sim is None:
            raise aa.AndroidError(400, f"simNumber: there is no SIM {number} here")
    key_id, android_id = caller.key_id, send.id
    earlier = await appliance.store.read(
        lambda: store_android.messages_of(key_id=key_id, android_id=android_id))
    if earlier:  # a retry: answered from what is stored (a validUntil's ttl has moved on)
        refused = await appliance.store.read(
            lambda: store_android.refusals_of(key_id=key_id, android_id=android_id))
        missing = _same_send(earlier, refused, send)
        if missing is None:
            raise aa.AndroidError(409, f"id {send.id!r} is already used by a different "
                                       "message from this key")
        if missing and not await _could_be_refused(appliance, earlier, missing, send,
                                                   key_id, android_id):
            raise aa.AndroidError(409, f"id {send.id!r} is already used by a different "
                                       "message from this key")
        if missing:
            await _save_refusals(request, key_id, android_id, missing, replace=False)
        unsaved = [{"position": p, "recipient": n, "error": e} for p, n, e in missing]
        state = await _owner_state(request, caller, send.id, unsaved)()
        return json(state, status=202)
    submit = SendRequest(
        to=send.phone_numbers, text=send.text, category=send.category, ttl=send.ttl,
        client_ref=store_android.id_ref(send.id), submitter_kind="api_key",
        submitter_id=str(caller.key_id), via_sim=via_sim,
        origin=origin_of(request, caller, "android"))
    try:
        accepted = await submit_request(dispatcher, submit)
    except AllRecipientsBlocked as exc:
        raise aa.AndroidError(400, f"phoneNumbers: {exc.message}") from None
    except PolicyRefused as exc:
        raise aa.AndroidError(exc.status, f"{exc.field}: {exc.message} ({exc.code})") from None
    except InvalidRequest as exc:
        where = exc.field
        if where == "to" or where.startswith("to["):
            where = "phoneNumbers" + where[2:]
        elif where == "text":
            where = "textMessage.text"
        raise aa.AndroidError(400, f"{where}: {exc.message}") from None
    except IdempotencyConflict:
        raise aa.AndroidError(409, f"id {send.id!r} is already used by a different message "
                                   "from this key") from None
    unsaved: list[dict[str, Any]] = []
    if accepted.rejected:  # listed as Failed recipients, now and in every later answer
        numbers = [normalize_number(n) for n in send.phone_numbers]  # intake took them all
        refused = aa.refused_in_order(numbers, accepted.recipients, accepted.rejected)
        # replace: a retry that overtook this write saved them without their reasons
        if not await _save_refusals(request, key_id, android_id, refused, replace=True):
            unsaved = [{"position": p, "recipient": n, "error": e} for p, n, e in refused]
    state = await _owner_state(request, caller, send.id, unsaved)()
    return json(state, status=202)


@bp.post("/messages")
async def post_messages(request: Request) -> HTTPResponse:
    return await _answer(request, "send", lambda caller: _send(request, caller))


@bp.post("/message")
async def post_message(request: Request) -> HTTPResponse:
    return await _answer(request, "send", lambda caller: _send(request, caller))


def _args(request: Request) -> dict[str, list[str]]:
    """The query as each name's values (sanic's `args.get` gives only the first)."""
    return {name: request.args.getlist(name) for name in request.args}


SCAN_CHUNK = 200
MAX_SCAN = 10_000
"""A `state` filter is on the Android state, which the recipients' states make: the key's
messages are read in chunks until `limit` match, at most MAX_SCAN of them per request."""


def _listed(caller: Caller, q: aa.AndroidListing) -> list[dict[str, Any]]:
    """This key's Android messages for `get_messages()` (run inside Store.read): a few
    queries per page (its ids, their messages, refusals and events), not three a message;
    with a `state` filter, the events only of those that match (the state needs none)."""
    key_id = caller.key_id

    def page(limit: int, offset: int) -> list[str]:
        return store_android.android_ids(key_id=key_id, created_from=q.start,
                                         created_to=q.end, ascending=q.ascending,
                                         limit=limit, offset=offset)

    def found(ids: list[str]) -> tuple[dict[str, list], dict[str, list]]:
        return (store_android.messages_of_many(key_id=key_id, android_ids=ids),
                store_android.refusals_of_many(key_id=key_id, android_ids=ids))

    def answers(ids: list[str], rows: dict[str, list], refused: dict[str, list],
                ) -> list[dict[str, Any]]:
        events = store_android.events_by_message([r["id"] for i in ids for r in rows[i]])
        return [aa.message_state(i, rows[i], [e for r in rows[i] for e in events[r["id"]]],
                                 refused[i]) for i in ids if rows[i]]

    if q.other_device:
        return []
    if q.state is None:
        ids = page(q.limit, q.offset)
        return answers(ids, *found(ids))
    out: list[dict[str, Any]] = []
    skip, start = q.offset, 0
    while len(out) < q.limit and start < MAX_SCAN:
        ids = page(SCAN_CHUNK, start)
        rows, refused = found(ids)
        matching = [i for i in ids if rows[i] and aa.message_state(
            i, rows[i], [], refused[i])["state"] == q.state]  # the state needs no events
        dropped = min(skip, len(matching))
        skip -= dropped
        out.extend(answers(matching[dropped:][:q.limit - len(out)], rows, refused))
        if len(ids) < SCAN_CHUNK:
            break
        start += SCAN_CHUNK
    return out


@bp.route("/messages", methods=["GET", "HEAD"])
async def list_messages(request: Request) -> HTTPResponse:
    async def serve(caller: Caller) -> HTTPResponse:
        query = aa.read_messages_query(_args(request), DEVICE_ID)
        states = await request.app.ctx.appliance.store.read(lambda: _listed(caller, query))
        return json(states)

    return await _answer(request, "read", serve)


@bp.route("/inbox", methods=["GET", "HEAD"])
async def list_inbox(request: Request) -> HTTPResponse:
    async def serve(caller: Caller) -> HTTPResponse:
        q = aa.read_inbox_query(_args(request), DEVICE_ID)
        if q.other_device or q.kind != "SMS":
            return json([])

        def read() -> list[dict[str, Any]]:
            rows = store_inbox.list_messages(limit=q.limit, offset=q.offset,
                                             received_from=q.start, received_through=q.end,
                                             ascending=False)
            numbers = store_android.sim_numbers()
            return [aa.inbox_item(r, numbers.get(r["sim"])) for r in rows]
        return json(await request.app.ctx.appliance.store.read(read))

    return await _answer(request, "read", serve)


def _not_found(android_id: str) -> aa.AndroidError:
    return aa.AndroidError(404, f"message {android_id!r} not found")


@bp.route("/messages/<android_id:str>", methods=["GET", "HEAD"])
async def get_message(request: Request, android_id: str) -> HTTPResponse:
    async def serve(caller: Caller) -> HTTPResponse:
        state = await _owner_state(request, caller, android_id)()
        if state is None:
            raise _not_found(android_id)
        return json(state)

    return await _answer(request, "read", serve)


@bp.delete("/messages/<android_id:str>")
async def cancel_message(request: Request, android_id: str) -> HTTPResponse:
    async def serve(caller: Caller) -> HTTPResponse:
        appliance = request.app.ctx.appliance
        rows = await appliance.store.read(lambda: store_android.messages_of(
            key_id=caller.key_id, android_id=android_id))
        if not rows:
            raise _not_found(android_id)
        left = False
        for row in rows:
            if row["state"] == "cancelled":
                continue
            try:
                await appliance.dispatcher.cancel(row["id"])
            except (InvalidTransition, MessageNotFound):
                left = True  # already claimed by a SIM, or beyond
        if not left:
            return HTTPResponse(status=204)
        state = await _owner_state(request, caller, android_id)()
        body = aa.error_body(f"message {android_id!r} can no longer be cancelled: "
                             f"it is {state['state'] if state else 'gone'}")
        return json({**body, "state": state}, status=409)

    return await _answer(request, "send", serve)


@bp.route("/health", methods=["GET", "HEAD"])
async def health(request: Request) -> HTTPResponse:
    """The app's health, unauthenticated as the app's is (its client sends its credentials
    all the same; they are not looked at): the JSON API's facts in the app's shape."""
    facts, _ = health_facts(request.app.ctx.appliance)
    body, status = aa.health_answer(facts)
    return json(body, status=status)


# -- webhooks ---------------------------------------------------------------------------------

def _hook_view(row: dict[str, Any]) -> dict[str, Any]:
    # An endpoint's events were set from one Android event; should an admin have changed
    # them through /api/v1/webhooks, the first Android event they still cover names it.
    events = set(row["events"])
    event = next((name for name, ours in OUR_EVENTS.items() if events == set(ours)), None) \
        or next((name for name, ours in OUR_EVENTS.items() if events & set(ours)),
                "sms:received")
    return {"id": row["ref"], "url": row["url"], "event": event, "deviceId": DEVICE_ID}


def _wake_deliverer(request: Request) -> None:
    deliverer = request.app.ctx.appliance.webhooks
    if deliverer is not None:
        deliverer.wake()


@bp.route("/webhooks", methods=["GET", "HEAD"])
async def list_webhooks(request: Request) -> HTTPResponse:
    async def serve(caller: Caller) -> HTTPResponse:
        rows = await request.app.ctx.appliance.store.read(
            lambda: store_android.webhooks_of(caller.key_id))
        return json([_hook_view(r) for r in rows])

    return await _answer(request, "read", serve)


@bp.post("/webhooks")
async def create_webhook(request: Request) -> HTTPResponse:
    async def serve(caller: Caller) -> HTTPResponse:
        appliance = request.app.ctx.appliance
        try:
            body = request.json
        except Exception:
            raise aa.AndroidError(400, "the request body is not valid JSON") from None
        hook = aa.read_webhook(body, OUR_EVENTS)
        now = appliance.dispatcher.now()
        try:
            saved = await appliance.store.write(lambda: store_android.save_webhook(
                key_id=caller.key_id, ref=hook.id, url=hook.url,
                events=OUR_EVENTS[hook.event], now=now))
        except WebhookInvalid as exc:
            raise aa.AndroidError(400, str(exc)) from None
        _wake_deliverer(request)  # perhaps the first endpoint: events matter now
        return json({**_hook_view(saved), "secret": saved["secret"]}, status=201)

    return await _answer(request, "read", serve)


@bp.delete("/webhooks/<hook_id:str>")
async def delete_webhook(request: Request, hook_id: str) -> HTTPResponse:
    async def serve(caller: Caller) -> HTTPResponse:
        deleted = await request.app.ctx.appliance.store.write(
            lambda: store_android.delete_webhook(key_id=caller.key_id, ref=hook_id))
        if not deleted:
            raise aa.AndroidError(404, f"webhook {hook_id!r} not found")
        _wake_deliverer(request)  # its rows already fetched must not go
        return HTTPResponse(status=204)

    return await _answer(request, "read", serve)
