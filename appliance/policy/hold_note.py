"""The note a submitter gets when what they send will wait for quiet hours or maintenance to
end ("goes at 08:00"): the response's `policy.waiting`.

Knows: the holds in force (appliance.policy.holds via Maintenance's schedule).
Must not know: HTTP, the dispatcher. It only tells: the dispatcher holds the messages back
when it claims (so nothing is rewritten here, and a hold that ends early lets them go early).
"""

from __future__ import annotations

from appliance.policy.holds import QUIET_HOURS, HoldSchedule
from appliance.policy.layer import Check, Draft


class HoldNote(Check):
    name = "waiting"

    def __init__(self, schedule: HoldSchedule):
        self.schedule = schedule

    async def admit(self, draft: Draft) -> None:
        send_at = draft.request.send_at
        at = draft.now if send_at is None or send_at <= draft.now else send_at
        # The rules' state at `at`, not the cached one: a scheduled send looks ahead.
        state = self.schedule.state(at) if at is draft.now else \
            self.schedule.rules.state_at(at)
        hold = state.hold_of(draft.request.category)
        if hold is None:
            return
        what = "quiet hours" if hold.reason == QUIET_HOURS else "maintenance"
        when = ("until maintenance is switched off" if hold.until is None
                else f"at {hold.until.astimezone(self.schedule.rules.tz).isoformat()}")
        draft.notes[self.name] = {
            "reason": hold.reason,
            "until": None if hold.until is None else hold.until.isoformat(),
            "message": f"held back by {what}: {draft.request.category} messages go {when}",
        }


__all__ = ["HoldNote"]
