"""Approval of sends: departments' rules, approval records, and their decisions.

Knows: the `approval_rule`, `approval` and `approval_message` tables; that an approval's
messages wait `held` and leave it only by its decision (approved: queued; rejected:
cancelled), in the decision's own transaction; that a decider may not decide their own
request.
Must not know: which requests need approval (policy.approval decides from the rules read
here), the dispatcher's queue (it indexes what `approve` released), HTTP.

Every function runs inside `Store.write` or `Store.read`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import peewee

from appliance.store import messages as outbox
from appliance.store.db import utcnow
from appliance.store.models import Approval, ApprovalMessage, ApprovalRule, Message
from appliance.store.states import MessageState

M = MessageState

MODES = ("none", "all", "above", "category")
STATES = ("pending", "approved", "rejected")
FIRST_RECIPIENTS = 5  # shown with an approval, so the approver sees whom it goes to
MAX_REASON = 500
MAX_ABOVE = 1_000_000


class ApprovalProblem(ValueError):
    """A decision that cannot be made: `code` (not_found, own_request, already_decided,
    nothing_held, invalid_field), `field` when the request is at fault."""

    def __init__(self, code: str, message: str, field: str | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


@dataclass(frozen=True)
class Rule:
    """When a request needs approval: `mode` none / all / above (more than `above`
    recipients) / category (its category is one of `categories`)."""

    mode: str = "none"
    above: int = 0
    categories: tuple[str, ...] = ()

    def needs_approval(self, recipients: int, category: str) -> bool:
        if self.mode == "all":
            return True
        if self.mode == "above":
            return recipients > self.above
        if self.mode == "category":
            return category in self.categories
        return False

    def as_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "above": self.above, "categories": list(self.categories)}


def check_rule(mode: Any, above: Any, categories: Any, known_categories: tuple[str, ...]) -> Rule:
    """A valid Rule, or ApprovalProblem naming the field."""
    if mode not in MODES:
        raise ApprovalProblem("invalid_field", f"mode: must be one of {', '.join(MODES)}",
                              "mode")
    # At most MAX_ABOVE: it is stored in a 32-bit column (more recipients than any request
    # may have means "never" anyway).
    if isinstance(above, bool) or not isinstance(above, int) or not 0 <= above <= MAX_ABOVE:
        raise ApprovalProblem("invalid_field", f"above: must be a whole number of recipients "
                                               f"from 0 to {MAX_ABOVE}", "above")
    if not isinstance(categories, list | tuple) or not all(
            isinstance(c, str) and c in known_categories for c in categories):
        raise ApprovalProblem("invalid_field", f"categories: must be a list of "
                                               f"{', '.join(known_categories)}", "categories")
    if mode == "category" and not categories:
        raise ApprovalProblem("invalid_field", "categories: mode category needs at least one",
                              "categories")
    return Rule(mode, above, tuple(dict.fromkeys(categories)))


def rule_of(department_id: int | None) -> Rule | None:
    """The department's own rule, or None (the box default applies)."""
    if department_id is None:
        return None
    # Plain SQL, its text cached: asked once per send request of a department, where
    # peewee's query building cost several times the primary-key probe itself.
    db = ApprovalRule._meta.database
    db = getattr(db, "obj", None) or db
    row = db.execute_sql(_rule_sql(db.param, db.quote), [department_id]).fetchone()
    if row is None:
        return None
    mode, above, categories = row
    return Rule(mode, above, tuple(c for c in (categories or "").split(",") if c))


@functools.lru_cache(maxsize=4)
def _rule_sql(param: str, quotes: str) -> str:
    def q(name: str) -> str:
        return name.join(quotes)

    return (f"SELECT {q('mode')}, {q('above')}, {q('categories')} FROM {q('approval_rule')} "
            f"WHERE {q('department_id')} = {param}")


def set_rule(department_id: int, rule: Rule, now: datetime | None = None) -> None:
    now = now or utcnow()
    values = {"mode": rule.mode, "above": rule.above,
              "categories": ",".join(rule.categories), "updated_at": now}
    if ApprovalRule.update(**values).where(
            ApprovalRule.department_id == department_id).execute() == 0:
        ApprovalRule.create(department_id=department_id, **values)


def delete_rule(department_id: int) -> bool:
    return ApprovalRule.delete().where(ApprovalRule.department_id == department_id).execute() > 0


