"""Campaigns in the store: creation (the compose lane's entry point)."""

from __future__ import annotations

import pytest

from appliance.store import campaigns
from appliance.store.campaigns import CampaignProblem
from appliance.store.models import Campaign
from appliance.store.writer import Store


async def test_create_campaign_returns_its_id(store: Store):
    cid = await store.write(lambda: campaigns.create_campaign(
        "  Heating notice  ", created_by="li", user_id=3, department_id=2, priority=1))
    row = await store.read(lambda: Campaign.get_by_id(cid))
    assert (row.name, row.created_by, row.user_id, row.department_id, row.priority,
            row.state) == ("Heating notice", "li", 3, 2, 1, "active")


async def test_a_campaign_needs_a_name(store: Store):
    with pytest.raises(CampaignProblem) as err:
        await store.write(lambda: campaigns.create_campaign("  "))
    assert err.value.field == "name"
