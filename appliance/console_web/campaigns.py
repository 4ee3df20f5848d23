"""Campaigns and approvals in the web console.

- `/console/campaigns`: campaigns newest first with their progress (keyset pages); the
  submitter's notice of decisions on their requests (approved / rejected with the reason).
- `/console/campaigns/<id>`: one campaign: a progress bar kept live from the `message.state`
  stream (the page re-fetches its progress fragment at most once a second), pause / resume /
  cancel for its creator or an admin (action "send"), its recipients with states and errors
  (keyset pages, a filter by state).
- `/console/approvals`: what waits for an approver (action "approve"): text, recipients,
  submitter, department, when it would be finished; approve, or reject with a reason.

Knows: the forms, the pages, who may press which button.
Must not know: SQL (store.campaigns, store.approvals), what a pause or a decision does to the
messages (dispatch.campaigns, policy.approval: the same functions the API calls).
"""

from __future__ import annotations

from typing import Any

from sanic import Blueprint, Request
from sanic.response import HTTPResponse, redirect

from appliance.console_web.audited import audit_change
from appliance.console_web.guard import page
from appliance.console_web.render import fragment, render, text
from appliance.dispatch import campaigns as control
from appliance.dispatch.estimate import estimate_finish
from appliance.policy import approval as approval_policy
from appliance.store import accounts as accounts_store
from appliance.store import approvals as approvals_store
from appliance.store import campaigns as campaigns_store
from appliance.store import history as store_history
from appliance.store.approvals import ApprovalProblem, Decider
from appliance.store.campaigns import CampaignProblem

bp = Blueprint("console_campaigns", url_prefix="/console")

PAGE = 20  # campaigns per page
RECIPIENTS_PAGE = 100
APPROVALS_PAGE = 50
MAX_ID = 2**31 - 1


def _int(request: Request, name: str) -> int | None:
    """A positive whole number from the query string, or None (absent or not one)."""
    raw = request.args.get(name)
    if raw is None or not raw.isdigit() or len(raw) > 10:
        return None
    value = int(raw)
    return value if 0 < value <= MAX_ID else None


def _is_admin(request: Request) -> bool:
    return request.ctx.user.role == "admin"


# -- campaigns --------------------------------------------------------------------------------


async def _decisions(request: Request) -> list[dict[str, Any]]:
    """The user's decided requests they have not seen yet (the notice on these pages)."""
    user_id = request.ctx.user.id
    return await request.app.ctx.appliance.store.read(
        lambda: campaigns_store.recent_decisions(user_id))


async def _people(request: Request) -> dict[str, str]:
    """User name -> the name people know them by (a campaign keeps who made, paused or
    decided it by user name: 'zhang' where the history says 张三)."""
    users = await request.app.ctx.appliance.store.read(accounts_store.list_users)
    return {u.name: u.display_name or u.name for u in users}


@bp.get("/campaigns")
@page("read")
async def campaign_list(request: Request) -> HTTPResponse:
    before = _int(request, "before")
    store = request.app.ctx.appliance.store
    rows = await store.read(lambda: campaigns_store.listing(before=before, limit=PAGE + 1))
    return render(request, "campaigns/list.html", campaigns=rows[:PAGE],
                  next_before=rows[PAGE - 1]["id"] if len(rows) > PAGE else None,
                  before=before, decisions=await _decisions(request),
                  people=await _people(request))


@bp.get("/campaigns/rows")
@page("read")
async def campaign_rows(request: Request) -> HTTPResponse:
    """The list's table body alone (the live refresh of the list)."""
    before = _int(request, "before")
    rows = await request.app.ctx.appliance.store.read(
        lambda: campaigns_store.listing(before=before, limit=PAGE))
    return fragment(request, "campaigns/_rows.html", campaigns=rows,
                    people=await _people(request))


async def _campaign(request: Request, campaign_id: int) -> dict[str, Any] | None:
    try:
        return await request.app.ctx.appliance.store.read(
            lambda: campaigns_store.get_campaign(campaign_id))
    except CampaignProblem:
        return None


def _may_control(request: Request, campaign: dict[str, Any]) -> bool:
    user = request.ctx.user
    return campaigns_store.may_control(campaign, user.id, _is_admin(request))


