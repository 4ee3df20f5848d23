"""Initialisation against simulated modems: identity, SIM states, PIN, +CNMI fallbacks."""

from __future__ import annotations

import asyncio

from appliance.at import TrafficLog
from appliance.modem.state import ModemState, Registration
from appliance.sim import SimProfile

from .conftest import WAIT, RigFactory


async def test_identity_of_modem_and_sim(make_rig: RigFactory) -> None:
    for index in range(3):  # Huawei, Quectel, SIMCom families in the simulator
        async with make_rig(index) as rig:
            sim, ident = rig.sim.profile, rig.modem.identity
            assert rig.modem.state == ModemState.READY, rig.modem.state_reason
            assert ident.manufacturer == sim.manufacturer
            assert ident.model == sim.model
            assert ident.revision == sim.revision
            assert ident.imei == sim.imei
            assert ident.sim.iccid == sim.iccid
            assert ident.sim.imsi == sim.imsi
            assert ident.sim.operator_code == sim.mcc_mnc
            assert ident.sim.operator == sim.operator_name
            assert ident.sim.own_number == sim.own_number
            assert rig.modem.registration is Registration.HOME
            assert rig.modem.signal.rssi == sim.signal


async def test_iccid_found_by_a_later_command_in_the_profile_list(make_rig: RigFactory) -> None:
    def only_qccid(p: SimProfile) -> None:
        p.iccid_commands = frozenset({"+QCCID"})

    async with make_rig(1, tweak=only_qccid) as rig:
        assert rig.modem.identity.sim.iccid == rig.sim.profile.iccid


async def test_cnmi_falls_back_past_refused_settings(make_rig: RigFactory) -> None:
    def refuse_first_two(p: SimProfile) -> None:
        p.rejected_cnmi = frozenset({"2,1,0,2,0", "2,1,0,1,0"})

    async with make_rig(0, tweak=refuse_first_two) as rig:
        assert rig.modem.state == ModemState.READY
        assert rig.modem.cnmi == "1,1,0,1,0"
        assert rig.sim.cnmi == (1, 1, 0, 1, 0)


async def test_first_cnmi_wins_when_accepted(make_rig: RigFactory) -> None:
    async with make_rig(0) as rig:
        assert rig.modem.cnmi == "2,1,0,2,0"
        assert rig.sim.cnmi == (2, 1, 0, 2, 0)
        assert rig.sim.cmgf == 0 and rig.sim.cmee == 1 and rig.sim.echo is False


async def test_pin_unlocked_with_configured_pin(make_rig: RigFactory) -> None:
    def locked(p: SimProfile) -> None:
        p.pin = "4321"

    async with make_rig(0, pin="4321", tweak=locked) as rig:
        assert rig.modem.state == ModemState.READY, rig.modem.state_reason
        assert rig.sim.sim_unlocked
        assert rig.modem.identity.sim.imsi == rig.sim.profile.imsi


async def test_pin_needed_without_configured_pin(make_rig: RigFactory) -> None:
    def locked(p: SimProfile) -> None:
        p.pin = "4321"

    async with make_rig(0, tweak=locked) as rig:
        assert rig.modem.state == ModemState.PIN_NEEDED
        assert "no PIN configured" in rig.modem.state_reason
        assert rig.sim.pin_tries_left == 3


async def test_wrong_pin_is_tried_once_and_never_again(make_rig: RigFactory) -> None:
    def locked(p: SimProfile) -> None:
        p.pin = "4321"

    async with make_rig(0, pin="0000", tweak=locked) as rig:
        assert rig.modem.state == ModemState.PIN_NEEDED
        assert "refused" in rig.modem.state_reason
        assert rig.sim.pin_tries_left == 2
        # A re-initialisation (the supervisor retrying) must not spend another try.
        assert await rig.modem.initialize() == ModemState.PIN_NEEDED
        assert rig.sim.pin_tries_left == 2


