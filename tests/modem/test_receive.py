"""Inbound messages and status reports (contract rules 3 and 4) on simulated modems."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from appliance.modem.contract import InboundSms, InboundStatusReport, QuarantinedPdu
from appliance.modem.driver import Modem
from appliance.pdu import encode_submit

from .conftest import WAIT, Rig, RigFactory


async def _until(predicate, timeout: float = WAIT) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


async def test_cmti_message_handed_on_then_deleted(make_rig: RigFactory) -> None:
    async with make_rig(0) as rig:
        seen_on_modem_during_handler: list[int] = []

        async def handler(item) -> None:  # type: ignore[no-untyped-def]
            # Rule 3: while the handler runs (storing), the message is still on the modem.
            seen_on_modem_during_handler.append(rig.sim.store.used)
            rig.inbox.append(item)

        rig.modem.inbound.handler = handler
        (slot,) = rig.sim.inject_sms("+8613800138000", "Meeting moved to 3pm")
        await rig.wait_inbox(1)
        (msg,) = rig.inbox
        assert isinstance(msg, InboundSms)
        assert (msg.sender, msg.text) == ("+8613800138000", "Meeting moved to 3pm")
        assert msg.sim_iccid == rig.sim.profile.iccid
        assert (msg.storage, msg.index) == ("SM", slot)
        assert msg.received_at.tzinfo is not None
        assert seen_on_modem_during_handler == [1]
        await _until(lambda: rig.sim.store.used == 0)


async def test_handler_failure_leaves_message_for_read_stored(make_rig: RigFactory) -> None:
    async with make_rig(0) as rig:
        rig.fail_handler = True
        rig.sim.inject_sms("+8613800138000", "first try fails")
        await _until(lambda: rig.modem.inbound.handler_failures == 1)
        assert rig.sim.store.used == 1  # still on the modem
        rig.fail_handler = False
        assert await rig.modem.read_stored() == 1
        assert [m.text for m in rig.inbox] == ["first try fails"]  # type: ignore[union-attr]
        assert rig.sim.store.used == 0


async def test_messages_stored_before_start_are_read_in_index_order(
    make_rig: RigFactory,
) -> None:
    async with make_rig(0, initialize=False) as rig:
        for text in ("one", "two", "three"):
            rig.sim.inject_sms("+8613800138000", text, stored_before_start=True)
        await rig.modem.initialize()
        assert await rig.modem.read_stored() == 3
        assert [m.text for m in rig.inbox] == ["one", "two", "three"]  # type: ignore[union-attr]
        assert [m.index for m in rig.inbox] == sorted(m.index for m in rig.inbox)  # type: ignore[union-attr]
        assert rig.sim.store.used == 0


async def test_multipart_inbound_parts_carry_concat_info(make_rig: RigFactory) -> None:
    text = "This reply is long enough to need more than one SMS part. " * 4
    async with make_rig(1) as rig:
        slots = rig.sim.inject_sms("+8613800138000", text)
        assert len(slots) > 1
        await rig.wait_inbox(len(slots))
        parts = sorted(rig.inbox, key=lambda m: m.concat_index)  # type: ignore[union-attr]
        assert {m.concat_reference for m in parts} == {parts[0].concat_reference}  # type: ignore[union-attr]
        assert parts[0].concat_reference is not None  # type: ignore[union-attr]
        assert [m.concat_index for m in parts] == list(range(1, len(slots) + 1))  # type: ignore[union-attr]
        assert all(m.concat_count == len(slots) for m in parts)  # type: ignore[union-attr]
        assert "".join(m.text for m in parts) == text  # type: ignore[union-attr]


async def _send_one(rig: Rig) -> int:
    (part,) = encode_submit("+8613912345678", "report me", request_status_report=True)
    return await rig.modem.send_part(part.pdu, part.tpdu_length)


async def test_stored_status_report_cdsi_handed_on_with_mr(make_rig: RigFactory) -> None:
    async with make_rig(0) as rig:  # +CNMI ds=2: reports stored, announced with +CDSI
        mr = await _send_one(rig)
        rig.sim.inject_status_report(mr, status=0)
        await rig.wait_inbox(1)
        (report,) = rig.inbox
        assert isinstance(report, InboundStatusReport)
        assert report.message_reference == mr
        assert report.recipient == "+8613912345678"
        assert report.delivered and report.final
        await _until(lambda: rig.sim.store.used == 0)


async def test_direct_status_report_cds_handed_on_with_mr(make_rig: RigFactory) -> None:
    def no_stored_reports(p: object) -> None:
        p.rejected_cnmi = frozenset({"2,1,0,2,0"})  # type: ignore[attr-defined]

    async with make_rig(0, tweak=no_stored_reports) as rig:  # falls back to ds=1: +CDS
        assert rig.modem.cnmi == "2,1,0,1,0"
        mr = await _send_one(rig)
        rig.sim.inject_status_report(mr, status=0x30)  # still trying (TS 23.040 §9.2.3.15)
        await rig.wait_inbox(1)
        (report,) = rig.inbox
        assert isinstance(report, InboundStatusReport)
        assert report.message_reference == mr
        assert not report.delivered and not report.final


async def test_burst_of_cmti_is_read_one_at_a_time(make_rig: RigFactory) -> None:
    async with make_rig(0) as rig:
        active = 0
        most = 0

        async def slow_handler(item) -> None:  # type: ignore[no-untyped-def]
            nonlocal active, most
            active += 1
            most = max(most, active)
            await asyncio.sleep(0.01)
            rig.inbox.append(item)
            active -= 1

        rig.modem.inbound.handler = slow_handler
        for i in range(10):
            rig.sim.inject_sms("+8613800138000", f"burst {i}")
        await rig.wait_inbox(10)
        assert most == 1
        assert sorted(m.text for m in rig.inbox) == sorted(f"burst {i}" for i in range(10))  # type: ignore[union-attr]


async def test_undecodable_pdu_is_quarantined_then_deleted(make_rig: RigFactory) -> None:
    async with make_rig(0) as rig:
        slot = rig.sim.store.store("07911326040000F0FFFF")  # SMSC, then a truncated TPDU
        await rig.modem.read_stored()
        (item,) = rig.inbox
        assert isinstance(item, QuarantinedPdu)
        assert item.pdu == "07911326040000F0FFFF" and item.index == slot and item.error
        assert rig.sim.store.used == 0


async def test_ignored_urcs_are_dropped_and_signal_urcs_update(
    make_rig: RigFactory, profiles: list,  # type: ignore[type-arg]
) -> None:
    e3372 = next(p for p in profiles if p.name == "huawei-e3372")
    async with make_rig(0, profile=e3372) as rig:
        modem: Modem = rig.modem
        rig.sim.flood_urcs(50, "^DSFLOWRPT: 0000240E,00000000,00000000")
        rig.sim.flood_urcs(1, "^RSSI: 27")
        await _until(lambda: modem.signal.rssi == 27)
        assert modem.signal.bars == 5
        rig.sim.inject_sms("+8613800138000", "still heard through the noise")
        await rig.wait_inbox(1)


async def test_creg_urc_updates_registration(make_rig: RigFactory) -> None:
    async with make_rig(0) as rig:  # generic profile init turns on +CREG=1 URCs
        assert rig.sim.creg_n == 1
        rig.sim.deregister()
        await _until(lambda: not rig.modem.registration.registered)
        rig.sim.register()
        await _until(lambda: rig.modem.registration.registered)


async def test_direct_cmt_delivery_is_handed_on(
    make_rig: RigFactory, generic,  # type: ignore[no-untyped-def]
) -> None:
    import dataclasses

    direct = dataclasses.replace(generic, cnmi=["2,2,0,1,0"])  # <mt>=2: +CMT, not stored
    async with make_rig(2, profile=direct) as rig:
        assert rig.sim.cnmi == (2, 2, 0, 1, 0)
        assert rig.sim.inject_sms("+8613800138000", "straight through") == [None]
        await rig.wait_inbox(1)
        (msg,) = rig.inbox
        assert isinstance(msg, InboundSms)
        assert msg.text == "straight through" and msg.index is None and msg.storage == ""


# -- hostile PDUs: whatever a modem hands over, the reader survives and keeps the raw hex ---

GOOD_TEXT = "still readable after the garbage"
# Each is what some modem, SIM or network bug has been seen to produce: not hex, odd length,
# a TPDU cut short, an SMSC length pointing past the end, a stored SMS-SUBMIT, nothing.
HOSTILE_PDUS = [
    "ZZ" * 20,
    "0791683108100005F0040D9168310810830",  # odd length
    "07911326040000F0040B911346610089F6000020806291",  # cut inside the time stamp
    "FF0011",  # SMSC length 255
    "0011000B916407281553F80000AA0AE8329BFD4697D9EC37",  # an SMS-SUBMIT
    "00",
    "<script>alert(1)</script>",
]


def _truncated(pdu: str) -> str:
    return pdu[: len(pdu) // 2]


@pytest.mark.parametrize("pdu", HOSTILE_PDUS)
async def test_cmti_to_a_slot_with_garbage_is_quarantined_then_deleted(
    make_rig: RigFactory, pdu: str,
) -> None:
    async with make_rig(0) as rig:
        slot = rig.sim.inject_raw_pdu(pdu)  # stored, announced with +CMTI
        assert slot is not None
        await rig.wait_inbox(1)
        (item,) = rig.inbox
        assert isinstance(item, QuarantinedPdu)
        assert (item.pdu, item.storage, item.index) == (pdu, "SM", slot)
        assert item.sim_iccid == rig.sim.profile.iccid and item.error
        await _until(lambda: rig.sim.store.used == 0)  # deleted once the handler stored it
        rig.sim.inject_sms("+8613800138000", GOOD_TEXT)  # the reader is still alive
        await rig.wait_inbox(2)
        assert rig.inbox[1].text == GOOD_TEXT  # type: ignore[union-attr]


async def test_quarantined_pdu_stays_on_the_modem_while_the_handler_fails(
    make_rig: RigFactory,
) -> None:
    async with make_rig(0) as rig:
        rig.fail_handler = True
        rig.sim.inject_raw_pdu("ZZ" * 20)
        await _until(lambda: rig.modem.inbound.handler_failures == 1)
        assert rig.sim.store.used == 1
        rig.fail_handler = False
        assert await rig.modem.read_stored() == 1
        assert isinstance(rig.inbox[0], QuarantinedPdu)
        assert rig.sim.store.used == 0


async def test_cmgl_with_a_truncated_pdu_line_quarantines_only_that_one(
    make_rig: RigFactory,
) -> None:
    async with make_rig(0, initialize=False) as rig:
        rig.sim.inject_sms("+8613800138000", "before", stored_before_start=True)
        (good,) = [m.pdu for m in rig.sim.store.slots.values()]
        cut = rig.sim.inject_raw_pdu(_truncated(good), stored_before_start=True)
        rig.sim.inject_sms("+8613800138000", "after", stored_before_start=True)
        await rig.modem.initialize()
        assert await rig.modem.read_stored() == 3
        kinds = [(type(m).__name__, getattr(m, "text", None)) for m in rig.inbox]
        assert kinds == [("InboundSms", "before"), ("QuarantinedPdu", None),
                         ("InboundSms", "after")]
        assert rig.inbox[1].pdu == _truncated(good) and rig.inbox[1].index == cut  # type: ignore[union-attr]
        assert rig.sim.store.used == 0


@pytest.mark.parametrize("pdu", HOSTILE_PDUS)
async def test_direct_cmt_with_a_hostile_body_is_quarantined(
    make_rig: RigFactory, generic, pdu: str,  # type: ignore[no-untyped-def]
) -> None:
    direct = dataclasses.replace(generic, cnmi=["2,2,0,1,0"])  # <mt>=2: +CMT, not stored
    async with make_rig(2, profile=direct) as rig:
        assert rig.sim.inject_raw_pdu(pdu) is None  # shown with +CMT, stored nowhere
        await rig.wait_inbox(1)
        (item,) = rig.inbox
        assert isinstance(item, QuarantinedPdu)
        assert (item.pdu, item.storage, item.index) == (pdu, "", None)
        rig.sim.inject_sms("+8613800138000", GOOD_TEXT)
        await rig.wait_inbox(2)
        assert rig.inbox[1].text == GOOD_TEXT  # type: ignore[union-attr]


async def test_direct_cmt_is_acknowledged_with_cnma_only_after_the_handler(
    make_rig: RigFactory, generic,  # type: ignore[no-untyped-def]
) -> None:
    # TS 27.005 §3.4.4: with +CSMS=1 the modem waits for +CNMA after each +CMT; without it the
    # network gets RP-ERROR and delivers again later.
    acked = dataclasses.replace(generic, cnmi=["2,2,0,1,0"], csms=1, ack_direct=True)
    async with make_rig(2, profile=acked) as rig:
        assert rig.sim.csms == 1
        rig.sim.inject_raw_pdu("0791683108100005F0040D9168310810830")  # odd length
        rig.sim.inject_sms("+8613800138000", GOOD_TEXT)
        await rig.wait_inbox(2)
        await _until(lambda: len(rig.sim.acknowledged) == 2)
        assert [type(m) for m in rig.inbox] == [QuarantinedPdu, InboundSms]
        assert rig.sim.unacknowledged == []

        rig.fail_handler = True  # not stored: not acknowledged, so the network retries
        rig.sim.ack_timeout = 0.2
        rig.sim.inject_sms("+8613800138000", "lost?")
        await _until(lambda: rig.modem.inbound.handler_failures == 1)
        await _until(lambda: len(rig.sim.unacknowledged) == 1)
        assert len(rig.sim.acknowledged) == 2
        assert rig.sim.cnmi[1] == 0  # the modem stopped routing to the TE (TS 27.005 §3.4.1)
