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


# -- control and reading, in the store alone (the dispatcher's side: tests/dispatch) ----------

from appliance.store import approvals  # noqa: E402
from appliance.store.messages import NewMessage, accept_messages  # noqa: E402


def _numbers(n: int) -> list[str]:
    return [f"+86139{i:08d}" for i in range(n)]


async def _with_messages(store: Store, n: int, **kw) -> tuple[int, list[int]]:
    def job() -> tuple[int, list[int]]:
        cid = campaigns.create_campaign("c", created_by="li", user_id=7)
        ids = accept_messages([NewMessage(r, "hi", campaign_id=cid, **kw) for r in _numbers(n)])
        return cid, ids
    return await store.write(job)


async def test_pause_holds_queued_messages_and_resume_gives_their_ids(store: Store):
    cid, ids = await _with_messages(store, 1200)  # more than one 500-id chunk
    held = await store.write(lambda: campaigns.pause(cid, "li"))
    assert sorted(held) == ids
    view = await store.read(lambda: campaigns.get_campaign(cid))
    assert view["state"] == "paused" and view["state_changed_by"] == "li"
    assert view["figures"]["held"] == 1200 and view["figures"]["total"] == 1200
    with pytest.raises(CampaignProblem):
        await store.write(lambda: campaigns.pause(cid, "li"))
    back = await store.write(lambda: campaigns.resume(cid, "li"))
    assert back == ids


async def test_a_campaign_waiting_for_approval_cannot_be_paused_and_resume_keeps_it_held(
        store: Store):
    def job() -> tuple[int, int, list[int]]:
        cid = campaigns.create_campaign("c", user_id=7)
        aid = approvals.create(approvals.Submitter(door="console", user_id=7), category="notice",
                               text="hi", recipients=3, parts=3)
        ids = accept_messages([NewMessage(r, "hi", campaign_id=cid, hold=True, approval_id=aid)
                               for r in _numbers(3)])
        return cid, aid, ids

    cid, aid, ids = await store.write(job)
    with pytest.raises(CampaignProblem) as err:
        await store.write(lambda: campaigns.pause(cid, "li"))
    assert "approval" in err.value.message
    view = await store.read(lambda: campaigns.get_campaign(cid))
    assert view["approval"]["id"] == aid and view["approval"]["state"] == "pending"
    # A resume (after a pause of the same campaign's other messages) never releases these.
    await store.write(lambda: campaigns.Campaign.update(state="paused").where(
        campaigns.Campaign.id == cid).execute())
    assert await store.write(lambda: campaigns.resume(cid, "li")) == []


async def test_recipients_are_keyset_paged_and_filtered_by_state(store: Store):
    cid, ids = await _with_messages(store, 25)
    cancelled, _ = await store.write(lambda: campaigns.cancel(cid, "li"))
    assert sorted(cancelled) == ids
    page1 = await store.read(lambda: campaigns.recipients(cid, limit=10))
    page2 = await store.read(lambda: campaigns.recipients(cid, after=page1[-1]["id"], limit=10))
    assert [r["id"] for r in page1 + page2] == ids[:20]
    assert page1[0]["error"] == "campaign cancelled by li"
    assert await store.read(lambda: campaigns.recipients(cid, state="waiting")) == []
    assert len(await store.read(lambda: campaigns.recipients(cid, state="cancelled"))) == 25
    listed = await store.read(lambda: campaigns.listing(limit=5))
    assert listed[0]["id"] == cid and listed[0]["figures"]["cancelled"] == 25


async def test_the_submitter_sees_each_decision_once(store: Store):
    def job() -> int:
        aid = approvals.create(approvals.Submitter(door="console", user_id=7), category="notice",
                               text="hi", recipients=1, parts=1)
        accept_messages([NewMessage("+8613900000001", "hi", hold=True, approval_id=aid)])
        approvals.reject(aid, approvals.Decider(name="boss", user_id=8), "wrong text")
        return aid

    aid = await store.write(job)
    assert await store.read(lambda: campaigns.unseen_decisions(7)) == 1
    seen = await store.read(lambda: campaigns.recent_decisions(7))
    assert seen[0]["id"] == aid and seen[0]["reason"] == "wrong text"
    assert await store.write(lambda: campaigns.mark_seen(7, [aid])) == 1
    assert await store.read(lambda: campaigns.unseen_decisions(7)) == 0