async def test_no_sim(make_rig: RigFactory) -> None:
    def absent(p: SimProfile) -> None:
        p.sim_present = False

    async with make_rig(0, tweak=absent) as rig:
        assert rig.modem.state == ModemState.NO_SIM
        assert rig.modem.identity.imei == rig.sim.profile.imei  # the modem itself is known


async def test_blocked_sim(make_rig: RigFactory) -> None:
    def blocked(p: SimProfile) -> None:
        p.pin = "4321"

    async with make_rig(0, tweak=blocked, pin="4321", initialize=False) as rig:
        rig.sim.pin_tries_left = 0
        assert await rig.modem.initialize() == ModemState.SIM_BLOCKED
        assert "PUK" in rig.modem.state_reason


async def test_sim_busy_at_start_is_waited_out(make_rig: RigFactory) -> None:
    async with make_rig(0, initialize=False) as rig:
        # The next SIM commands answer +CME ERROR: 14 (python-gsmmodem's fakes do the same).
        rig.sim.sim_busy(2)
        assert await rig.modem.initialize() == ModemState.READY
        assert rig.modem.identity.sim.imsi == rig.sim.profile.imsi


async def test_sim_removed_while_ready_is_reported(make_rig: RigFactory) -> None:
    async with make_rig(1) as rig:  # Quectel family: "+CPIN: NOT READY" on removal
        rig.sim.remove_sim()
        await rig.modem.refresh_status()
        assert rig.modem.state == ModemState.NO_SIM


async def test_refresh_status_reads_signal_and_registration(make_rig: RigFactory) -> None:
    async with make_rig(0) as rig:
        rig.sim.set_signal(5)
        rig.sim.deregister()
        await rig.modem.refresh_status()
        assert rig.modem.signal.rssi == 5 and rig.modem.signal.dbm == -103
        assert rig.modem.registration is Registration.NOT_REGISTERED


async def test_iccid_falls_back_to_crsm_ef_iccid(make_rig: RigFactory) -> None:
    def no_vendor_iccid_command(p: SimProfile) -> None:
        p.iccid_commands = frozenset()  # +CCID, +ICCID, ^ICCID?, +QCCID all answer ERROR

    for index in range(3):
        async with make_rig(index, tweak=no_vendor_iccid_command) as rig:
            assert rig.modem.state == ModemState.READY, rig.modem.state_reason
            assert rig.modem.identity.sim.iccid == rig.sim.profile.iccid
            assert "AT+CRSM=176,12258,0,0,10" in rig.sim.heard


async def test_pin_is_sent_but_never_in_the_traffic_log_or_state_reason(
    make_rig: RigFactory,
) -> None:
    def locked(p: SimProfile) -> None:
        p.pin = "4321"

    traffic = TrafficLog()
    async with make_rig(0, pin="9876", tweak=locked, traffic=traffic) as rig:
        assert rig.modem.state == ModemState.PIN_NEEDED
        assert 'AT+CPIN="9876"' in rig.sim.heard  # it was tried, once
        logged = "\n".join(line.format() for line in traffic.lines())
        assert 'AT+CPIN="****"' in logged
        assert "9876" not in logged and "9876" not in rig.modem.state_reason


async def test_a_modem_left_at_the_sms_prompt_is_brought_back(make_rig: RigFactory) -> None:
    # A crash between AT+CMGS=<n> and the PDU leaves the modem waiting at "> ": everything it
    # hears is taken as PDU text, "AT" included, until ESC cancels (TS 27.005 §3.5.1).
    async with make_rig(0, initialize=False) as rig:
        rig.sim.feed(b"AT+CMGS=20\r")
        async with asyncio.timeout(WAIT * 3):
            state = await rig.modem.initialize()
        assert state == ModemState.READY, rig.modem.state_reason
        assert rig.sim.accepted == []  # the half-begun send was cancelled, not sent
