"""Campaigns: one send to many recipients, under a name, that its creator can follow, pause,
resume and cancel.

Knows: the `campaign` table and its messages (message.campaign_id), how to count a campaign's
progress from the index (campaign_id, state, id) without scanning the message table.
Must not know: HTTP, the dispatcher's queue (the dispatcher drops what a pause held and indexes
what a resume released: see appliance.dispatch.campaigns).

Every function runs inside `Store.write` or `Store.read`, e.g.
`cid = await store.write(lambda: campaigns.create_campaign("Notice", created_by="li",
user_id=3, department_id=1, priority=0))`.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import peewee

from appliance.store import messages as outbox
from appliance.store.db import utcnow
from appliance.store.models import Approval, ApprovalMessage, Campaign, Message
from appliance.store.states import TERMINAL_MESSAGE_STATES, MessageState

M = MessageState

MAX_NAME = 255
STATES = ("active", "paused", "cancelled")


class CampaignProblem(ValueError):
    """A campaign request that cannot be done: `code` (not_found, invalid_field, state),
    `field` when the request is at fault."""

    def __init__(self, code: str, message: str, field: str | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


def create_campaign(name: str, *, created_by: str = "", user_id: int | None = None,
                    department_id: int | None = None, priority: int = 0,
                    now: datetime | None = None) -> int:
    """Insert an active campaign; its id (give it to intake as SendRequest.campaign_id).

    `name` is stripped and cut to 255 characters; an empty one is CampaignProblem
    (invalid_field, field "name")."""
    if not isinstance(name, str) or not name.strip():
        raise CampaignProblem("invalid_field", "name: a campaign needs a name", "name")
    row = Campaign.create(name=name.strip()[:MAX_NAME], created_by=(created_by or "")[:255],
                          user_id=user_id, department_id=department_id, priority=int(priority),
                          created_at=now or utcnow(), state="active")
    return row.id


# -- reading ----------------------------------------------------------------------------------

WAITING = (M.HELD.value, M.QUEUED.value)
UNSETTLED = (M.HELD.value, M.QUEUED.value, M.SENDING.value)
"""States in which a message has not left yet (a campaign with none of them has finished
sending; `sent` ones may still turn delivered or failed)."""

_final_figures: dict[tuple, dict[str, int]] = {}
"""Figures of campaigns whose every message is in a final state: they never change again, so
they are counted once per process (the list shows old campaigns without counting them anew)."""


SETTLED_TTL = 30.0
"""Seconds the list reuses the figures of a campaign with nothing waiting or being sent (only
a late delivery report can still change them); a campaign's own page always counts anew."""
_settled_figures: dict[tuple, tuple[float, dict[str, int]]] = {}


def _key(row: Campaign) -> tuple:
    """A campaign's key in the caches: its database file, id and creation time (another
    database, a test's or a restored backup's, may have another campaign under the same id)."""
    db = Message._meta.database
    return (getattr(getattr(db, "obj", None) or db, "database", None), row.id, row.created_at)


def _count(rows: list[Campaign], *, settled_ttl: float = 0.0) -> dict[int, dict[str, int]]:
    """{campaign id: {state: count}}, counted from the index (campaign_id, state, id); with
    `settled_ttl`, settled campaigns counted less than that many seconds ago are not counted
    again (the list: twenty campaigns of 50,000 each would otherwise cost a million index
    entries per view)."""
    out: dict[int, dict[str, int]] = {row.id: {} for row in rows}
    clock = time.monotonic()
    keys = {row.id: _key(row) for row in rows}
    todo = []
    for cid, key in keys.items():
        if key in _final_figures:
            out[cid] = dict(_final_figures[key])
        elif settled_ttl and key in _settled_figures \
                and clock - _settled_figures[key][0] < settled_ttl:
            out[cid] = dict(_settled_figures[key][1])
        else:
            todo.append(cid)
    if todo:
        query = (Message.select(Message.campaign, Message.state, peewee.fn.COUNT(Message.id))
                 .where(Message.campaign.in_(todo))
                 .group_by(Message.campaign, Message.state).tuples())
        for cid, state, n in query:
            out[cid][state] = n
        for cache in (_final_figures, _settled_figures):
            if len(cache) > 10_000:  # bounded: a busy box's years of campaigns
                cache.clear()
        for cid in todo:
            states = out[cid]
            if states and all(M(s) in TERMINAL_MESSAGE_STATES for s in states):
                _final_figures[keys[cid]] = dict(states)
            elif states and not any(s in UNSETTLED for s in states):
                _settled_figures[keys[cid]] = (clock, dict(states))
    return out


