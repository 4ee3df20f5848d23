"""The AT port as a client sees it: echo, framing, identity, network and settings commands."""

import dataclasses

from appliance.sim import make_profile


async def test_echo_is_on_until_ate0(rig):
    client = rig.open()
    assert await client.command("AT") == "AT\r\r\nOK\r\n"
    assert await client.command("ATE0") == "ATE0\r\r\nOK\r\n"
    assert await client.command("AT") == "\r\nOK\r\n"
    assert await client.command("ATE1") == "\r\nOK\r\n"
    assert await client.command("AT") == "AT\r\r\nOK\r\n"


async def test_identity_commands_answer_from_the_profile(rig):
    client = await rig.client()
    p = rig.modem.profile
    assert await client.info("AT+CGMI") == [p.manufacturer, "OK"]
    assert await client.info("AT+CGMM") == [p.model, "OK"]
    assert await client.info("AT+GMR") == [p.revision, "OK"]
    assert await client.info("AT+CGSN") == [p.imei, "OK"]
    assert await client.info("AT+CIMI") == [p.imsi, "OK"]
    assert await client.info("AT+CCID") == [f"+CCID: {p.iccid}", "OK"]
    assert await client.info("AT+ICCID") == [f"+ICCID: {p.iccid}", "OK"]
    assert await client.info("AT^ICCID?") == [f"^ICCID: {p.iccid}", "OK"]
    assert await client.info("AT+QCCID") == [f"+QCCID: {p.iccid}", "OK"]
    assert await client.info("AT+CNUM") == [f'+CNUM: "","{p.own_number}",145', "OK"]
    assert f"IMEI: {p.imei}" in await client.info("ATI")


async def test_iccid_commands_the_firmware_lacks_answer_error(make_rig):
    profile = dataclasses.replace(make_profile(1), iccid_commands=frozenset({"^ICCID?"}))
    client = await make_rig(profile).client()
    assert await client.info("AT+QCCID") == ["ERROR"]
    assert await client.info("AT^ICCID?") == [f"^ICCID: {profile.iccid}", "OK"]


async def test_cops_format_selects_long_name_or_numeric(rig):
    client = await rig.client()
    p = rig.modem.profile
    assert await client.info("AT+COPS?") == [f'+COPS: 0,0,"{p.operator_name}",7', "OK"]
    assert await client.info("AT+COPS=3,2") == ["OK"]
    assert await client.info("AT+COPS?") == [f'+COPS: 0,2,"{p.mcc_mnc}",7', "OK"]


async def test_csq_follows_set_signal(rig):
    client = await rig.client()
    rig.modem.set_signal(7)
    assert await client.info("AT+CSQ") == ["+CSQ: 7,99", "OK"]


async def test_creg_reports_changes_when_enabled(rig):
    client = await rig.client()
    assert await client.info("AT+CREG?") == ["+CREG: 0,1", "OK"]
    assert await client.info("AT+CREG=1") == ["OK"]
    rig.modem.deregister()
    assert await client.read_until(b"\r\n+CREG: 0\r\n")
    assert await client.info("AT+COPS?") == ["+COPS: 0", "OK"]
    assert await client.info("AT+CREG=2") == ["OK"]
    rig.modem.register()
    p = rig.modem.profile
    assert await client.read_until(f'\r\n+CREG: 1,"{p.lac}","{p.cell_id}"\r\n'.encode())


async def test_cmee_shapes_errors(rig):
    rig.modem.remove_sim()
    client = await rig.client()
    assert await client.info("AT+CIMI") == ["ERROR"]
    await client.command("AT+CMEE=1")
    assert await client.info("AT+CIMI") == ["+CME ERROR: 10"]
    await client.command("AT+CMEE=2")
    assert await client.info("AT+CIMI") == ["+CME ERROR: SIM not inserted"]
    assert await client.info("AT+CMEE?") == ["+CMEE: 2", "OK"]


async def test_unknown_commands_answer_error(rig):
    client = await rig.client()
    assert await client.info("AT+NOSUCH") == ["ERROR"]
    assert await client.info("AT+CMGF=7") == ["ERROR"]


async def test_settings_read_back(rig):
    client = await rig.client()
    assert await client.info("AT+CMGF=0") == ["OK"]
    assert await client.info("AT+CMGF?") == ["+CMGF: 0", "OK"]
    assert await client.info("AT+CSMS=1") == ["+CSMS: 1,1,1", "OK"]
    assert await client.info('AT+CSCS="GSM"') == ["OK"]
    assert await client.info("AT+CSCS?") == ['+CSCS: "GSM"', "OK"]
    assert await client.info("AT+CNMI=2,1,0,2,0") == ["OK"]
    assert await client.info("AT+CNMI?") == ["+CNMI: 2,1,0,2,0", "OK"]
    smsc = rig.modem.profile.smsc
    assert await client.info("AT+CSCA?") == [f'+CSCA: "{smsc}",145', "OK"]


async def test_cpms_shows_counts_of_the_store(rig):
    client = await rig.client()
    rig.modem.store.store("00")
    assert await client.info('AT+CPMS="SM","SM","SM"') == ["+CPMS: 1,30,1,30,1,30", "OK"]
    assert await client.info("AT+CPMS?") == ['+CPMS: "SM",1,30,"SM",1,30,"SM",1,30', "OK"]


async def test_rejected_cnmi_values_give_cms_303_so_fallbacks_run(make_rig):
    profile = dataclasses.replace(make_profile(0), rejected_cnmi=frozenset({"2,1,2,1,0"}))
    client = await make_rig(profile).client()
    await client.command("AT+CMEE=1")
    assert await client.info("AT+CNMI=2,1,2,1,0") == ["+CMS ERROR: 303"]
    assert await client.info("AT+CNMI=2,1,2,2,0") == ["OK"]
    assert await client.info("AT+CNMI=9,1,0,0,0") == ["+CMS ERROR: 303"]


async def test_text_without_at_prefix_gets_no_answer(rig):
    client = await rig.client()
    await client.write(b"hello\r")
    # Only the AT's OK follows: the noise line produced nothing of its own.
    assert await client.command("AT") == "\r\nOK\r\n"


async def test_vendor_settings_are_accepted_only_by_their_vendor(make_rig):
    huawei = make_profile(0)
    assert huawei.manufacturer == "huawei"
    client = await make_rig(huawei).client()
    assert await client.info("AT^CURC=0") == ["OK"]
    other = dataclasses.replace(make_profile(0), vendor_settings=frozenset())
    client = await make_rig(other).client()
    assert await client.info("AT^CURC=0") == ["ERROR"]


async def test_characters_before_the_at_prefix_are_ignored(rig):
    client = await rig.client()  # echo off
    assert await client.info("\x1bAT+CSQ") == [f"+CSQ: {rig.modem.profile.signal},99", "OK"]
