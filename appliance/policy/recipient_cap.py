"""The per-send recipient cap: the number of recipients one send may have, as agreed with the
SMS provider (`[policy_limits] max_recipients_per_send`, and a department's own cap).

Knows: the caps (the default and each department's override, kept in memory and written
through to the store) and the refusal.
Must not know: HTTP, modems. Distinct from intake's `[dispatch] max_recipients`, the bound on a
request's size that protects the appliance: this one is a contract, and names itself so.

The count is the recipients as asked (`len(request.to)`, before blacklist or dedupe leave any
out), checked in `prepare`, before 10,000 numbers are parsed for nothing. A department's cap
replaces the default, larger or smaller; 0 (as a default) means no cap.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from appliance.policy.layer import Check
from appliance.store import recipient_caps as caps_store
from appliance.store.writer import Store

if TYPE_CHECKING:
    from appliance.dispatch.intake import SendRequest

MAX_CAP = 1_000_000


class RecipientCap(Check):
    name = "recipient_cap"

    def __init__(self, store: Store, default: int, departments: dict[int, int] | None = None):
        self.store = store
        self.default = default
        self.departments: dict[int, int] = dict(departments or {})

    async def load(self) -> None:
        self.departments = await self.store.read(caps_store.all_caps)

    def cap_for(self, department_id: int | None) -> int:
        if department_id is not None and department_id in self.departments:
            return self.departments[department_id]
        return self.default

    def prepare(self, request: SendRequest) -> SendRequest:
        department = request.origin.department_id
        cap = self.cap_for(department)
        count = len(request.to) if isinstance(request.to, list | tuple) else 1
        if cap and count > cap:
            from appliance.dispatch.intake import PolicyRefused

            whose = (f"department {department}'s cap" if department in self.departments
                     else "the cap agreed with the provider")
            raise PolicyRefused("recipient_cap", "to",
                                f"{count} recipients; at most {cap} per send ({whose})",
                                recipients=count, max_recipients=cap)
        return request

    async def set_department(self, department_id: int, cap: int, now: datetime) -> None:
        await self.store.write(lambda: caps_store.set_cap(department_id, cap, now))
        self.departments[department_id] = cap

    async def clear_department(self, department_id: int) -> bool:
        had = await self.store.write(lambda: caps_store.delete_cap(department_id))
        self.departments.pop(department_id, None)
        return had


__all__ = ["MAX_CAP", "RecipientCap"]
