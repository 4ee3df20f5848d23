"""The per-department recipient caps (migration 12's policy_recipient_cap table).

Knows: that table. Must not know: what a cap means (appliance.policy.recipient_cap), HTTP.
Runs inside `Store.read` / `Store.write`.
"""

from __future__ import annotations

from datetime import datetime

from appliance.store.models import PolicyRecipientCap


def all_caps() -> dict[int, int]:
    """department_id -> its cap."""
    return dict(PolicyRecipientCap.select(PolicyRecipientCap.department_id,
                                          PolicyRecipientCap.max_recipients).tuples())


def set_cap(department_id: int, max_recipients: int, now: datetime) -> None:
    PolicyRecipientCap.insert(department_id=department_id, max_recipients=max_recipients,
                              updated_at=now).on_conflict(
        conflict_target=[PolicyRecipientCap.department_id],
        update={PolicyRecipientCap.max_recipients: max_recipients,
                PolicyRecipientCap.updated_at: now}).execute()


def delete_cap(department_id: int) -> bool:
    """Whether there was one."""
    return bool(PolicyRecipientCap.delete()
                .where(PolicyRecipientCap.department_id == department_id).execute())


__all__ = ["all_caps", "delete_cap", "set_cap"]