def figures_of(states: dict[str, int]) -> dict[str, int]:
    """A campaign's progress as the console shows it: waiting (held or queued), sending, sent,
    delivered, failed (failed, expired, or ambiguous: not known to have arrived), cancelled,
    total, and done (the settled ones: delivered, failed, cancelled) with percentages."""
    g = states.get
    fig = {
        "waiting": g(M.HELD.value, 0) + g(M.QUEUED.value, 0),
        "held": g(M.HELD.value, 0),
        "sending": g(M.SENDING.value, 0),
        "sent": g(M.SENT.value, 0),
        "delivered": g(M.DELIVERED.value, 0),
        "failed": g(M.FAILED.value, 0) + g(M.EXPIRED.value, 0) + g(M.AMBIGUOUS.value, 0),
        "cancelled": g(M.CANCELLED.value, 0),
    }
    fig["total"] = sum(states.values())
    total = fig["total"] or 1
    for name in ("waiting", "sending", "sent", "delivered", "failed", "cancelled"):
        fig[f"{name}_pct"] = round(100.0 * fig[name] / total, 2)
    fig["unsettled"] = fig["waiting"] + fig["sending"]
    return fig


def _view(row: Campaign, states: dict[str, int],
          approval: dict[str, Any] | None) -> dict[str, Any]:
    fig = figures_of(states)
    shown = row.state
    if approval is not None and approval["state"] in ("pending", "rejected"):
        shown = "awaiting_approval" if approval["state"] == "pending" else "rejected"
    elif row.state == "active" and fig["total"] and not fig["unsettled"]:
        shown = "finished"
    return {"id": row.id, "name": row.name, "created_by": row.created_by,
            "user_id": row.user_id, "department_id": row.department_id,
            "priority": row.priority, "created_at": row.created_at, "state": row.state,
            "shown_state": shown, "state_changed_by": row.state_changed_by or None,
            "state_changed_at": row.state_changed_at, "figures": fig, "approval": approval}


def get_campaign(campaign_id: int) -> dict[str, Any]:
    """One campaign with its progress figures and its approval (None, or the approval's id,
    state, reason, decider); CampaignProblem not_found."""
    row = Campaign.get_or_none(Campaign.id == campaign_id)
    if row is None:
        raise CampaignProblem("not_found", f"no campaign {campaign_id}")
    return _view(row, _count([row])[campaign_id],
                 _approvals_of([campaign_id]).get(campaign_id))


def _approvals_of(campaign_ids: list[int]) -> dict[int, dict[str, Any]]:
    """The approval each campaign's messages were held for (those that had one), found from
    each campaign's first message (a campaign is one send request)."""
    first: dict[int, int] = {}
    for cid in campaign_ids:
        mid = (Message.select(Message.id).where(Message.campaign == cid)
               .order_by(Message.id).limit(1).scalar())
        if mid is not None:
            first[mid] = cid
    if not first:
        return {}
    rows = (Approval.select(Approval.id, Approval.state, Approval.reason, Approval.decided_by,
                            Approval.decided_at, Approval.user_id, Approval.submitter_seen_at,
                            ApprovalMessage.message.alias("message_id"))
            .join(ApprovalMessage, on=ApprovalMessage.approval == Approval.id)
            .where(ApprovalMessage.message.in_(list(first))).dicts())
    out = {}
    for row in rows:
        out[first[row["message_id"]]] = {
            "id": row["id"], "state": row["state"], "reason": row["reason"] or None,
            "decided_by": row["decided_by"] or None, "decided_at": row["decided_at"],
            "user_id": row["user_id"], "seen": row["submitter_seen_at"] is not None}
    return out