async def _recipients(request: Request, campaign_id: int
                      ) -> tuple[str | None, int | None, list[dict[str, Any]], int | None]:
    """(state filter, after, one page of recipients, the `after` of the next page or None)."""
    state = request.args.get("state")
    if state not in campaigns_store.FILTERS:
        state = None
    after = _int(request, "after")

    def read() -> list[dict[str, Any]]:
        found = campaigns_store.recipients(campaign_id, state=state, after=after,
                                           limit=RECIPIENTS_PAGE + 1)
        # The SIM as the history names it (its label or number), not its 20-digit ICCID.
        labels = store_history.sim_labels({r["sim"] for r in found if r["sim"]})
        for r in found:
            r["sim_label"] = labels.get(r["sim"] or "", "")
        return found

    rows = await request.app.ctx.appliance.store.read(read)
    more = len(rows) > RECIPIENTS_PAGE
    rows = rows[:RECIPIENTS_PAGE]
    return state, after, rows, rows[-1]["id"] if more else None


async def _detail(request: Request, campaign_id: int, *, status: int = 200,
                  error: str | None = None, done: str | None = None) -> HTTPResponse:
    campaign = await _campaign(request, campaign_id)
    if campaign is None:
        return render(request, "campaigns/missing.html", status=404, campaign_id=campaign_id)
    store = request.app.ctx.appliance.store
    user = request.ctx.user
    approval = campaign["approval"]
    if (approval is not None and approval["user_id"] == user.id and not approval["seen"]
            and approval["state"] != "pending"):
        # The submitter is looking at the outcome: it is no longer news.
        await store.write(lambda: campaigns_store.mark_seen(user.id, [approval["id"]]))
    state, after, recipients, next_after = await _recipients(request, campaign_id)
    return render(request, "campaigns/detail.html", status=status, campaign=campaign,
                  recipients=recipients, state=state, after=after, next_after=next_after,
                  filters=campaigns_store.FILTERS, may_control=_may_control(request, campaign),
                  error=error, done=done, decisions=await _decisions(request),
                  people=await _people(request))


@bp.get("/campaigns/<campaign_id:int>")
@page("read")
async def campaign_detail(request: Request, campaign_id: int) -> HTTPResponse:
    done = request.args.get("done")
    return await _detail(request, campaign_id,
                         done=done if done in ("pause", "resume", "cancel") else None)


@bp.get("/campaigns/<campaign_id:int>/progress")
@page("read")
async def campaign_progress(request: Request, campaign_id: int) -> HTTPResponse:
    campaign = await _campaign(request, campaign_id)
    if campaign is None:
        return fragment(request, "campaigns/_gone.html", status=404)
    return fragment(request, "campaigns/_progress.html", campaign=campaign,
                    may_control=_may_control(request, campaign), people=await _people(request))


@bp.get("/campaigns/<campaign_id:int>/recipients")
@page("read")
async def campaign_recipients(request: Request, campaign_id: int) -> HTTPResponse:
    """The recipients table alone (its live refresh: states and errors as they change)."""
    _, _, recipients, _ = await _recipients(request, campaign_id)
    return fragment(request, "campaigns/_recipients.html", recipients=recipients)


CONTROLS = {"pause": control.pause, "resume": control.resume, "cancel": control.cancel}


@bp.post("/campaigns/<campaign_id:int>/<action:str>")
@page("send")
async def campaign_control(request: Request, campaign_id: int, action: str) -> HTTPResponse:
    if action not in CONTROLS:
        return render(request, "campaigns/missing.html", status=404, campaign_id=campaign_id)
    campaign = await _campaign(request, campaign_id)
    if campaign is None:
        return render(request, "campaigns/missing.html", status=404, campaign_id=campaign_id)
    if not _may_control(request, campaign):
        return await _detail(request, campaign_id, status=403, error=text(
            request, "Only the campaign's creator or an administrator may pause, resume or "
                     "cancel it."))
    appliance = request.app.ctx.appliance
    actor = request.ctx.user.name
    try:
        ids = await CONTROLS[action](appliance.dispatcher, campaign_id, actor)
    except CampaignProblem as exc:
        return await _detail(request, campaign_id, status=409, error=_campaign_error(
            request, action, exc))
    audit_change(request, f"campaign.{action}", f"campaign:{campaign_id}",
                 {"messages": len(ids)})
    return redirect(f"/console/campaigns/{campaign_id}?done={action}", status=303)


def _campaign_error(request: Request, action: str, exc: CampaignProblem) -> str:
    if "approval" in exc.message:
        return text(request, "This campaign waits for approval: nothing of it is being sent "
                             "yet. Cancel it, or wait for the decision.")
    messages = {
        "pause": "Only an active campaign can be paused.",
        "resume": "Only a paused campaign can be resumed.",
        "cancel": "This campaign is cancelled already.",
    }
    return text(request, messages[action])


@bp.post("/campaigns/decisions/seen")
@page("read")
async def decisions_seen(request: Request) -> HTTPResponse:
    user_id = request.ctx.user.id
    await request.app.ctx.appliance.store.write(lambda: campaigns_store.mark_seen(user_id))
    return redirect("/console/campaigns", status=303)


