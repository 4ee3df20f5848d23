"""Approval: the sends that wait for an approver, and the way out of `held` that a decision is.

Knows: which requests need approval (the submitter's department's rule, else the box default
of `[approval]`: none / all / above N recipients / by category), that such a request is
stored with every message `held` and linked to one approval record (written first; the
messages carry its id and are linked in their own transaction, so no held message is ever
without its approval), and what a decision does: approved, the held messages are released to
the dispatcher (held -> queued, in the decision's transaction); rejected, they are cancelled
with "rejected by <who>: <reason>". Either way the hub hears `ApprovalDecided` (webhooks:
`approval.decided`) and the messages' own state changes.
Must not know: HTTP (the API maps ApprovalProblem to its errors), who may decide (the API's
`approve` scope), modems.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from appliance.dispatch.engine import Dispatcher
from appliance.hub import ApprovalDecided, EventHub
from appliance.policy.layer import Check, Draft
from appliance.store import approvals
from appliance.store.approvals import Decider, Rule
from appliance.store.messages import with_changes
from appliance.store.states import MessageState
from appliance.store.writer import Store

PENDING_APPROVAL = "pending_approval"
"""What the API shows for a message held for an approval still open (its stored state is
`held`)."""


UNATTENDED_DOORS = frozenset({"system", "rules"})
"""Never held: the appliance's own messages (an unsubscribe confirmation must go at once) and
the auto-answers an admin set up (their text was decided when the rule was written)."""


class ApprovalCheck(Check):
    """Holds the requests that need approval (the last check: only what will be sent waits)."""

    name = "approval"

    def __init__(self, store: Store, clock: Callable[[], datetime], default: Rule):
        self.store = store
        self.clock = clock
        self.default = default

    async def admit(self, draft: Draft) -> None:
        origin = draft.request.origin
        if origin.door in UNATTENDED_DOORS:
            return
        department = origin.department_id
        rule = None
        if department is not None:
            rule = await self.store.read(lambda: approvals.rule_of(department))
        rule = rule or self.default
        if not rule.needs_approval(len(draft.rows), draft.request.category):
            return
        submitter = approvals.Submitter(
            door=origin.door, address=origin.address, api_key_id=origin.api_key_id,
            user_id=origin.user_id, department_id=department, role=origin.role)
        request, count, rows, now = draft.request, draft.count, draft.rows, draft.now
        approval_id = await self.store.write(lambda: approvals.create(
            submitter, category=request.category, text=request.text, recipients=len(rows),
            parts=count.parts, now=now))
        draft.rows = with_changes(draft.rows, hold=True, approval_id=approval_id)
        draft.notes[self.name] = {"id": approval_id, "state": PENDING_APPROVAL}

    async def accepted(self, draft: Draft, ids: list[int]) -> None:
        if self.name not in draft.notes or not ids:
            return
        # A replay of an earlier request (client_ref) stored nothing new: its messages wait
        # for the earlier request's approval, which is the one to tell of.
        first = ids[0]
        linked = await self.store.read(lambda: approvals.approval_of([first]))
        if first in linked:
            approval_id, state = linked[first]
            draft.notes[self.name] = {"id": approval_id, "state": shown_state(state)}


def shown_state(approval_state: str) -> str:
    return PENDING_APPROVAL if approval_state == "pending" else approval_state


async def approve(dispatcher: Dispatcher, hub: EventHub, approval_id: int,
                  decider: Decider) -> list[int]:
    """Approve: its held messages go to the queue (one transaction with the decision).
    ApprovalProblem when it cannot be (not found, decided, the decider's own)."""
    now = dispatcher.now()
    released = await dispatcher.release(
        lambda: approvals.approve(approval_id, decider, now), f"approved by {decider.name}")
    hub.publish(ApprovalDecided(approval_id=approval_id, state="approved",
                                decided_by=decider.name, reason="",
                                message_ids=tuple(released)))
    return released


async def reject(dispatcher: Dispatcher, hub: EventHub, approval_id: int, decider: Decider,
                 reason: object) -> list[int]:
    """Reject with a reason: its held messages are cancelled, the error naming who and why."""
    now = dispatcher.now()
    cancelled = await dispatcher.store.write(
        lambda: approvals.reject(approval_id, decider, reason, now))
    for mid in cancelled:
        dispatcher.emit(mid, MessageState.CANCELLED.value)
    hub.publish(ApprovalDecided(approval_id=approval_id, state="rejected",
                                decided_by=decider.name, reason=str(reason).strip(),
                                message_ids=tuple(cancelled)))
    return cancelled