def list_rules() -> list[dict[str, Any]]:
    return [{"department_id": r.department_id, **rule_of(r.department_id).as_dict()}
            for r in ApprovalRule.select().order_by(ApprovalRule.department_id)]


# -- records ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Submitter:
    """Who asked (the request's Origin, as stored)."""

    door: str
    address: str = ""
    api_key_id: int | None = None
    user_id: int | None = None
    department_id: int | None = None
    role: str | None = None


@dataclass(frozen=True)
class Decider:
    """Who decides: a user (when the caller is bound to one) and/or an API key, and the name
    recorded ("rejected by <name>")."""

    name: str
    api_key_id: int | None = None
    user_id: int | None = None
    department_id: int | None = None
    """The approver's department: a department's approver decides that department's requests
    (the approval rule is per department, and so is the responsibility)."""
    every_department: bool = False  # an admin decides for every department

    def may_decide_for(self, row: Approval) -> bool:
        """An approver without a department (box-wide) or an admin decides any request; one
        of a department, that department's and those of no department."""
        return (self.every_department or self.department_id is None
                or row.department_id is None or row.department_id == self.department_id)

    def is_submitter_of(self, row: Approval) -> bool:
        """An approver cannot decide their own request: the same user when both are bound to
        users, else the same API key."""
        if self.user_id is not None and row.user_id is not None:
            return self.user_id == row.user_id
        return self.api_key_id is not None and self.api_key_id == row.api_key_id


def create(submitter: Submitter, *, category: str, text: str, recipients: int, parts: int,
           now: datetime | None = None) -> int:
    """A pending approval; its messages are linked as they are accepted (acceptance)."""
    row = Approval.create(state="pending", door=submitter.door, address=submitter.address[:64],
                          api_key_id=submitter.api_key_id, user_id=submitter.user_id,
                          department_id=submitter.department_id, role=submitter.role,
                          category=category, text=text, recipients=recipients, parts=parts,
                          created_at=now or utcnow(), reason="")
    return row.id


def approval_of(message_ids: list[int]) -> dict[int, tuple[int, str]]:
    """message id -> (approval id, approval state), for those of `message_ids` that have one."""
    if not message_ids:
        return {}
    rows = (ApprovalMessage.select(ApprovalMessage.message, Approval.id, Approval.state)
            .join(Approval).where(ApprovalMessage.message.in_(message_ids)).tuples())
    return {mid: (aid, state) for mid, aid, state in rows}


def _messages(approval_id: int) -> peewee.Query:
    return (Message.select(Message.id, Message.recipient, Message.state)
            .join(ApprovalMessage, on=ApprovalMessage.message == Message.id)
            .where(ApprovalMessage.approval == approval_id).order_by(Message.id))


def _view(row: Approval, messages: list[tuple[int, str, str]] | None = None) -> dict[str, Any]:
    if messages is None:
        messages = list(_messages(row.id).limit(FIRST_RECIPIENTS).tuples())
    return {
        "id": row.id, "state": row.state, "category": row.category, "text": row.text,
        "recipients": row.recipients, "parts": row.parts,
        "first_recipients": [r for _, r, _ in messages[:FIRST_RECIPIENTS]],
        "submitter": {"door": row.door, "address": row.address, "api_key_id": row.api_key_id,
                      "user_id": row.user_id, "department_id": row.department_id,
                      "role": row.role},
        "created_at": row.created_at, "decided_by": row.decided_by or None,
        "decided_at": row.decided_at, "reason": row.reason or None,
    }


def _visible(row: Approval | None, submitter_key: int | None,
             submitter_user: int | None = None) -> bool:
    """Whether the caller may see it: an approver sees every one (`submitter_key` and
    `submitter_user` None), a submitter its own: a user's (whichever of their keys sent it),
    else a key's. Orphans (their messages were never committed) are nobody's."""
    if row is None:
        return False
    if submitter_user is not None:
        if row.user_id != submitter_user:
            return False
    elif submitter_key is not None and row.api_key_id != submitter_key:
        return False
    return ApprovalMessage.select().where(ApprovalMessage.approval == row.id).exists()


