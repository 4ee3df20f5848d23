"""Marketing consent: a marketing message (category "marketing") goes only to numbers that
may get it.

Knows: the rule. A number whose consent is withdrawn (it replied 退订/TD/STOP, or staff
entered so) never gets marketing, whatever the setting, even after its blacklist entry was
removed by hand; with `[consent] required_for_marketing`, a number must have granted consent
(imported as such, replied 订阅/START, entered by staff). The others are left out of the send
with the reason (`Draft.leave_out`), reported to the submitter as `rejected`.
Must not know: SQL (`store.consent`), HTTP, how consent is recorded (the rules engine and the
contacts API do that), what a notice or an alert is (only marketing needs consent).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from appliance.config import ConsentConfig
from appliance.policy.layer import Check, Draft
from appliance.store import consent as consent_store
from appliance.store.writer import Store

MARKETING = "marketing"
NO_CONSENT = "no marketing consent"
WITHDRAWN = "no marketing consent: withdrawn"


def marketing_refusal(consent: Mapping[str, Any] | None, required: bool) -> str | None:
    """Why a number with `consent` (its stored record, None when unknown) may not get
    marketing, or None when it may."""
    state = consent["state"] if consent else "unknown"
    if state == "withdrawn":
        return WITHDRAWN
    if required and state != "granted":
        return NO_CONSENT
    return None


class ConsentCheck(Check):
    """Leaves out of a marketing send the numbers without the consent it needs."""

    name = "consent"

    def __init__(self, config: ConsentConfig, store: Store):
        self.config = config
        self.store = store

    async def admit(self, draft: Draft) -> None:
        if draft.request.category != MARKETING:
            return
        numbers = [row.recipient for row in draft.rows]
        on_file = await self.store.read(lambda: consent_store.of_numbers(numbers))
        why = [marketing_refusal(on_file.get(n), self.config.required_for_marketing)
               for n in numbers]
        if any(why):
            draft.leave_out([w is None for w in why], [w or "" for w in why])




def contact_consent(numbers: list[str],
                    on_file: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """A contact's consent as the contacts API shows it: {state, source, at} when all its
    numbers agree (the latest record's source and date), state "mixed" when they do not
    (`numbers` then says each one's), "unknown" when none is on file."""
    each = {n: on_file.get(n) for n in numbers}
    states = {(c["state"] if c else "unknown") for c in each.values()}
    records = sorted((c for c in each.values() if c), key=lambda c: c["at"])
    latest = records[-1] if records else None
    state = states.pop() if len(states) == 1 else ("unknown" if not states else "mixed")
    return {"state": state,
            "source": latest["source"] if latest and state != "unknown" else None,
            "at": latest["at"] if latest and state != "unknown" else None,
            "numbers": {n: (c["state"] if c else "unknown") for n, c in each.items()}}


__all__ = ["ConsentCheck", "NO_CONSENT", "WITHDRAWN", "contact_consent", "marketing_refusal"]
