"""Pause, resume and cancel of a campaign against the real dispatcher on simulated modems.

The modems' own record (what PDUs they took) is the witness: a paused campaign makes them take
nothing more once what was already being sent has finished; a resume finishes it, each message
exactly once; a cancel cancels what had not left.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from appliance.dispatch import campaigns as control
from appliance.store import campaigns
from appliance.store.campaigns import CampaignProblem
from tests.dispatch.conftest import new, numbers

COUNT = 60


async def _campaign(rig, count: int = COUNT) -> tuple[int, list[int]]:
    store = rig.dispatcher.store
    cid = await store.write(lambda: campaigns.create_campaign("notice", created_by="li",
                                                              user_id=1))
    ids = await rig.submit(new(r, f"campaign {i}", campaign_id=cid)
                           for i, r in enumerate(numbers(count)))
    return cid, ids


def _taken(rig) -> Counter:
    return Counter(a.submit.text for _, a in rig.accepted())


async def _settled_in_flight(rig, ids: list[int]) -> dict[int, str]:
    """Until nothing of `ids` is being sent (what a SIM had claimed has finished)."""
    states: dict[int, str] = {}

    async def quiet() -> bool:
        nonlocal states
        states = await rig.states(ids)
        return "sending" not in states.values()

    async with asyncio.timeout(30):
        while not await quiet():
            await asyncio.sleep(0.05)
    return states


async def test_a_paused_campaign_sends_nothing_more_and_a_resume_finishes_it(make_rig):
    async with make_rig(2, latency=0.02) as rig:
        cid, ids = await _campaign(rig)
        await rig.wait_for(lambda: sum(_taken(rig).values()) >= 5)
        held = await control.pause(rig.dispatcher, cid, "li")
        assert held, "the campaign had queued messages to hold"
        states = await _settled_in_flight(rig, ids)
        before = _taken(rig)
        assert set(states.values()) <= {"sent", "held"}
        assert sum(1 for s in states.values() if s == "held") == len(held)
        # The dispatcher's index no longer has them: nothing of them is claimable.
        assert not any(mid in rig.dispatcher.pending for mid in held)
        await asyncio.sleep(0.5)  # time in which an unpaused campaign would send many more
        assert _taken(rig) == before
        view = await rig.dispatcher.store.read(lambda: campaigns.get_campaign(cid))
        assert view["state"] == "paused" and view["figures"]["held"] == len(held)
        with pytest.raises(CampaignProblem):  # not twice
            await control.pause(rig.dispatcher, cid, "li")

        released = await control.resume(rig.dispatcher, cid, "li")
        assert sorted(released) == sorted(held)
        final = await rig.wait_final(ids)
        assert Counter(final.values()) == {"sent": COUNT}
        assert _taken(rig) == Counter({f"campaign {i}": 1 for i in range(COUNT)})
        view = await rig.dispatcher.store.read(lambda: campaigns.get_campaign(cid))
        assert view["state"] == "active" and view["shown_state"] == "finished"
        assert view["figures"]["sent"] == COUNT


async def test_cancel_cancels_what_has_not_left(make_rig):
    async with make_rig(2, latency=0.02) as rig:
        cid, ids = await _campaign(rig)
        await rig.wait_for(lambda: sum(_taken(rig).values()) >= 5)
        cancelled = await control.cancel(rig.dispatcher, cid, "admin")
        states = await _settled_in_flight(rig, ids)
        taken = _taken(rig)
        counts = Counter(states.values())
        assert set(counts) <= {"sent", "cancelled"}
        assert counts["cancelled"] == len(cancelled) > 0
        assert counts["sent"] == sum(taken.values())  # what left is exactly what was sent
        await asyncio.sleep(0.3)
        assert _taken(rig) == taken
        row = await rig.message(cancelled[0])
        assert row["error"] == "campaign cancelled by admin"
        view = await rig.dispatcher.store.read(lambda: campaigns.get_campaign(cid))
        assert view["state"] == "cancelled" and view["figures"]["cancelled"] == len(cancelled)
        with pytest.raises(CampaignProblem):
            await control.resume(rig.dispatcher, cid, "admin")


async def test_a_paused_campaign_can_be_cancelled(make_rig):
    async with make_rig(1, start=False) as rig:
        await rig.start()
        # Caps at zero sending: hold everything back by pausing before any SIM claims much.
        cid, ids = await _campaign(rig, 10)
        held = await control.pause(rig.dispatcher, cid, "li")
        await _settled_in_flight(rig, ids)
        cancelled = await control.cancel(rig.dispatcher, cid, "li")
        assert set(held) <= set(cancelled)
        final = await rig.wait_final(ids)
        assert set(final.values()) <= {"sent", "cancelled"}