def get(approval_id: int, *, submitter_key: int | None = None,
        submitter_user: int | None = None) -> dict[str, Any]:
    """One approval with its messages' ids and states; ApprovalProblem not_found."""
    row = Approval.get_or_none(Approval.id == approval_id)
    if not _visible(row, submitter_key, submitter_user):
        raise ApprovalProblem("not_found", f"no approval with id {approval_id}")
    messages = list(_messages(approval_id).tuples())
    view = _view(row, messages)
    view["messages"] = [{"id": mid, "to": to, "state": state} for mid, to, state in messages]
    return view


def listing(*, state: str | None = None, submitter_key: int | None = None,
            submitter_user: int | None = None, before: int | None = None,
            limit: int = 100) -> list[dict[str, Any]]:
    """Approvals newest first (those with messages); of one state, of one submitting user
    (whichever key) or else of one submitting key."""
    linked = ApprovalMessage.select(ApprovalMessage.message).where(
        ApprovalMessage.approval == Approval.id)
    query = Approval.select().where(peewee.fn.EXISTS(linked))
    if state is not None:
        query = query.where(Approval.state == state)
    if submitter_user is not None:
        query = query.where(Approval.user_id == submitter_user)
    elif submitter_key is not None:
        query = query.where(Approval.api_key_id == submitter_key)
    if before is not None:
        query = query.where(Approval.id < before)
    return [_view(r) for r in query.order_by(Approval.id.desc()).limit(limit)]


def _pending(approval_id: int, decider: Decider) -> Approval:
    row = Approval.get_or_none(Approval.id == approval_id)
    if not _visible(row, None):
        raise ApprovalProblem("not_found", f"no approval with id {approval_id}")
    if row.state != "pending":
        raise ApprovalProblem("already_decided", f"approval {approval_id} was already "
                                                 f"{row.state} by {row.decided_by}")
    if decider.is_submitter_of(row):
        raise ApprovalProblem("own_request", "an approver cannot approve or reject their own "
                                             "request: another approver must decide")
    if not decider.may_decide_for(row):
        raise ApprovalProblem("other_department", f"approval {approval_id} is for another "
                              "department's request: its own approvers (or an admin) decide")
    return row


def _decide(row: Approval, state: str, decider: Decider, reason: str, now: datetime) -> None:
    changed = Approval.update(state=state, decided_by=decider.name[:255],
                              decided_by_key_id=decider.api_key_id,
                              decided_by_user_id=decider.user_id, decided_at=now,
                              reason=reason).where(
        (Approval.id == row.id) & (Approval.state == "pending")).execute()
    if changed != 1:
        raise ApprovalProblem("already_decided", f"approval {row.id} was decided meanwhile")


def approve(approval_id: int, decider: Decider, now: datetime | None = None) -> list[int]:
    """Record the approval; the ids of its messages still held, which the caller releases
    (held -> queued) in this same transaction (Dispatcher.release)."""
    now = now or utcnow()
    row = _pending(approval_id, decider)
    held = [mid for mid, _, state in _messages(approval_id).tuples() if state == M.HELD.value]
    if not held:  # every message cancelled (DELETE, blacklist) or expired: nothing to release
        raise ApprovalProblem("nothing_held", f"approval {approval_id} has no message left to "
                                              f"send (all were cancelled or expired); reject it "
                                              f"to close it")
    _decide(row, "approved", decider, "", now)
    return held


def reject(approval_id: int, decider: Decider, reason: Any,
           now: datetime | None = None) -> list[int]:
    """Record the rejection and cancel its held messages, with the error "rejected by <who>:
    <reason>"; the ids cancelled."""
    if not isinstance(reason, str) or not reason.strip():
        raise ApprovalProblem("invalid_field", "reason: a rejection needs a reason (text)",
                              "reason")
    if len(reason) > MAX_REASON:
        raise ApprovalProblem("invalid_field", f"reason: at most {MAX_REASON} characters",
                              "reason")
    reason = reason.strip()
    now = now or utcnow()
    row = _pending(approval_id, decider)
    _decide(row, "rejected", decider, reason, now)
    error = f"rejected by {decider.name}: {reason}"
    cancelled = []
    for mid, _, state in _messages(approval_id).tuples():
        if state == M.HELD.value:
            outbox.transition_message(mid, M.CANCELLED, error, error=error, now=now)
            cancelled.append(mid)
    return cancelled


__all__ = ["ApprovalProblem", "Decider", "MODES", "Rule", "STATES", "Submitter",
           "approval_of", "approve", "check_rule", "create", "delete_rule", "get", "list_rules",
           "listing", "reject", "rule_of", "set_rule"]
