"""Faults on simulated modems: errors, silence, unplugging, caps — and no duplicate ever."""

from __future__ import annotations

import asyncio
from collections import Counter

from tests.dispatch.conftest import FakeClock, new, numbers


async def test_transient_cms_500_is_retried_on_another_sim(make_rig):
    async with make_rig(2) as rig:
        rig.fleet.modems[0].fail_next_sends(500, count=1)
        ids = await rig.submit(new(r, f"retry {i}") for i, r in enumerate(numbers(6)))
        states = await rig.wait_final(ids)
        assert set(states.values()) == {"sent"}
        retried = []
        for mid in ids:
            msg = await rig.message(mid)
            failed_on = [e["sim"] for e in msg["events"]
                         if e["new_state"] == "queued" and "500" in e["detail"]]
            if failed_on:
                retried.append(mid)
                # Retried at once (through whichever SIM was free: see the tests below).
                assert failed_on == [rig.iccid(0)]
                assert msg["attempts"] == 2
        assert len(retried) == 1
        texts = Counter(a.submit.text for _, a in rig.accepted())
        assert texts == {f"retry {i}": 1 for i in range(6)}


async def test_permanent_error_fails_at_once_with_its_reason(make_rig):
    async with make_rig(1) as rig:
        rig.fleet.modems[0].fail_next_sends(1)  # RP cause 1: unassigned number
        [mid] = await rig.submit([new("+8613912345678", "to nobody")])
        states = await rig.wait_final([mid])
        assert states[mid] == "failed"
        msg = await rig.message(mid)
        assert "not assigned" in msg["error"] and "+CMS ERROR: 1" in msg["error"]
        assert msg["attempts"] == 1
        assert rig.fleet.modems[0].accepted == []
        # A bad number is not the SIM's fault: it keeps sending.
        [after] = await rig.submit([new("+8613912345679", "next")])
        assert (await rig.wait_final([after]))[after] == "sent"


async def test_retries_are_bounded(make_rig):
    async with make_rig(1, retries=1) as rig:
        rig.fleet.modems[0].fail_next_sends(500, count=5)
        slot = rig.dispatcher.slots[rig.iccid(0)]
        [mid] = await rig.submit([new("+8613912345678", "doomed")])
        await rig.wait_for(lambda: slot.failed_total >= 1)
        slot.health = type(slot.health)()  # a technician's "try again now": skip the rest
        rig.dispatcher.wake()
        states = await rig.wait_final([mid])
        assert states[mid] == "failed"
        assert "gave up after 2 attempts" in (await rig.message(mid))["error"]


async def test_unanswered_cmgs_is_ambiguous_and_never_resent(make_rig):
    async with make_rig(2, send_timeout=0.5) as rig:
        rig.fleet.modems[0].swallow_next_sends(1)
        ids = await rig.submit(new(r, f"silent {i}") for i, r in enumerate(numbers(10)))
        states = await rig.wait_final(ids)
        assert Counter(states.values()) == {"ambiguous": 1, "sent": 9}
        texts = Counter(a.submit.text for _, a in rig.accepted())
        assert set(texts.values()) == {1}  # nothing went twice
        assert len(texts) == 10  # the ambiguous two did reach the network
        for mid, state in states.items():
            if state == "ambiguous":
                msg = await rig.message(mid)
                assert msg["parts"][0]["state"] == "ambiguous"
                assert "no answer to +CMGS" in msg["error"]
        # A later status report still settles an ambiguous message (its part never got a
        # reference, so SIM and recipient match it).
        amb = next(m for m, s in states.items() if s == "ambiguous")
        msg = await rig.message(amb)
        assert msg["sim"] == rig.iccid(0)
        sent = next(a for a in rig.fleet.modems[0].accepted if not a.answered)
        rig.fleet.modems[0].inject_status_report(sent.message_reference, 0)
        assert (await rig.wait_final([amb], final={"delivered"}))[amb] == "delivered"


async def test_resend_setting_resends_an_ambiguous_part(make_rig):
    async with make_rig(2, send_timeout=0.5, ambiguous="resend") as rig:
        rig.fleet.modems[0].swallow_next_sends(1)
        ids = await rig.submit(new(r, f"again {i}") for i, r in enumerate(numbers(4)))
        states = await rig.wait_final(ids, final={"sent", "failed"})
        assert set(states.values()) == {"sent"}
        texts = Counter(a.submit.text for _, a in rig.accepted())
        # What the setting means: the swallowed part went out again (a duplicate, knowingly).
        # One silence no longer rests a SIM (health.after_silence), so the resend may go
        # through either SIM.
        assert sorted(texts.values()) == [1, 1, 1, 2]