# -- approvals --------------------------------------------------------------------------------


def _decider(request: Request) -> Decider:
    user = request.ctx.user
    return Decider(name=user.name, user_id=user.id, department_id=user.department_id,
                   every_department=_is_admin(request))


async def _approvals_page(request: Request, *, status: int = 200,
                          errors: dict[int, str] | None = None,
                          reasons: dict[int, str] | None = None,
                          done: str | None = None) -> HTTPResponse:
    appliance = request.app.ctx.appliance

    def load() -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[int, str],
                        dict[int, str]]:
        pending = approvals_store.listing(state="pending", limit=APPROVALS_PAGE)
        decided = [a for a in approvals_store.listing(limit=APPROVALS_PAGE)
                   if a["state"] != "pending"][:10]
        user_ids = {a["submitter"]["user_id"] for a in pending + decided} - {None}
        users = {}
        for uid in user_ids:
            info = accounts_store.get_user(uid)
            if info is not None:
                users[uid] = info.display_name or info.name
        departments = {d["id"]: d["name"] for d in accounts_store.list_departments()}
        return pending, decided, users, departments

    pending, decided, users, departments = await appliance.store.read(load)
    sims, backlog = appliance.dispatcher.send_capacity()
    now = appliance.dispatcher.now()
    decider = _decider(request)
    for a in pending:
        a["estimate"] = estimate_finish(a["recipients"], a["parts"], sims, now,
                                        backlog_parts=backlog)
        row = _Row(a)
        a["own"] = decider.is_submitter_of(row)
        a["other_department"] = not decider.may_decide_for(row)
    return render(request, "campaigns/approvals.html", status=status, pending=pending,
                  decided=decided, users=users, departments=departments,
                  errors=errors or {}, reasons=reasons or {}, done=done,
                  people=await _people(request))


class _Row:
    """An approval's view as the Decider's rules read it (they take the stored row)."""

    def __init__(self, view: dict[str, Any]):
        self.user_id = view["submitter"]["user_id"]
        self.api_key_id = view["submitter"]["api_key_id"]
        self.department_id = view["submitter"]["department_id"]


@bp.get("/approvals")
@page("approve")
async def approvals(request: Request) -> HTTPResponse:
    done = request.args.get("done")
    return await _approvals_page(request, done=done if done in ("approved", "rejected")
                                 else None)


def _approval_error(request: Request, exc: ApprovalProblem) -> str:
    messages = {
        "not_found": "No such request waits for approval.",
        "own_request": "You submitted this request: another approver must decide it.",
        "other_department": "This request is another department's: its own approvers (or an "
                            "administrator) decide it.",
        "already_decided": "This request was decided already.",
        "nothing_held": "Every message of this request was cancelled or has expired: there "
                        "is nothing to approve. Reject it to close it.",
        "invalid_field": "Give a reason for the rejection.",
    }
    return text(request, messages.get(exc.code, "The decision could not be made."))


@bp.post("/approvals/<approval_id:int>/approve")
@page("approve")
async def approve(request: Request, approval_id: int) -> HTTPResponse:
    appliance = request.app.ctx.appliance
    try:
        released = await approval_policy.approve(appliance.dispatcher, appliance.hub,
                                                 approval_id, _decider(request))
    except ApprovalProblem as exc:
        return await _approvals_page(request, status=409,
                                     errors={approval_id: _approval_error(request, exc)})
    audit_change(request, "approval.approve", f"approval:{approval_id}",
                 {"messages": len(released)})
    return redirect("/console/approvals?done=approved", status=303)


@bp.post("/approvals/<approval_id:int>/reject")
@page("approve")
async def reject(request: Request, approval_id: int) -> HTTPResponse:
    appliance = request.app.ctx.appliance
    reason = ((request.form or {}).get("reason") or "").strip()
    if not reason:
        return await _approvals_page(request, status=400, errors={
            approval_id: text(request, "Give a reason for the rejection.")})
    if len(reason) > approvals_store.MAX_REASON:
        return await _approvals_page(request, status=400, reasons={approval_id: reason},
                                     errors={approval_id: text(
                                         request, "At most {n} characters.",
                                         n=approvals_store.MAX_REASON)})
    try:
        cancelled = await approval_policy.reject(appliance.dispatcher, appliance.hub,
                                                 approval_id, _decider(request), reason)
    except ApprovalProblem as exc:
        return await _approvals_page(request, status=409, reasons={approval_id: reason},
                                     errors={approval_id: _approval_error(request, exc)})
    audit_change(request, "approval.reject", f"approval:{approval_id}",
                 {"messages": len(cancelled), "reason": reason})
    return redirect("/console/approvals?done=rejected", status=303)
