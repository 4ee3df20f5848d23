"""The blacklist end to end on simulated modems (real ptys, real driver): what is waiting for a
number when it is blacklisted is cancelled with the reason and never reaches a modem (the
simulator's record of accepted PDUs is the witness), and later sends skip it per recipient."""

from __future__ import annotations

import asyncio

import pytest

from appliance.dispatch.intake import AllRecipientsBlocked, SendRequest, submit_request
from appliance.store import blacklist as blacklist_store
from appliance.store.models import Campaign, Message, MessageEvent
from tests.dispatch.conftest import FakeClock, new, numbers


async def _campaign(rig, name: str = "sale") -> int:
    return await rig.dispatcher.store.write(lambda: Campaign.create(name=name).id)


async def _sent_count(rig, ids) -> int:
    return sum(1 for s in (await rig.states(ids)).values() if s == "sent")


async def test_a_waiting_campaign_message_is_cancelled_with_its_reason_and_never_sent(make_rig):
    clock = FakeClock()
    # One modem that may send 2 parts an hour: the campaign waits in the queue behind the cap.
    async with make_rig(1, clock=clock, per_sim_per_hour=2) as rig:
        rig.dispatcher.idle_tick = 0.05
        targets = numbers(6)
        victim = targets[4]
        campaign = await _campaign(rig)
        accepted = await submit_request(rig.dispatcher, SendRequest(
            to=targets, text="sale today", campaign_id=campaign))
        assert accepted.rejected == []
        by_number = dict(zip(accepted.recipients, accepted.ids, strict=True))
        await rig.wait_for(lambda: len(rig.accepted()) == 2)
        assert (await rig.states([by_number[victim]]))[by_number[victim]] == "queued"

        assert await rig.appliance.blacklist.add(victim, "TD", "sms") is True
        assert rig.appliance.blacklist.blocked(victim)
        victim_msg = await rig.message(by_number[victim])
        assert victim_msg["state"] == "cancelled"
        assert victim_msg["events"][-1]["detail"] == "blacklisted: TD"
        entry = await rig.dispatcher.store.read(lambda: blacklist_store.get(victim))
        assert (entry["number"], entry["reason"], entry["source"]) == (victim, "TD", "sms")

        # Let the cap open twice: the rest of the campaign goes, the victim's message does not.
        for _ in range(2):
            clock.advance(hours=1)
            rig.dispatcher.wake()
            before = len(rig.accepted())
            await rig.wait_for(lambda b=before: len(rig.accepted()) >= b + 1)
        others = [by_number[n] for n in targets if n != victim]
        await rig.wait_final(others)
        assert await _sent_count(rig, others) == 5
        reached = [a.submit.to for _, a in rig.accepted()]
        assert sorted(reached) == sorted(n for n in targets if n != victim)
        assert (await rig.states([by_number[victim]]))[by_number[victim]] == "cancelled"


async def test_a_new_send_skips_the_blacklisted_recipient_and_the_others_go(make_rig):
    async with make_rig(2) as rig:
        blocked, free = numbers(2, prefix="137")
        await rig.appliance.blacklist.add(blocked, "asked to stop", "api")
        # The national form of a blacklisted number is the same number.
        accepted = await submit_request(rig.dispatcher, SendRequest(
            to=[blocked[3:], free], text="hello"))
        assert accepted.recipients == [free] and len(accepted.ids) == 1
        assert accepted.rejected == [(blocked, "blacklisted: asked to stop")]
        await rig.wait_final(accepted.ids)
        assert [a.submit.to for _, a in rig.accepted()] == [free]
        stored = await rig.dispatcher.store.read(
            lambda: Message.select().where(Message.recipient == blocked).count())
        assert stored == 0  # never stored as a message to send

        with pytest.raises(AllRecipientsBlocked) as err:
            await submit_request(rig.dispatcher, SendRequest(to=[blocked], text="again"))
        assert err.value.field == "to" and "asked to stop" in str(err.value)
        assert err.value.rejected == [(blocked, "blacklisted: asked to stop")]

        # The unsubscribe confirmation alone goes through.
        confirm = await submit_request(rig.dispatcher, SendRequest(
            to=[blocked], text="You will receive no more messages.", ignore_blacklist=True))
        assert confirm.rejected == []
        await rig.wait_final(confirm.ids)
        assert blocked in [a.submit.to for _, a in rig.accepted()]

        # Removed: sendable again; messages cancelled meanwhile stay cancelled.
        assert await rig.appliance.blacklist.remove(blocked) is True
        again = await submit_request(rig.dispatcher, SendRequest(to=[blocked], text="welcome"))
        assert again.recipients == [blocked]


async def test_the_blacklist_is_loaded_at_start_and_a_second_add_cancels_nothing(make_rig):
    async with make_rig(1) as rig:
        later = await submit_request(rig.dispatcher, SendRequest(
            to=["+8613912345678"], text="x", send_at=rig.dispatcher.now().replace(year=2027)))
        assert await rig.appliance.blacklist.add("+8613700000001", "TD", "sms") is True
        await rig.stop()
        await rig.start()
        assert rig.appliance.blacklist.blocked("+8613700000001")
        assert rig.appliance.blacklist.blocked_reason("+8613700000001") == "TD"
        # A held (scheduled) message is cancelled too; adding again changes nothing.
        added, cancelled = await rig.appliance.blacklist.add_and_cancel(
            "13912345678", "by hand", "console")
        assert (added, cancelled) == (True, later.ids)
        assert (await rig.message(later.ids[0]))["state"] == "cancelled"
        assert await rig.appliance.blacklist.add("+8613912345678", "again", "api") is False
        events = await rig.dispatcher.store.read(lambda: [e.detail for e in MessageEvent.select()
                                                          .where(MessageEvent.message
                                                                 == later.ids[0])])
        assert events[-1] == "blacklisted: by hand"


async def test_a_message_on_its_way_is_left_alone_and_those_waiting_on_its_sim_are_cancelled(
        make_rig):
    async with make_rig(1, latency=0.3) as rig:
        victim = "+8613900000077"
        ids = await rig.submit(new(victim, f"m{i}") for i in range(3))
        slot = rig.dispatcher.slots[rig.iccid(0)]
        await rig.wait_for(lambda: slot.current is not None and slot.queue.qsize() >= 1)
        current = slot.current
        added, cancelled = await rig.appliance.blacklist.add_and_cancel(victim, "STOP", "sms")
        assert added and sorted(cancelled) == sorted(set(ids) - {current})
        states = await rig.wait_final(ids)
        assert states[current] == "sent"  # its PDU was already on its way to the modem
        assert [a.submit.text for _, a in rig.accepted()] == [(await rig.message(current))["text"]]


async def test_a_number_blacklisted_while_a_request_is_being_stored_gets_nothing(make_rig):
    async with make_rig(1) as rig:
        number, other = numbers(2, prefix="136")
        sending = asyncio.create_task(submit_request(rig.dispatcher, SendRequest(
            to=[number, other], text="racing")))
        await asyncio.sleep(0)  # the request has passed its check and waits for its commit
        await rig.appliance.blacklist.add(number, "TD", "sms")
        accepted = await sending
        states = await rig.wait_final(accepted.ids)
        by_number = dict(zip(accepted.recipients, accepted.ids, strict=True))
        assert states[by_number[number]] == "cancelled"
        assert states[by_number[other]] == "sent"
        assert [a.submit.to for _, a in rig.accepted()] == [other]
