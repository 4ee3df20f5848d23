"""A silent modem costs seconds, not a minute: the +CMGS answer is timed out from the SIM's own
turnaround, the modem is asked whether it answers and goes back to work, a late answer settles
the part as sent, and a long message goes on through the same SIM after an unanswered part.
Also: a SIM rests only after several failures in a row."""

from __future__ import annotations

from collections import Counter

from tests.dispatch.conftest import new, numbers


async def warm(rig, count: int = 8) -> None:
    """Some quick answers first: the SIM's +CMGS timeout then comes from its turnaround."""
    warm_ids = await rig.submit(new(r, f"warm {i}") for i, r in enumerate(numbers(count)))
    await rig.wait_final(warm_ids)


LONG = "A long notice that goes out in three parts, whatever happens to the first one. " * 5


async def test_an_unanswered_cmgs_is_timed_out_from_turnaround_and_the_sim_goes_on(make_rig):
    # Ceiling 60 s, floor 0.2 s: after a few quick answers the SIM's timeout is near the floor.
    async with make_rig(1, send_timeout=60.0, send_timeout_floor=0.2) as rig:
        await warm(rig)
        slot = rig.dispatcher.slots[rig.iccid(0)]
        assert rig.dispatcher.sender.answer_timeout(slot) < 5.0
        rig.fleet.modems[0].swallow_next_sends(1)
        ids = await rig.submit(new(r, f"after silence {i}")
                               for i, r in enumerate(numbers(4, prefix="138")))
        states = await rig.wait_final(ids, timeout=20)  # far less than the 60 s ceiling
        assert Counter(states.values()) == {"sent": 3, "ambiguous": 1}
        # One silence from a modem that answers again does not rest its SIM.
        assert slot.health.rest_until is None
        ambiguous = next(m for m, s in states.items() if s == "ambiguous")
        assert "no answer to +CMGS" in (await rig.message(ambiguous))["error"]


async def test_a_late_cmgs_answer_settles_the_ambiguous_message_as_sent(make_rig):
    async with make_rig(1, send_timeout=60.0, send_timeout_floor=0.2) as rig:
        await warm(rig)
        # Later than the timeout and than the probe after it (2 s): recorded ambiguous first.
        rig.fleet.modems[0].answer_late_next_sends(3.0)
        [mid] = await rig.submit([new("+8613812345678", "answered late")])
        await rig.wait_for(lambda: (mid, "ambiguous", rig.iccid(0)) in rig.events)
        await rig.wait_for(lambda: (mid, "sent", rig.iccid(0)) in rig.events)
        info = await rig.message(mid)
        assert info["state"] == "sent"
        [accepted] = [a for a in rig.fleet.modems[0].accepted if a.submit.text == "answered late"]
        assert info["parts"][0]["message_reference"] == accepted.message_reference
        assert info["parts"][0]["state"] == "sent"


async def test_an_answer_during_the_probe_after_a_timeout_is_not_ambiguous(make_rig):
    async with make_rig(1, send_timeout=60.0, send_timeout_floor=0.2) as rig:
        await warm(rig)
        # After the timeout, but while the modem is asked whether it answers: it left.
        rig.fleet.modems[0].answer_late_next_sends(1.0)
        [mid] = await rig.submit([new("+8613812345678", "answered a bit late")])
        assert (await rig.wait_final([mid]))[mid] == "sent"
        info = await rig.message(mid)
        [accepted] = [a for a in rig.fleet.modems[0].accepted
                      if a.submit.text == "answered a bit late"]
        assert info["parts"][0]["message_reference"] == accepted.message_reference


async def test_a_long_message_goes_on_through_its_sim_after_an_unanswered_part(make_rig):
    async with make_rig(2, send_timeout=60.0, send_timeout_floor=0.2) as rig:
        await warm(rig, 16)
        for modem in rig.fleet.modems:
            modem.swallow_next_sends(1)  # whichever SIM takes it: part 1 goes unanswered
        [mid] = await rig.submit([new("+8613812345678", LONG)])
        assert (await rig.wait_final([mid]))[mid] == "ambiguous"
        info = await rig.message(mid)
        assert [p["state"] for p in info["parts"]] == ["ambiguous", "sent", "sent"]
        sent = [(i, a.submit) for i, m in enumerate(rig.fleet.modems) for a in m.accepted
                if a.submit.concat is not None]
        assert len({i for i, _ in sent}) == 1, "parts went through two SIMs"
        assert sorted(s.concat.index for _, s in sent) == [1, 2, 3]
        assert len({s.concat.reference for _, s in sent}) == 1


async def test_a_sim_rests_only_after_several_failures_in_a_row(make_rig):
    async with make_rig(1, rest_after_failures=3) as rig:
        slot = rig.dispatcher.slots[rig.iccid(0)]
        rig.fleet.modems[0].fail_next_sends(500, count=2)
        ids = await rig.submit(new(r, f"twice unlucky {i}") for i, r in enumerate(numbers(3)))
        states = await rig.wait_final(ids)
        assert set(states.values()) == {"sent"}  # retried at once on the only SIM
        assert slot.health.rest_until is None and slot.health.consecutive_failures == 0
        rig.fleet.modems[0].fail_next_sends(500, count=3)
        [mid] = await rig.submit([new("+8613812345678", "three in a row")])
        await rig.wait_for(lambda: slot.health.consecutive_failures >= 3)
        assert slot.health.rest_until is not None


async def test_a_late_answer_within_a_long_message_leaves_it_sent(make_rig):
    async with make_rig(1, send_timeout=60.0, send_timeout_floor=0.2) as rig:
        await warm(rig)
        rig.fleet.modems[0].answer_late_next_sends(1.0)  # part 1: after its timeout
        [mid] = await rig.submit([new("+8613812345678", LONG)])
        assert (await rig.wait_final([mid]))[mid] == "sent"
        info = await rig.message(mid)
        assert [p["state"] for p in info["parts"]] == ["sent", "sent", "sent"]
        assert all(p["message_reference"] is not None for p in info["parts"])