async def test_unplugged_modem_mid_campaign_its_messages_finish_on_the_others(make_rig):
    async with make_rig(3, latency=0.01) as rig:
        ids = await rig.submit(new(r, f"campaign {i}") for i, r in enumerate(numbers(150)))
        gone = rig.iccid(1)
        await rig.wait_for(lambda: len(rig.fleet.modems[1].accepted) >= 5)
        rig.fleet.ports[1].unplug()
        await rig.wait_for(lambda: not rig.dispatcher.slots[gone].attached)
        states = await rig.wait_final(ids)
        counts = Counter(states.values())
        # Only a +CMGS in flight at the unplug may be ambiguous; everything else went.
        assert counts["sent"] + counts["ambiguous"] == 150 and counts["ambiguous"] <= 1
        texts = Counter(a.submit.text for _, a in rig.accepted())
        assert len(texts) == 150 and set(texts.values()) == {1}
        late = [a for a in rig.fleet.modems[0].accepted + rig.fleet.modems[2].accepted]
        assert len(late) > 150 - len(rig.fleet.modems[1].accepted) - 1


async def test_multipart_interrupted_after_a_part_finishes_through_the_same_sim(make_rig):
    text = "A long message that must arrive in one piece. " * 8  # 3 parts
    async with make_rig(2, latency=0.2) as rig:
        # Only modem 0 plugged for the claim: the message is bound to it.
        rig.fleet.ports[1].unplug()
        await rig.wait_for(lambda: len(rig.attached()) == 1)
        [mid] = await rig.submit([new("+8613912345678", text)])
        await rig.wait_for(lambda: len(rig.fleet.modems[0].accepted) >= 1)
        rig.fleet.ports[1].replug(symlink=rig.fleet.symlink(1))
        # No network: the second part did not leave, three times in a row, so the SIM rests
        # (one failure alone no longer rests it: health.HealthPolicy.rest_after_failures).
        rig.fleet.modems[0].fail_next_sends(331, count=3)
        slot = rig.dispatcher.slots[rig.iccid(0)]
        await rig.wait_for(lambda: slot.failed_total >= 3 and len(rig.attached()) == 2)
        assert (await rig.states([mid]))[mid] == "queued"  # pinned: the free SIM may not take it
        slot.health = type(slot.health)()  # end its rest now rather than in 30 s
        rig.dispatcher.wake()
        states = await rig.wait_final([mid], final={"sent"})
        assert states[mid] == "sent"
        parts = [a.submit for a in rig.fleet.modems[0].accepted]
        assert rig.fleet.modems[1].accepted == []  # never finished on another SIM
        assert sorted(p.concat.index for p in parts) == [1, 2, 3]
        assert len({p.concat.reference for p in parts}) == 1


async def test_all_sims_at_their_caps_wait_for_the_window(make_rig):
    clock = FakeClock()
    async with make_rig(2, clock=clock, per_sim_per_hour=3) as rig:
        rig.dispatcher.idle_tick = 0.05
        ids = await rig.submit(new(r, f"capped {i}") for i, r in enumerate(numbers(10)))
        await rig.wait_for(lambda: len(rig.accepted()) == 6)
        await asyncio.sleep(0.3)  # the scheduler has looked again and again: nothing more went
        assert len(rig.accepted()) == 6
        states = await rig.states(ids)
        assert Counter(states.values()) == {"sent": 6, "queued": 4}
        assert Counter(i for i, _ in rig.accepted()) == {0: 3, 1: 3}
        clock.advance(hours=1)
        states = await rig.wait_final(ids)
        assert set(states.values()) == {"sent"}
        assert len(rig.accepted()) == 10


async def test_resend_of_an_unanswered_part_keeps_a_long_message_on_its_sim(make_rig):
    text = "A long message that must arrive in one piece. " * 8  # 3 parts
    async with make_rig(2, send_timeout=0.5, ambiguous="resend") as rig:
        rig.fleet.ports[1].unplug()
        await rig.wait_for(lambda: len(rig.attached()) == 1)
        # Part 1 leaves, its +CMGS goes unanswered, three times in a row: the SIM rests.
        rig.fleet.modems[0].swallow_next_sends(3)
        [mid] = await rig.submit([new("+8613912345678", text)])
        slot = rig.dispatcher.slots[rig.iccid(0)]
        await rig.wait_for(lambda: slot.failed_total >= 3)
        rig.fleet.ports[1].replug(symlink=rig.fleet.symlink(1))
        await rig.wait_for(lambda: len(rig.attached()) == 2)
        info = await rig.message(mid)
        assert (info["state"], info["sim"]) == ("queued", rig.iccid(0))  # pinned, parts kept
        slot.health = type(slot.health)()  # end its rest now rather than in 30 s
        rig.dispatcher.wake()
        assert (await rig.wait_final([mid], final={"sent"}))[mid] == "sent"
        parts = [a.submit for a in rig.fleet.modems[0].accepted]
        assert rig.fleet.modems[1].accepted == []  # part 1 may be on the handset: same SIM
        assert sorted(p.concat.index for p in parts) == [1, 1, 1, 1, 2, 3]  # resent, knowingly
        assert len({p.concat.reference for p in parts}) == 1