def listing(*, before: int | None = None, limit: int = 20,
            user_id: int | None = None) -> list[dict[str, Any]]:
    """Campaigns newest first (keyset: those with an id below `before`), with their figures;
    of one creator when `user_id` is given."""
    query = Campaign.select()
    if user_id is not None:
        query = query.where(Campaign.user_id == user_id)
    if before is not None:
        query = query.where(Campaign.id < before)
    rows = list(query.order_by(Campaign.id.desc()).limit(limit))
    ids = [r.id for r in rows]
    counts, approvals = _count(rows, settled_ttl=SETTLED_TTL), _approvals_of(ids)
    return [_view(r, counts[r.id], approvals.get(r.id)) for r in rows]


def recipients(campaign_id: int, *, state: str | None = None, after: int | None = None,
               limit: int = 100) -> list[dict[str, Any]]:
    """A campaign's messages in id order from after `after` (keyset), of one state or of the
    console's group of states ("waiting", "failed"): recipient, state, error, SIM, times."""
    fields = (Message.id, Message.recipient, Message.state, Message.error, Message.sim,
              Message.parts_count, Message.updated_at, Message.sent_at, Message.final_at)
    base = Message.select(*fields).where(Message.campaign == campaign_id)
    if after is not None:
        base = base.where(Message.id > after)
    if state is None:
        queries = [base]
    else:
        # One query per state, each walking its own stretch of the (campaign_id, state, id)
        # index in id order, merged here: with `state IN (...)` SQLite would walk the whole
        # campaign instead.
        queries = [base.where(Message.state == s) for s in STATE_GROUPS.get(state, (state,))]
    rows = sorted((r for q in queries for r in q.order_by(Message.id).limit(limit)),
                  key=lambda r: r.id)[:limit]
    return [{"id": r.id, "to": r.recipient, "state": r.state, "error": r.error or None,
             "sim": r.sim, "parts": r.parts_count, "updated_at": r.updated_at,
             "sent_at": r.sent_at, "final_at": r.final_at} for r in rows]


STATE_GROUPS: dict[str, tuple[str, ...]] = {
    "waiting": WAITING,
    "failed": (M.FAILED.value, M.EXPIRED.value, M.AMBIGUOUS.value),
}
FILTERS = ("waiting", "sending", "sent", "delivered", "failed", "cancelled")


# -- control ----------------------------------------------------------------------------------


def _load(campaign_id: int) -> Campaign:
    row = Campaign.get_or_none(Campaign.id == campaign_id)
    if row is None:
        raise CampaignProblem("not_found", f"no campaign {campaign_id}")
    return row


def _set_state(row: Campaign, state: str, actor: str, now: datetime) -> None:
    changed = Campaign.update(state=state, state_changed_by=actor[:255],
                              state_changed_at=now).where(
        (Campaign.id == row.id) & (Campaign.state == row.state)).execute()
    if changed != 1:
        raise CampaignProblem("state", f"campaign {row.id} changed meanwhile")


def _ids(campaign_id: int, states: tuple[str, ...]) -> list[int]:
    query = Message.select(Message.id).where(
        (Message.campaign == campaign_id) & Message.state.in_(states))
    return [row[0] for row in Message._meta.database.execute(query)]  # raw: 100,000 ids


def _waiting_for_approval(campaign_id: int) -> bool:
    return (ApprovalMessage.select().join(Approval)
            .join(Message, on=ApprovalMessage.message == Message.id)
            .where((Message.campaign == campaign_id) & (Message.state == M.HELD.value)
                   & (Approval.state == "pending")).exists())


def pause(campaign_id: int, actor: str, now: datetime | None = None) -> list[int]:
    """Pause: its queued messages are held (queued -> held, "paused by <actor>") so no SIM
    claims them; those a SIM has claimed, or part of which has left (pinned), finish. The
    ids held, which the dispatcher drops from its queue (dispatch.campaigns.pause)."""
    now = now or utcnow()
    row = _load(campaign_id)
    if row.state != "active":
        raise CampaignProblem("state", f"campaign {campaign_id} is {row.state}, not active")
    if _waiting_for_approval(campaign_id):
        raise CampaignProblem("state", f"campaign {campaign_id} waits for approval: nothing "
                                       "of it is sending yet")
    _set_state(row, "paused", actor, now)
    return outbox.move_many(_ids(campaign_id, (M.QUEUED.value,)), [M.QUEUED],
                            M.HELD, f"campaign paused by {actor}", now=now, unpinned_only=True)


