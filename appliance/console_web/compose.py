"""The console's compose page: GET/POST /console/compose, its htmx fragments (the live counter,
the contact search, the import preview), and the recurring sends at /console/schedules.

Knows: the page's URLs, forms and actions (review, send, save_template), which template
renders what. Thin: the checks are appliance.compose's, the reads and writes the store's, and
a send goes through intake alone (compose.send.submit).
Must not know: SQL, the policy rules themselves.

Nothing is sent before the user has seen the review (recipients left out and why, the policy
checks, the estimate) and pressed "Confirm and send": the send action re-runs the review and
refuses to go on when it finds an error.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from sanic import Blueprint
from sanic.response import HTTPResponse, redirect

from appliance.compose import send as compose_send
from appliance.compose.checks import count_as_sent
from appliance.compose.imports import Held
from appliance.compose.merge import placeholders
from appliance.compose.recipients import KINDS
from appliance.compose.review import (
    CATEGORIES,
    PRIORITIES,
    ComposeForm,
    Review,
    review,
)
from appliance.console_web.guard import page
from appliance.console_web.reasons import schedule_result
from appliance.console_web.render import fragment, render
from appliance.console_web.stash import keep_stash, stash_of
from appliance.console_web.uploads import add_upload_route, table_error
from appliance.contacts.tabular import TableError, read_table
from appliance.dispatch.intake import InvalidRequest, SendRequest
from appliance.store import compose as compose_store
from appliance.store import contacts as contacts_store

bp = Blueprint("console_compose", url_prefix="/console")
# app.ctx.compose_imports: imported tables on disk between the upload and the send, under a
# token bound to the session that uploaded them (contacts.uploads).
STASH = "compose_imports"
keep_stash(bp, STASH)

REFUSALS = {
    # A policy refusal's code -> its English text with the refusal's details as {fields}
    # (translated in web/i18n/compose.json); a code not here shows the rule's own message.
    "forbidden_word": "The text contains the forbidden word “{word}”.",
    "signature_missing": "The text must carry the signature {expected}.",
    "signature_forged": "The text carries the signature {found}, not the sender's {expected}.",
    "over_quota": "This send needs {needed} parts; {left} are left of the quota.",
    "recipient_cap": "{recipients} recipients: at most {max_recipients} per send.",
    "no_recipient_left": "Every recipient was left out by the rules.",
}
PROBLEMS_SHOWN = 200  # rows of the validation report shown; the counts cover all
PREVIEW_ROWS = 10


def _appliance(request):  # noqa: ANN001, ANN202
    return request.app.ctx.appliance


async def _held(request, token: str) -> Held | None:  # noqa: ANN001
    """The session's imported table under `token` (None: not its own, expired or dropped),
    read from disk off the event loop."""
    if not token:
        return None
    upload = await asyncio.to_thread(stash_of(request, STASH).get,
                                     request.ctx.session_token, token)
    return Held.from_roles(upload.filename, upload.table, upload.roles) if upload else None


async def _drop(request, token: str) -> None:  # noqa: ANN001
    if token:
        await asyncio.to_thread(stash_of(request, STASH).drop, request.ctx.session_token,
                                token)


def _field(name: str) -> str:
    """A refusal's field as the page names it ("to[3]" is the recipients' field)."""
    return "to" if name.startswith("to") else name


async def _page_context(request, form: ComposeForm | None = None, **extra: Any) -> dict:  # noqa: ANN001
    store = _appliance(request).store
    groups = await store.read(compose_store.group_names)
    templates = await store.read(compose_store.list_templates)
    form = form or ComposeForm()
    held = extra.pop("held") if "held" in extra else await _held(request, form.import_token)
    ctx = {"form": form, "groups": groups, "templates": templates,
           "categories": CATEGORIES, "priorities": list(PRIORITIES), "errors": {},
           "review": None, "held": held, "kinds": KINDS, "refusals": REFUSALS}
    ctx.update(extra)
    return ctx


def _read_form(request) -> tuple[ComposeForm, dict[str, str]]:  # noqa: ANN001
    form = request.form or {}
    return ComposeForm.from_form(lambda k: form.get(k), lambda k: form.getlist(k) or [])


async def _review(request, form: ComposeForm,  # noqa: ANN001
                  errors: dict[str, str]) -> tuple[Review, Held | None]:
    """The review, and the imported table it read (for the page that shows it)."""
    appliance = _appliance(request)
    held = await _held(request, form.import_token)
    if form.import_token and held is None:
        errors = {**errors, "file": "the imported file has expired: import it again"}
    result = await review(form, errors, store=appliance.store, dispatcher=appliance.dispatcher,
                          policy=appliance.policy, blocked=appliance.blacklist.blocked_reason,
                          config=appliance.config, origin=request.ctx.origin,
                          imported=held.candidates() if held is not None else [])
    return result, held


def _show_refusal(result: Review, exc: InvalidRequest) -> None:
    result.errors[_field(exc.field)] = exc.message


@bp.get("/compose")
@page("send")
async def compose_page(request) -> HTTPResponse:  # noqa: ANN001
    form = ComposeForm()
    template_id = request.args.get("template")
    if template_id and template_id.isdigit():
        t = await _appliance(request).store.read(
            lambda: compose_store.get_template(int(template_id)))
        if t is not None:
            form.text, form.category = t["text"], t["category"]
    group = request.args.get("group")
    if group and group.isdigit():
        form.group_ids = [int(group)]
    return render(request, "compose/compose.html", **await _page_context(request, form))


@bp.post("/compose")
@page("send")
async def compose_post(request) -> HTTPResponse:  # noqa: ANN001
    action = request.form.get("action", "review")
    form, errors = _read_form(request)
    if action == "save_template":
        return await _save_template(request, form, errors)
    result, held = await _review(request, form, errors)
    if action != "send" or not result.ok or result.merged.missing:
        if action == "send" and result.merged.missing:
            result.errors.setdefault("text", "some recipients have no value for a "
                                             "placeholder: fix the text or the list")
        return render(request, "compose/compose.html",
                      **await _page_context(request, form, review=result, held=held,
                                            errors=result.errors), status=200)
    if form.when == "recurring":
        return await _create_schedule(request, form, result)
    user = request.ctx.user
    who = compose_send.Submitter(request.ctx.origin, user.name,
                                 privileged=request.ctx.origin.role == "admin")
    name = form.name.strip() or _default_name(form.text)
    appliance = _appliance(request)
    try:
        done = await compose_send.submit(appliance.dispatcher, appliance.store, result.merged,
                                         category=form.category,
                                         priority=PRIORITIES.get(form.priority),
                                         send_at=result.send_at, who=who, campaign_name=name)
    except InvalidRequest as exc:
        _show_refusal(result, exc)
        return render(request, "compose/compose.html",
                      **await _page_context(request, form, review=result, held=held,
                                            errors=result.errors))
    await _drop(request, form.import_token)
    if done.campaign_id is not None:
        return redirect(f"/console/campaigns/{done.campaign_id}")
    if done.ids and not done.rejected:
        # After a POST, a page of its own (a reload re-sent the form: dedupe then answered
        # "every recipient was left out by the rules", which nobody understood).
        query = {"ids": ",".join(str(i) for i in done.ids)}
        if result.send_at is not None:
            query["at"] = result.send_at.isoformat()
        if done.notes.get("approval"):
            query["approval"] = "1"
        return redirect(f"/console/compose/sent?{urlencode(query)}", status=303)
    return render(request, "compose/sent.html", done=done, form=form, send_at=result.send_at)


@bp.get("/compose/sent")
@page("send")
async def compose_sent(request) -> HTTPResponse:  # noqa: ANN001
    """What a send without a campaign became (the redirect after the form's POST)."""
    try:
        ids = [int(i) for i in (request.args.get("ids") or "").split(",") if i][:100]
        at = request.args.get("at")
        send_at = datetime.fromisoformat(at) if at else None
    except ValueError:
        return redirect("/console/compose")
    if not ids:
        return redirect("/console/compose")
    done = compose_send.Submitted(ids=ids, notes={"approval": True}
                                  if request.args.get("approval") == "1" else {})
    return render(request, "compose/sent.html", done=done, send_at=send_at)


def _default_name(text: str) -> str:
    first = " ".join(text.split())
    return first[:30] + ("…" if len(first) > 30 else "")


async def _save_template(request, form: ComposeForm, errors: dict[str, str]):  # noqa: ANN001, ANN202
    name = request.form.get("template_name", "")
    saved = None
    try:
        saved = await _appliance(request).store.write(lambda: compose_store.save_template(
            name, form.text, form.category, created_by=request.ctx.user.name))
    except compose_store.TemplateProblem as exc:
        errors = {**errors, exc.field: exc.message}
    return render(request, "compose/compose.html",
                  **await _page_context(request, form, errors=errors, saved_template=saved))


async def _create_schedule(request, form: ComposeForm, result: Review):  # noqa: ANN001, ANN202
    appliance = _appliance(request)
    user, origin = request.ctx.user, request.ctx.origin
    spec = form.spec()
    # Groups are read again at each firing (today's members); the rest as resolved now.
    spec["group_ids"] = form.group_ids
    spec["numbers"] = [r.number for r in result.checked.recipients
                       if r.source in ("typed", "range")]
    spec["rows"] = [{"number": r.number, "name": r.name, "fields": dict(r.fields)}
                    for r in result.checked.recipients if r.source == "import"]
    tz = appliance.config.dispatch.timezone
    await appliance.store.write(lambda: compose_store.create_schedule(
        form.name.strip() or _default_name(form.text), form.repeat, result.cron, tz, spec,
        result.next_at, created_by=user.name, user_id=user.id,
        department_id=origin.department_id, role=origin.role))
    if appliance.schedules is not None:
        appliance.schedules.wake()
    await _drop(request, form.import_token)
    return redirect("/console/schedules")


# -- fragments -------------------------------------------------------------------------------


@bp.post("/compose/count")
@page("send")
async def compose_count(request) -> HTTPResponse:  # noqa: ANN001
    """The live counter: the text as sent, its characters, encoding and parts, and the content
    rules' verdict (forbidden words, signature), for htmx on input."""
    form, _ = _read_form(request)
    appliance = _appliance(request)
    counted = None
    if form.text.strip():
        counted = count_as_sent(appliance.policy, SendRequest(
            to=[], text=form.text, category=form.category, origin=request.ctx.origin,
            priority=PRIORITIES.get(form.priority)))
    return fragment(request, "compose/_counter.html", counted=counted,
                    keys=placeholders(form.text), refusals=REFUSALS)


@bp.get("/compose/contacts")
@page("send")
async def compose_contacts(request) -> HTTPResponse:  # noqa: ANN001
    q = (request.args.get("q") or "").strip()[:100]
    found: list[dict] = []
    if q:
        found, _ = await _appliance(request).store.read(
            lambda: contacts_store.list_contacts(q, limit=20))
    return fragment(request, "compose/_contacts.html", contacts=found, q=q)


@page("send")
async def compose_import(request) -> HTTPResponse:  # noqa: ANN001
    """Read an uploaded CSV/XLSX (or re-map the columns of one held), and show its preview and
    validation report. Nothing is sent from here."""
    stash, owner = stash_of(request, STASH), request.ctx.session_token
    upload = request.files.get("file") if request.files else None
    token = request.form.get("import_token", "")
    error = None
    held = None
    if upload is not None and upload.body:
        try:
            table = await asyncio.to_thread(read_table, upload.body,
                                            upload.name or "upload.csv")
        except TableError as exc:
            error = exc.code, table_error(request, exc)
        else:
            # On disk, not in memory, until the send or an hour: only the token goes back.
            held = Held.guessed(upload.name or "", table)
            token = await asyncio.to_thread(stash.put, owner, held.filename, table,
                                            held.roles())
    elif token:
        held = await _held(request, token)
        if held is None:
            error = "expired", "the imported file has expired: import it again"
        else:
            for attr in ("number_col", "name_col"):
                raw = request.form.get(attr, "")
                if raw.isdigit() and int(raw) < len(held.table.columns):
                    setattr(held, attr, int(raw))
                elif raw == "" and attr == "name_col":
                    held.name_col = None
            held = Held.from_roles(held.filename, held.table, held.roles())  # as kept
            await asyncio.to_thread(stash.set_roles, owner, token, held.roles())
    else:
        error = "empty", "choose a CSV or XLSX file first"
    if held is None:
        return fragment(request, "compose/_import.html", error=error, held=None, token="")
    appliance = _appliance(request)
    form, _ = _read_form(request)
    checked = None
    if held.number_col is not None:
        candidates = held.candidates()
        checked = await compose_send.check(
            appliance.store, candidates, region=appliance.config.contacts.default_region,
            blocked=appliance.blacklist.blocked_reason, category=form.category,
            consent_required=appliance.config.consent.required_for_marketing)
    return fragment(request, "compose/_import.html", error=None, held=held, token=token,
                    checked=checked, preview=held.table.rows[:PREVIEW_ROWS],
                    shown=PROBLEMS_SHOWN, kinds=KINDS)


# Streamed: a spreadsheet may be larger than the box's 1 MB request limit (uploads.py).
add_upload_route(bp, "/compose/import", compose_import, name="compose_import",
                 too_big=lambda request, message: fragment(
                     request, "compose/_import.html", status=413, error=("too_big", message),
                     held=None, token=""))


# -- schedules -------------------------------------------------------------------------------


def _own_only(request) -> int | None:  # noqa: ANN001
    """An admin sees every schedule; anyone else their own."""
    return None if request.ctx.origin.role == "admin" else request.ctx.user.id


@bp.get("/schedules")
@page("send")
async def schedules_page(request) -> HTTPResponse:  # noqa: ANN001
    mine = _own_only(request)
    rows = await _appliance(request).store.read(lambda: compose_store.list_schedules(mine))
    return render(request, "compose/schedules.html", schedules=rows,
                  schedule_result=lambda result: schedule_result(request.ctx.lang, result))


@bp.post("/schedules/<schedule_id:int>/<op:pause|resume|delete>")
@page("send")
async def schedule_action(request, schedule_id: int, op: str) -> HTTPResponse:  # noqa: ANN001
    from appliance.compose.recurrence import next_after

    appliance = _appliance(request)
    row = await appliance.store.read(lambda: compose_store.get_schedule(schedule_id))
    mine = _own_only(request)
    if row is None or (mine is not None and row["user_id"] != mine):
        return redirect("/console/schedules")
    if op == "delete":
        await appliance.store.write(lambda: compose_store.delete_schedule(schedule_id))
    elif op == "pause":
        await appliance.store.write(
            lambda: compose_store.set_schedule_state(schedule_id, "paused"))
    else:
        # Resumed from now: what fell due while paused is not sent.
        upcoming = next_after(row["cron"], appliance.dispatcher.now(), row["timezone"])
        await appliance.store.write(
            lambda: compose_store.set_schedule_state(schedule_id, "active", upcoming))
    if appliance.schedules is not None:
        appliance.schedules.wake()
    return redirect("/console/schedules")


__all__ = ["bp"]
