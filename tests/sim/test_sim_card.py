"""The SIM as the AT port shows it: PIN, PUK, absence, removal and SIM-busy."""

import dataclasses

from appliance.sim import make_profile


def _locked(pin: str = "1234"):
    return dataclasses.replace(make_profile(2), pin=pin)


async def test_sim_without_pin_is_ready(rig):
    client = await rig.client()
    assert await client.info("AT+CPIN?") == ["+CPIN: READY", "OK"]


async def test_sim_with_pin_asks_for_it_then_registers(make_rig):
    rig = make_rig(_locked())
    client = await rig.client()
    await client.command("AT+CMEE=1")
    assert await client.info("AT+CPIN?") == ["+CPIN: SIM PIN", "OK"]
    assert await client.info("AT+CIMI") == ["+CME ERROR: 11"]
    assert await client.info("AT+CREG?") == ["+CREG: 0,0", "OK"]
    assert await client.info('AT+CPIN="1234"') == ["OK"]
    assert await client.info("AT+CPIN?") == ["+CPIN: READY", "OK"]
    assert await client.info("AT+CIMI") == [rig.modem.profile.imsi, "OK"]
    assert await client.info("AT+CREG?") == ["+CREG: 0,1", "OK"]


async def test_three_wrong_pins_block_the_sim_until_puk(make_rig):
    rig = make_rig(_locked())
    client = await rig.client()
    await client.command("AT+CMEE=1")
    for _ in range(3):
        assert await client.info('AT+CPIN="0000"') == ["+CME ERROR: 16"]
    assert await client.info("AT+CPIN?") == ["+CPIN: SIM PUK", "OK"]
    assert await client.info('AT+CPIN="1234"') == ["+CME ERROR: 16"]  # the PIN no longer helps
    assert await client.info('AT+CPIN="12345678","4321"') == ["OK"]
    assert await client.info("AT+CPIN?") == ["+CPIN: READY", "OK"]
    assert rig.modem.profile.pin == "4321"


async def test_no_sim_gives_cme_10_and_cms_310(make_rig):
    rig = make_rig(dataclasses.replace(make_profile(0), sim_present=False))
    client = await rig.client()
    await client.command("AT+CMEE=1")
    assert await client.info("AT+CPIN?") == ["+CME ERROR: 10"]
    assert await client.info("AT+CCID") == ["+CME ERROR: 10"]
    assert await client.info("AT+CMGL=4") == ["+CMS ERROR: 310"]


async def test_removing_and_inserting_the_sim_announces_it(rig):
    client = await rig.client()
    rig.modem.remove_sim()
    for line in rig.modem.profile.sim_removed_urcs:
        await client.read_until(f"\r\n{line}\r\n".encode())
    assert await client.info("AT+CPIN?") == ["ERROR"]
    rig.modem.insert_sim()
    await client.read_until(b"\r\n+CPIN: READY\r\n")
    assert await client.info("AT+CPIN?") == ["+CPIN: READY", "OK"]


async def test_sim_busy_fails_the_next_sim_commands_only(rig):
    client = await rig.client()
    await client.command("AT+CMEE=1")
    rig.modem.sim_busy(2)
    assert await client.info("AT") == ["OK"]  # does not touch the SIM
    assert await client.info("AT+CIMI") == ["+CME ERROR: 14"]
    assert await client.info("AT+CMGL=4") == ["+CMS ERROR: 314"]
    assert await client.info("AT+CIMI") == [rig.modem.profile.imsi, "OK"]


async def test_crsm_reads_ef_iccid_nibble_swapped(rig):
    client = await rig.client()
    iccid = rig.modem.profile.iccid
    assert len(iccid) == 20
    swapped = "".join(iccid[i + 1] + iccid[i] for i in range(0, 20, 2))
    assert await client.info("AT+CRSM=176,12258,0,0,10") == [f'+CRSM: 144,0,"{swapped}"', "OK"]


async def test_crsm_pads_an_odd_length_iccid_with_f(make_rig):
    profile = make_profile(0)
    profile.iccid = profile.iccid[:19]  # 19-digit ICCIDs exist (E.118 before 2007)
    client = await make_rig(profile).client()
    expected = "".join((profile.iccid + "F")[i + 1] + (profile.iccid + "F")[i]
                       for i in range(0, 20, 2))
    assert await client.info("AT+CRSM=176,12258,0,0,10") == [f'+CRSM: 144,0,"{expected}"', "OK"]


async def test_crsm_without_pin_works_other_files_not_found_no_sim_errors(make_rig):
    profile = make_profile(0)
    profile.pin = "1234"  # EF_ICCID is not PIN-protected
    rig = make_rig(profile)
    client = await rig.client()
    assert (await client.info("AT+CRSM=176,12258,0,0,10"))[-1] == "OK"
    assert await client.info("AT+CRSM=176,28423,0,0,9") == ["+CRSM: 106,130", "OK"]
    rig.modem.remove_sim()
    assert (await client.info("AT+CRSM=176,12258,0,0,10"))[-1].startswith(("ERROR", "+CME"))