def resume(campaign_id: int, actor: str, now: datetime | None = None) -> list[int]:
    """Resume a paused campaign: active again; the ids of its held messages that wait for no
    approval, which the caller releases (held -> queued) in this same transaction
    (Dispatcher.release, as an approval's decision is)."""
    now = now or utcnow()
    row = _load(campaign_id)
    if row.state != "paused":
        raise CampaignProblem("state", f"campaign {campaign_id} is {row.state}, not paused")
    _set_state(row, "active", actor, now)
    held = set(_ids(campaign_id, (M.HELD.value,)))
    if held:
        waiting = (ApprovalMessage.select(ApprovalMessage.message).join(Approval)
                   .join(Message, on=ApprovalMessage.message == Message.id)
                   .where((Message.campaign == campaign_id) & (Message.state == M.HELD.value)
                          & (Approval.state == "pending")).tuples())
        held -= {mid for (mid,) in waiting}
    return sorted(held)


def cancel(campaign_id: int, actor: str,
           now: datetime | None = None) -> tuple[list[int], list[int]]:
    """Cancel what has not left: its held and queued messages (not those pinned to a SIM, part
    of which has left: they finish) are cancelled, "campaign cancelled by <actor>". Returns
    (the ids cancelled, the ids `sending`): of those, the dispatcher still cancels the ones
    waiting unstarted in a SIM's queue (Dispatcher.cancel); the others finish."""
    now = now or utcnow()
    row = _load(campaign_id)
    if row.state == "cancelled":
        raise CampaignProblem("state", f"campaign {campaign_id} is already cancelled")
    _set_state(row, "cancelled", actor, now)
    why = f"campaign cancelled by {actor}"
    cancelled = outbox.move_many(_ids(campaign_id, WAITING),
                                 [M.HELD, M.QUEUED], M.CANCELLED, why, now=now, error=why,
                                 unpinned_only=True)
    return cancelled, _ids(campaign_id, (M.SENDING.value,))


def may_control(row: dict[str, Any], user_id: int, is_admin: bool) -> bool:
    """The creator of a campaign, or an admin, pauses, resumes and cancels it."""
    return is_admin or (row["user_id"] is not None and row["user_id"] == user_id)


# -- the submitter's notice of decisions ------------------------------------------------------


def unseen_decisions(user_id: int) -> int:
    """How many of `user_id`'s approval requests were decided and not yet seen by them."""
    return (Approval.select().where((Approval.user_id == user_id)
                                    & Approval.submitter_seen_at.is_null()
                                    & (Approval.state != "pending")).count())


def recent_decisions(user_id: int, limit: int = 10) -> list[dict[str, Any]]:
    """`user_id`'s decided approval requests not yet seen, newest first, each with the
    campaign of its messages (None for a send outside a campaign)."""
    rows = list(Approval.select().where(
        (Approval.user_id == user_id) & Approval.submitter_seen_at.is_null()
        & (Approval.state != "pending")).order_by(Approval.id.desc()).limit(limit))
    out = []
    for r in rows:
        campaign = (Message.select(Message.campaign)
                    .join(ApprovalMessage, on=ApprovalMessage.message == Message.id)
                    .where(ApprovalMessage.approval == r.id).limit(1).scalar())
        out.append({"id": r.id, "state": r.state, "reason": r.reason or None,
                    "decided_by": r.decided_by or None, "decided_at": r.decided_at,
                    "text": r.text, "recipients": r.recipients, "campaign_id": campaign})
    return out


def mark_seen(user_id: int, approval_ids: list[int] | None = None,
              now: datetime | None = None) -> int:
    """The submitter has seen these decisions (all of theirs when None); how many."""
    cond = ((Approval.user_id == user_id) & Approval.submitter_seen_at.is_null()
            & (Approval.state != "pending"))
    if approval_ids is not None:
        if not approval_ids:
            return 0
        cond &= Approval.id.in_(approval_ids)
    return Approval.update(submitter_seen_at=now or utcnow()).where(cond).execute()


__all__ = ["CampaignProblem", "FILTERS", "MAX_NAME", "STATES", "STATE_GROUPS", "cancel",
           "create_campaign", "figures_of", "get_campaign", "listing", "mark_seen",
           "may_control", "pause", "recent_decisions", "recipients", "resume",
           "unseen_decisions"]
