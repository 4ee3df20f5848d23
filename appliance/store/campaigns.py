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

from datetime import datetime

from appliance.store.db import utcnow
from appliance.store.models import Campaign

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


__all__ = ["CampaignProblem", "MAX_NAME", "STATES", "create_campaign"]
