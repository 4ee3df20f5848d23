"""send_part against simulated modems: MR, multipart, and contract rule 1's error mapping."""

from __future__ import annotations

import asyncio

import pytest

from appliance.modem.contract import PartAmbiguous, PartNotSent, PartSender
from appliance.modem.state import ModemState
from appliance.pdu import encode_submit

from .conftest import WAIT, RigFactory


async def test_modem_is_a_part_sender(make_rig: RigFactory) -> None:
    async with make_rig(0) as rig:
        assert isinstance(rig.modem, PartSender)


async def test_single_part_is_accepted_with_the_sims_reference(make_rig: RigFactory) -> None:
    async with make_rig(0) as rig:
        (part,) = encode_submit("+8613912345678", "Server room 3 over temperature")
        mr = await rig.modem.send_part(part.pdu, part.tpdu_length)
        (accepted,) = rig.sim.accepted
        assert mr == accepted.message_reference
        assert accepted.submit.text == "Server room 3 over temperature"
        assert accepted.submit.to == "+8613912345678"


async def test_multipart_parts_all_accepted_with_one_concat_reference(
    make_rig: RigFactory,
) -> None:
    text = "告警：机房三号温度过高，请立即检查空调与电源。" * 4
    async with make_rig(1) as rig:
        parts = encode_submit("+8613912345678", text)
        assert len(parts) > 1
        refs = [await rig.modem.send_part(p.pdu, p.tpdu_length) for p in parts]
        accepted = rig.sim.accepted
        assert [a.message_reference for a in accepted] == refs
        assert len(set(refs)) == len(parts)
        concat = [a.submit.concat for a in accepted]
        assert len({c.reference for c in concat}) == 1
        assert [c.index for c in concat] == list(range(1, len(parts) + 1))
        assert "".join(a.submit.text for a in accepted) == text


async def test_cms_error_is_part_not_sent_with_the_code(make_rig: RigFactory) -> None:
    async with make_rig(0) as rig:
        rig.sim.fail_next_sends(500)
        (part,) = encode_submit("+8613912345678", "hello")
        with pytest.raises(PartNotSent) as err:
            await rig.modem.send_part(part.pdu, part.tpdu_length)
        assert err.value.cms_error == 500
        assert rig.sim.accepted == []
        # The modem is still usable: the next send goes through.
        assert await rig.modem.send_part(part.pdu, part.tpdu_length) >= 0


async def test_sim_busy_on_send_is_reported_not_retried(make_rig: RigFactory) -> None:
    async with make_rig(0) as rig:
        rig.sim.sim_busy(1)
        (part,) = encode_submit("+8613912345678", "hello")
        with pytest.raises(PartNotSent) as err:
            await rig.modem.send_part(part.pdu, part.tpdu_length)
        # +CMGS touches the SIM as a CMS command: SIM busy is +CMS ERROR: 314 there.
        assert err.value.cms_error == 314 or err.value.cme_error == 14
        assert rig.sim.accepted == []


async def test_swallowed_cmgs_is_ambiguous_and_not_resent(make_rig: RigFactory) -> None:
    async with make_rig(0, send_timeout=0.5) as rig:
        rig.sim.swallow_next_sends(1)
        (part,) = encode_submit("+8613912345678", "hello")
        with pytest.raises(PartAmbiguous):
            await rig.modem.send_part(part.pdu, part.tpdu_length)
        await asyncio.sleep(0.2)
        assert len(rig.sim.accepted) == 1  # the network took it; the driver did not resend
        assert rig.modem.state == ModemState.READY


async def test_unplug_during_send_is_ambiguous_and_modem_gone(make_rig: RigFactory) -> None:
    async with make_rig(0) as rig:
        rig.sim.swallow_next_sends(1)  # the PDU goes out, the answer never comes...
        (part,) = encode_submit("+8613912345678", "hello")
        send = asyncio.create_task(rig.modem.send_part(part.pdu, part.tpdu_length))
        async with asyncio.timeout(WAIT):
            while not rig.sim.accepted:
                await asyncio.sleep(0.01)
        rig.port.unplug()  # ...because the stick is pulled out
        with pytest.raises(PartAmbiguous):
            async with asyncio.timeout(WAIT):
                await send
        async with asyncio.timeout(WAIT):
            while rig.modem.state != ModemState.GONE:
                await asyncio.sleep(0.01)


async def test_send_after_unplug_is_not_sent(make_rig: RigFactory) -> None:
    async with make_rig(0) as rig:
        rig.port.unplug()
        async with asyncio.timeout(WAIT):
            while rig.modem.state != ModemState.GONE:
                await asyncio.sleep(0.01)
        (part,) = encode_submit("+8613912345678", "hello")
        with pytest.raises(PartNotSent):
            await rig.modem.send_part(part.pdu, part.tpdu_length)


async def test_send_refused_when_sim_not_ready(make_rig: RigFactory) -> None:
    def absent(p: object) -> None:
        p.sim_present = False  # type: ignore[attr-defined]

    async with make_rig(0, tweak=absent) as rig:
        (part,) = encode_submit("+8613912345678", "hello")
        with pytest.raises(PartNotSent, match="no_sim"):
            await rig.modem.send_part(part.pdu, part.tpdu_length)


async def test_unplug_while_waiting_for_the_prompt_is_not_sent(make_rig: RigFactory) -> None:
    async with make_rig(0) as rig:
        rig.sim.hang(clear_on="never", commands={"+CMGS"})  # "> " never comes
        (part,) = encode_submit("+8613912345678", "hello")
        send = asyncio.create_task(rig.modem.send_part(part.pdu, part.tpdu_length))
        command = f"AT+CMGS={part.tpdu_length}"
        async with asyncio.timeout(WAIT):
            while command not in rig.sim.heard:
                await asyncio.sleep(0.01)
        rig.port.unplug()  # pulled out before the PDU was written
        with pytest.raises(PartNotSent, match="before the PDU was written"):
            async with asyncio.timeout(WAIT):
                await send
        assert rig.sim.accepted == []
        assert part.pdu not in "".join(rig.sim.heard)


async def test_unplug_after_the_pdu_is_written_is_ambiguous_not_not_sent(
    make_rig: RigFactory,
) -> None:
    async with make_rig(0) as rig:
        rig.sim.latency = 30.0  # the PDU is taken; "+CMGS: <mr>" would come much later
        (part,) = encode_submit("+8613912345678", "hello")
        send = asyncio.create_task(rig.modem.send_part(part.pdu, part.tpdu_length))
        async with asyncio.timeout(WAIT):
            while not rig.sim.accepted:
                await asyncio.sleep(0.01)
        rig.port.unplug()
        with pytest.raises(PartAmbiguous, match="port gone during"):
            async with asyncio.timeout(WAIT):
                await send
