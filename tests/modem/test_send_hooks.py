"""send_part's prompt hook (rule 6), late +CMGS answers (rule 7) and check_alive (rule 8),
against simulated modems on real ptys."""

from __future__ import annotations

import asyncio

import pytest

from appliance.modem.contract import PartAmbiguous, PartNotSent
from appliance.modem.state import ModemState
from appliance.pdu import encode_submit

from .conftest import WAIT, RigFactory

TO = "+8613912345678"


async def test_before_pdu_runs_at_the_prompt_before_the_pdu_reaches_the_modem(
    make_rig: RigFactory,
) -> None:
    async with make_rig(0) as rig:
        (part,) = encode_submit(TO, "pump 3 pressure low")
        at_commit: list[tuple[bool, int]] = []

        async def commit_sending() -> None:
            command_heard = f"AT+CMGS={part.tpdu_length}" in rig.sim.heard
            await asyncio.sleep(0.05)  # the commit takes a while; the prompt stays open
            at_commit.append((command_heard, len(rig.sim.accepted)))

        mr = await rig.modem.send_part(part.pdu, part.tpdu_length, before_pdu=commit_sending)
        assert at_commit == [(True, 0)]  # AT+CMGS was out, the PDU was not
        (accepted,) = rig.sim.accepted
        assert accepted.pdu == part.pdu and mr == accepted.message_reference


async def test_before_pdu_that_raises_sends_nothing_and_leaves_the_modem_usable(
    make_rig: RigFactory,
) -> None:
    async with make_rig(0) as rig:
        (part,) = encode_submit(TO, "pump 3 pressure low")

        async def commit_fails() -> None:
            raise RuntimeError("database is locked")

        with pytest.raises(PartNotSent) as not_sent:
            await rig.modem.send_part(part.pdu, part.tpdu_length, before_pdu=commit_fails)
        assert isinstance(not_sent.value.__cause__, RuntimeError)
        assert rig.sim.accepted == []  # the modem never took a PDU
        assert part.pdu not in "".join(rig.sim.heard)
        # ESC was answered, so the modem is in command state: the next send needs no
        # resync probe and goes through.
        mr = await rig.modem.send_part(part.pdu, part.tpdu_length)
        assert [a.message_reference for a in rig.sim.accepted] == [mr]
        command = f"AT+CMGS={part.tpdu_length}"
        assert list(rig.sim.heard)[-2:] == [command, command]
        assert rig.modem.state == ModemState.READY


async def test_cancelled_before_pdu_writes_no_pdu(make_rig: RigFactory) -> None:
    async with make_rig(0) as rig:
        (part,) = encode_submit(TO, "pump 3 pressure low")
        at_prompt = asyncio.Event()

        async def commit_forever() -> None:
            at_prompt.set()
            await asyncio.sleep(3600)

        send = asyncio.create_task(
            rig.modem.send_part(part.pdu, part.tpdu_length, before_pdu=commit_forever))
        async with asyncio.timeout(WAIT):
            await at_prompt.wait()
        send.cancel()  # as a shutdown would
        with pytest.raises(asyncio.CancelledError):
            await send
        assert rig.sim.accepted == []
        assert await rig.modem.send_part(part.pdu, part.tpdu_length) >= 0
        assert len(rig.sim.accepted) == 1


async def test_late_answer_settles_an_ambiguous_part_with_the_sims_reference(
    make_rig: RigFactory,
) -> None:
    async with make_rig(0) as rig:
        (part,) = encode_submit(TO, "pump 3 pressure low")
        rig.sim.answer_late_next_sends(0.5)
        late: list[int] = []
        with pytest.raises(PartAmbiguous):
            await rig.modem.send_part(part.pdu, part.tpdu_length, timeout=0.1,
                                      on_late_answer=late.append)
        (accepted,) = rig.sim.accepted  # the PDU did reach the modem
        async with asyncio.timeout(WAIT):
            while not late:
                await asyncio.sleep(0.01)
        assert late == [accepted.message_reference]


async def test_check_alive_after_an_unanswered_cmgs_then_the_next_send_gets_its_own_answer(
    make_rig: RigFactory,
) -> None:
    async with make_rig(0) as rig:
        (part,) = encode_submit(TO, "pump 3 pressure low")
        rig.sim.answer_late_next_sends(0.3)
        late: list[int] = []
        with pytest.raises(PartAmbiguous):
            await rig.modem.send_part(part.pdu, part.tpdu_length, timeout=0.05,
                                      on_late_answer=late.append)
        # The modem is still busy with the network: the bare AT is answered after the late
        # "+CMGS: <mr>" + OK, which must not be taken for AT's answer.
        assert await rig.modem.check_alive(timeout=5.0) is True
        first = rig.sim.accepted[0].message_reference
        assert late == [first]
        mr = await rig.modem.send_part(part.pdu, part.tpdu_length)
        assert mr == rig.sim.accepted[1].message_reference != first
        assert late == [first]  # called once, for the send that was late


async def test_only_the_most_recent_ambiguous_send_waits_for_its_late_answer(
    make_rig: RigFactory,
) -> None:
    async with make_rig(0) as rig:
        (part,) = encode_submit(TO, "pump 3 pressure low")
        rig.sim.swallow_next_sends(1)  # never answered at all
        rig.sim.answer_late_next_sends(0.3)  # the send after it: answered late
        first: list[int] = []
        second: list[int] = []
        with pytest.raises(PartAmbiguous):
            await rig.modem.send_part(part.pdu, part.tpdu_length, timeout=0.1,
                                      on_late_answer=first.append)
        with pytest.raises(PartAmbiguous):
            await rig.modem.send_part(part.pdu, part.tpdu_length, timeout=0.05,
                                      on_late_answer=second.append)
        assert await rig.modem.check_alive(timeout=5.0) is True
        assert first == [] and second == [rig.sim.accepted[1].message_reference]


async def test_check_alive_is_false_for_a_hung_modem_which_stays_ready_for_recovery(
    make_rig: RigFactory,
) -> None:
    async with make_rig(0) as rig:
        assert await rig.modem.check_alive() is True
        rig.sim.hang(clear_on="reset")
        assert await rig.modem.check_alive(timeout=0.2) is False
        # check_alive only reports: the supervisor's hang recovery (reopen, reset) decides,
        # from last_answer, which this silence did not move.
        assert rig.modem.state == ModemState.READY
        answered = rig.modem.last_answer
        assert await rig.modem.check_alive(timeout=0.2) is False
        assert rig.modem.last_answer == answered
        assert await rig.modem.reset() == ModemState.READY
        assert await rig.modem.check_alive() is True


async def test_check_alive_on_an_unplugged_modem_is_false_and_gone(make_rig: RigFactory) -> None:
    async with make_rig(0) as rig:
        rig.port.unplug()
        async with asyncio.timeout(WAIT):
            while not rig.modem.channel.closed:
                await asyncio.sleep(0.01)
        assert await rig.modem.check_alive() is False
        assert rig.modem.state == ModemState.GONE