async def test_a_transient_error_is_retried_at_once_on_another_free_sim(make_rig):
    async with make_rig(2) as rig:
        recipient = "+8613912345678"
        rig.dispatcher.sticky[recipient] = rig.iccid(0)  # it goes to SIM 0 first
        rig.fleet.modems[0].fail_next_sends(500, count=1)
        [mid] = await rig.submit([new(recipient, "retried elsewhere")])
        assert (await rig.wait_final([mid]))[mid] == "sent"
        msg = await rig.message(mid)
        assert any(e["new_state"] == "queued" and "500" in e["detail"] for e in msg["events"])
        assert msg["sim"] == rig.iccid(1), "the retry went back to the SIM that failed it"
        # One transient error does not rest a SIM (it takes several in a row).
        assert rig.dispatcher.slots[rig.iccid(0)].health.rest_until is None


async def test_with_no_other_sim_free_the_same_sim_retries_at_once(make_rig):
    async with make_rig(2) as rig:
        busy_text = "keeps one SIM busy"
        for modem in rig.fleet.modems:
            modem.latency = 2.0
        [busy] = await rig.submit([new("+8613912340000", busy_text)])
        await rig.wait_for(lambda: rig.dispatcher.slots[rig.iccid(1)].busy
                           or rig.dispatcher.slots[rig.iccid(0)].busy)
        # Whichever SIM took it, make the other one fail our message once.
        taker = 1 if rig.dispatcher.slots[rig.iccid(1)].busy else 0
        other = 1 - taker
        rig.fleet.modems[taker].latency = 2.0
        rig.fleet.modems[other].latency = 0.0
        rig.fleet.modems[other].fail_next_sends(500, count=1)
        recipient = "+8613912345678"
        rig.dispatcher.sticky[recipient] = rig.iccid(other)
        [mid] = await rig.submit([new(recipient, "retried on the same SIM")])
        assert (await rig.wait_final([mid]))[mid] == "sent"
        msg = await rig.message(mid)
        assert msg["sim"] == rig.iccid(other)  # it did not wait for the busy SIM
        assert (await rig.states([busy]))[busy] != "sent", "it waited for the busy SIM"
        await rig.wait_final([busy])


async def test_a_sim_the_network_denies_is_taken_out_as_barred(make_rig):
    async with make_rig(2) as rig:
        denied = rig.dispatcher.slots[rig.iccid(0)]
        rig.fleet.modems[0].deny_registration()  # +CREG: 3, how an operator's barring shows
        await rig.wait_for(lambda: denied.health.barred)
        counters = rig.dispatcher.counters_for(rig.iccid(0))
        assert counters["barred"] and "denied" in counters["barred_reason"]
        ids = await rig.submit(new(r, f"after the bar {i}") for i, r in enumerate(numbers(4)))
        states = await rig.wait_final(ids)
        assert set(states.values()) == {"sent"}
        assert rig.fleet.modems[0].accepted == []
        assert len(rig.fleet.modems[1].accepted) == 4
        # Registered again: the bar that came from the denial is lifted.
        rig.fleet.modems[0].register()
        await rig.wait_for(lambda: not denied.health.barred)


async def pin_then_lose_the_sim(rig) -> int:
    """A 3-part message through modem 0 alone; modem 0 unplugged for good while part 1's
    +CMGS is in flight (the modem took it, its answer not yet written); modem 1 plugged in.
    The message id."""
    text = "A long message that must arrive in one piece. " * 8  # 3 parts
    rig.fleet.ports[1].unplug()
    await rig.wait_for(lambda: len(rig.attached()) == 1)
    [mid] = await rig.submit([new("+8613912345678", text)])
    await rig.wait_for(lambda: len(rig.fleet.modems[0].accepted) >= 1)
    rig.fleet.ports[0].unplug()
    rig.fleet.ports[1].replug(symlink=rig.fleet.symlink(1))
    rig.dispatcher.expiry_tick = 0.1
    return mid


async def test_a_long_message_pinned_to_a_sim_gone_for_good_is_not_sent_again(make_rig):
    """Part 1 may have left through the lost SIM, parts 2-3 must follow it there. Once the
    SIM has been gone longer than the grace, what may have left is never sent again through
    another SIM (that would be the faults bench's duplicate): the message is ambiguous, its
    parts that never left fail with it."""
    async with make_rig(2, latency=0.2, pinned_grace_seconds=0.5) as rig:
        mid = await pin_then_lose_the_sim(rig)
        assert (await rig.wait_final([mid]))[mid] == "ambiguous"
        info = await rig.message(mid)
        assert [p["state"] for p in info["parts"]] == ["ambiguous", "failed", "failed"]
        assert info["sim"] == rig.iccid(0)
        assert "never sent again" in info["error"]
        assert [e["new_state"] for e in info["events"]] == [
            "queued", "sending", "queued", "ambiguous"]
        assert rig.fleet.modems[1].accepted == []
        assert len(rig.fleet.modems[0].accepted) == 1  # part 1, once


