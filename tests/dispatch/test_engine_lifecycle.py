"""A message's life around sending: scheduling, cancellation, expiry, restarts."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest

from appliance.dispatch.intake import SendRequest, submit_request
from appliance.store.states import InvalidTransition
from tests.dispatch.conftest import FakeClock, new, numbers


async def test_send_at_in_the_future_waits_until_it_is_due(make_rig):
    clock = FakeClock()
    async with make_rig(2, clock=clock) as rig:
        rig.dispatcher.idle_tick = 0.05
        later = await submit_request(rig.dispatcher, SendRequest(
            to=["+8613900000001"], text="tomorrow", send_at=clock.now + timedelta(hours=1)))
        [now_id] = await rig.submit([new("+8613900000002", "now")])
        await rig.wait_final([now_id])
        assert (await rig.states(later.ids)) == {later.ids[0]: "queued"}
        assert [a.submit.text for _, a in rig.accepted()] == ["now"]
        clock.advance(minutes=61)
        rig.dispatcher.wake()
        assert (await rig.wait_final(later.ids))[later.ids[0]] == "sent"


async def test_cancel_queued_message_is_never_sent(make_rig):
    clock = FakeClock()
    async with make_rig(1, clock=clock) as rig:
        [mid] = await rig.submit([new("+8613900000001", "never", send_at=clock.now
                                      + timedelta(minutes=5))])
        await rig.dispatcher.cancel(mid)
        clock.advance(minutes=10)
        [other] = await rig.submit([new("+8613900000002", "still goes")])
        await rig.wait_final([other])
        assert (await rig.states([mid]))[mid] == "cancelled"
        assert [a.submit.text for _, a in rig.accepted()] == ["still goes"]
        assert (mid, "cancelled", None) in rig.events


async def test_cancel_a_claimed_message_still_waiting_on_its_sim(make_rig):
    async with make_rig(1, latency=0.3) as rig:
        ids = await rig.submit(new(r, f"m{i}") for i, r in enumerate(numbers(3)))
        slot = rig.dispatcher.slots[rig.iccid(0)]
        await rig.wait_for(lambda: slot.current is not None and slot.queue.qsize() == 1)
        current, waiting = slot.current, next(i for i in ids if i in slot.queue)
        with pytest.raises(InvalidTransition):  # its PDU is on its way: too late
            await rig.dispatcher.cancel(current)
        await rig.dispatcher.cancel(waiting)
        states = await rig.wait_final(ids)
        assert states[waiting] == "cancelled"
        assert Counter(states.values()) == {"sent": 2, "cancelled": 1}
        cancelled_text = (await rig.message(waiting))["text"]
        assert cancelled_text not in {a.submit.text for _, a in rig.accepted()}


async def test_ttl_expiry(make_rig):
    clock = FakeClock()
    async with make_rig(1, clock=clock, per_sim_per_hour=1) as rig:
        rig.dispatcher.idle_tick = 0.05
        [first] = await rig.submit([new("+8613900000001", "uses the hour")])
        await rig.wait_final([first])
        accepted = await submit_request(rig.dispatcher, SendRequest(
            to=["+8613900000002"], text="short-lived", ttl=600))
        [mid] = accepted.ids
        clock.advance(minutes=11)  # expired before the SIM's hour opens again
        rig.dispatcher.wake()
        states = await rig.wait_final([mid])
        assert states[mid] == "expired"
        clock.advance(hours=1)
        [after] = await rig.submit([new("+8613900000003", "after")])
        await rig.wait_final([after])
        assert "short-lived" not in {a.submit.text for _, a in rig.accepted()}


async def test_sim_counters_survive_a_restart(make_rig):
    clock = FakeClock()
    async with make_rig(1, clock=clock, per_sim_per_hour=4) as rig:
        rig.dispatcher.idle_tick = 0.05
        ids = await rig.submit(new(r, f"c{i}") for i, r in enumerate(numbers(3)))
        await rig.wait_final(ids)
        await rig.stop()
        await rig.start()
        assert rig.dispatcher.counters_for(rig.iccid(0))["sent_hour"] == 3
        more = await rig.submit(new(r, f"d{i}") for i, r in enumerate(numbers(3, "150")))
        await rig.wait_for(lambda: len(rig.accepted()) == 4)
        states = await rig.wait_final(more, final={"sent", "queued"})
        # One left in the hour's cap of four: the restart did not reset the count.
        assert Counter(states.values()) == {"sent": 1, "queued": 2}
