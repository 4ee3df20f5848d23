"""Replies (issue 11, item 7): conversations with the people who wrote back, answered in place.

- `GET /console/replies`: the numbers that wrote to us, the latest first, each with its
  contact, its newest message and how many are unread (store.history.reply_threads);
  `?before=<id>` pages on. `GET /console/replies/list` is the list alone (the live refresh).
- `GET /console/replies/<number>`: the thread, both directions in time order with the SIM
  used (store.conversations.thread: a contact's numbers are one thread), `?before=<cursor>`
  for older items (the API's cursor, api.conversations). Opening it marks it read.
  `GET /console/replies/<number>/items`: the items alone (the live refresh).
- `POST /console/replies/<number>` (action "send"): the reply, through intake with the
  console's origin and `via_sim` = the SIM that received the number's newest message, so it
  leaves through the card the person wrote to.

Live: the pages listen to sms.received (and message.state for the thread's own messages) and
re-fetch their fragment (web/static/history.js); nothing polls.

Knows: the forms, the fragments, what a refused reply says.
Must not know: SQL (store.history, store.conversations, store.contacts).
Every text that came by SMS is shown through autoescaped templates only.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, unquote

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, redirect

from appliance.api.conversations import decode_cursor, encode_cursor
from appliance.api.errors import ApiError
from appliance.console_web.guard import page
from appliance.console_web.reasons import send_refusal
from appliance.console_web.render import fragment, render, text
from appliance.contacts.numbers import stored_number
from appliance.dispatch.intake import (
    InvalidRequest,
    PolicyRefused,
    SendRequest,
    submit_request,
)
from appliance.dispatch.phone import InvalidNumber
from appliance.store import contacts as book
from appliance.store import conversations as threads
from appliance.store import history as store_history

bp = Blueprint("console_history_replies", url_prefix="/console")

THREADS = 50
ITEMS = 50


def _before_id(request: Request) -> int | None:
    raw = request.args.get("before") or ""
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 19 else None


async def _threads(request: Request) -> dict[str, Any]:
    before = _before_id(request)
    found, unread = await request.app.ctx.appliance.store.read(
        lambda: (store_history.reply_threads(before=before, limit=THREADS),
                 store_history.unread_threads()))
    return {"found": found, "unread_threads": unread, "quote": quote}


@bp.get("/replies")
@page("read")
async def replies(request: Request) -> HTTPResponse:
    return render(request, "history/replies.html", **await _threads(request))


@bp.get("/replies/list")
@page("read")
async def replies_list(request: Request) -> HTTPResponse:
    return fragment(request, "history/_threads.html", **await _threads(request))


def _number(request: Request, raw: str) -> str | None:
    """The path's number in its stored form (sanic hands the path part over still quoted:
    "%2B8613800138000"), or None."""
    try:
        return stored_number(unquote(raw), request.app.ctx.appliance.config.contacts.default_region)
    except InvalidNumber:
        return None


async def _thread(request: Request, number: str) -> dict[str, Any]:
    """The thread's items (and contact), marked read once shown."""
    cursor = None
    raw = request.args.get("before")
    if raw:
        try:
            cursor = decode_cursor(raw)
        except ApiError:
            cursor = None
    store = request.app.ctx.appliance.store

    def read() -> dict[str, Any]:
        contact = book.contact_for_number(number)
        numbers = contact["numbers"] if contact else [number]
        items, older = threads.thread(numbers, before=cursor, limit=ITEMS)
        labels = store_history.sim_labels({i["sim"] for i in items if i["sim"]})
        return {"contact": contact, "numbers": numbers, "items": items, "older": older,
                "sim_labels": labels, "live": cursor is None,
                "unread": store_history.has_unread(numbers),
                "sim": store_history.last_inbound_sim([number])
                or store_history.last_inbound_sim(numbers)}

    shown = await store.read(read)
    if shown["unread"]:
        numbers = shown["numbers"]
        await store.write(lambda: store_history.mark_read(numbers))
    shown["older"] = encode_cursor(shown["older"])
    shown["number"] = number
    shown["quoted"] = quote(number, safe="")
    return shown


def _not_found(request: Request) -> HTTPResponse:
    return render(request, "history/thread.html", status=404, number=None, items=[],
                  error=text(request, "Not a phone number."), form={})


@bp.get("/replies/<raw:str>")
@page("read")
async def thread_page(request: Request, raw: str) -> HTTPResponse:
    number = _number(request, raw)
    if number is None:
        return _not_found(request)
    return render(request, "history/thread.html", **await _thread(request, number), form={},
                  errors={})


@bp.get("/replies/<raw:str>/items")
@page("read")
async def thread_items(request: Request, raw: str) -> HTTPResponse:
    number = _number(request, raw)
    if number is None:
        return _not_found(request)
    return fragment(request, "history/_items.html", **await _thread(request, number))


@bp.post("/replies/<raw:str>")
@page("send")
async def reply(request: Request, raw: str) -> HTTPResponse:
    number = _number(request, raw)
    if number is None:
        return _not_found(request)
    body = (request.form or {}).get("text") or ""
    appliance = request.app.ctx.appliance
    store = appliance.store
    via_sim = await store.read(lambda: store_history.last_inbound_sim([number]))
    user = request.ctx.user
    send = SendRequest(to=[number], text=body, category="notice", submitter_kind="user",
                       submitter_id=str(user.id), via_sim=via_sim,
                       origin=request.ctx.origin)
    errors: dict[str, str] = {}
    notice = None
    try:
        accepted = await submit_request(appliance.dispatcher, send)
    except PolicyRefused as exc:
        errors["text"] = send_refusal(request.ctx.lang, exc)
    except InvalidRequest as exc:
        errors["text"] = (text(request, "Write a reply first.") if not body.strip()
                          else send_refusal(request.ctx.lang, exc))
    else:
        if accepted.notes:
            notice = text(request, "The reply waits for approval.")
    htmx = bool(request.headers.get("HX-Request"))
    if not errors and not htmx:
        return redirect(f"/console/replies/{quote(number, safe='')}", status=303)
    shown = await _thread(request, number)
    form = {"text": body} if errors else {}
    template = "history/_conversation.html" if htmx else "history/thread.html"
    # htmx swaps only a 2xx answer: the refusal comes back as 200 with the message beside
    # the field; without htmx it is a 400 page.
    return render(request, template, status=400 if errors and not htmx else 200, **shown,
                  form=form,
                  errors=errors, notice=notice)