async def test_with_resend_a_long_message_pinned_to_a_lost_sim_goes_again_whole(make_rig):
    """The "resend" setting chooses delivery over duplicates: the whole message goes again
    through another SIM once its own has been gone longer than the grace."""
    async with make_rig(2, latency=0.2, pinned_grace_seconds=0.5, ambiguous="resend") as rig:
        mid = await pin_then_lose_the_sim(rig)
        assert (await rig.wait_final([mid]))[mid] == "sent"
        info = await rig.message(mid)
        assert info["sim"] == rig.iccid(1)
        parts = [a.submit for a in rig.fleet.modems[1].accepted]
        assert sorted(p.concat.index for p in parts) == [1, 2, 3]  # whole, on the new SIM
        assert any("goes again through another SIM" in e["detail"] for e in info["events"])


async def test_a_long_message_pinned_to_a_barred_sim_fails_naming_what_left(make_rig):
    """Part 1 left (answered); from part 2 on the operator refuses the SIM: barred. After the
    grace the rest cannot follow through another SIM, and part 1 must not go twice: the
    message fails, naming the part that left."""
    text = "A long message that must arrive in one piece. " * 8  # 3 parts
    async with make_rig(2, pinned_grace_seconds=0.5, rest_base_seconds=0.05) as rig:
        rig.fleet.ports[1].unplug()
        await rig.wait_for(lambda: len(rig.attached()) == 1)
        first = rig.dispatcher.slots[rig.iccid(0)]
        rig.fleet.modems[0].latency = 0.3
        [mid] = await rig.submit([new("+8613912345678", text)])
        await rig.wait_for(lambda: len(rig.fleet.modems[0].accepted) >= 1)
        # Part 1 left; from part 2 on the operator refuses this SIM (+CMS ERROR 8): barred.
        rig.fleet.modems[0].fail_next_sends(8, count=10)
        await rig.wait_for(lambda: first.health.barred)
        rig.fleet.ports[1].replug(symlink=rig.fleet.symlink(1))
        rig.dispatcher.expiry_tick = 0.1
        assert (await rig.wait_final([mid]))[mid] == "failed"
        info = await rig.message(mid)
        assert [p["state"] for p in info["parts"]] == ["sent", "failed", "failed"]
        assert f"part(s) 1 left through SIM {rig.iccid(0)}" in info["error"]
        assert rig.fleet.modems[1].accepted == []


async def test_last_part_in_flight_when_its_modem_is_unplugged_is_never_resent(make_rig):
    """The faults bench's unplug row: parts 1-2 of a long message answered, part 3's +CMGS in
    flight (the modem took it) when the port vanished. Part 3 is ambiguous and nothing is left
    to send: the message is ambiguous at once, not pinned to the lost SIM and sent again
    whole through another once the grace ran out."""
    text = "A long message that must arrive in one piece. " * 8  # 3 parts
    async with make_rig(2, latency=0.3, pinned_grace_seconds=0.5) as rig:
        rig.fleet.ports[1].unplug()
        await rig.wait_for(lambda: len(rig.attached()) == 1)
        rig.dispatcher.expiry_tick = 0.1
        [mid] = await rig.submit([new("+8613912345678", text)])
        await rig.wait_for(lambda: len(rig.fleet.modems[0].accepted) == 3)
        rig.fleet.ports[0].unplug()  # part 3 taken, its answer not yet written
        rig.fleet.ports[1].replug(symlink=rig.fleet.symlink(1))
        await rig.wait_for(lambda: len(rig.attached()) == 1 and rig.iccid(1) in rig.attached())
        assert (await rig.wait_final([mid]))[mid] == "ambiguous"
        await asyncio.sleep(1.0)  # twice the grace: an unpinning would have sent it by now
        assert (await rig.states([mid]))[mid] == "ambiguous"
        assert rig.fleet.modems[1].accepted == []
        info = await rig.message(mid)
        states = {p["index"]: p["state"] for p in info["parts"]}
        assert states == {1: "sent", 2: "sent", 3: "ambiguous"}
        # Settled where it stood: never handed back to the queue (pinned to a SIM that is
        # gone, with nothing left to send, it would wait for the grace and go again whole).
        assert [e["new_state"] for e in info["events"]] == ["queued", "sending", "ambiguous"]
