"""Resets, hangs and URC floods, as the AT port shows them."""

import dataclasses

from appliance.sim import make_profile


def _boot_tail(modem, cpin="READY") -> bytes:
    return "".join(f"\r\n{line}\r\n" for line in (*modem.profile.boot_urcs, f"+CPIN: {cpin}"))\
        .encode()


async def test_cfun_reset_answers_ok_reboots_and_restores_defaults(rig):
    client = await rig.client()
    await client.command("AT+CMEE=1")
    await client.command("AT+CNMI=2,1,0,0,0")
    await client.write(b"AT+CFUN=1,1\r")
    assert await client.read_until(b"\r\nOK\r\n") == b"\r\nOK\r\n"
    assert await client.read_until(b"+CPIN: READY\r\n") == _boot_tail(rig.modem)
    assert await client.command("AT") == "AT\r\r\nOK\r\n"  # echo is back on
    assert (await client.info("AT+CNMI?"))[0] == "+CNMI: 0,0,0,0,0"
    assert (await client.info("AT+CMEE?"))[0] == "+CMEE: 0"
    assert rig.modem.resets == 1


async def test_reset_asks_for_the_pin_again(make_rig):
    rig = make_rig(dataclasses.replace(make_profile(0), pin="1234"), reboot_time=0.01)
    client = await rig.client()
    assert await client.info('AT+CPIN="1234"') == ["OK"]
    await client.write(b"AT+CFUN=1,1\r")
    await client.read_until(_boot_tail(rig.modem, "SIM PIN"))
    assert await client.info("ATE0") == ["OK"]
    assert await client.info("AT+CPIN?") == ["+CPIN: SIM PIN", "OK"]


async def test_stored_messages_survive_a_reset(rig):
    rig.modem.inject_sms("+8613800138000", "keep me", stored_before_start=True)
    client = await rig.client()
    await client.write(b"AT+CFUN=1,1\r")
    await client.read_until(b"+CPIN: READY\r\n")
    await client.command("ATE0")
    assert len(await client.info("AT+CMGL=4")) == 3


async def test_a_hung_modem_is_silent_but_hears_the_reset(rig):
    client = await rig.client()
    rig.modem.hang(clear_on="reset")
    await client.write(b"AT\r")
    await client.write(b"AT+CFUN=1,1\r")
    # No echo and no OK for the first AT: the first answer is the reset's own OK.
    assert await client.read_until(b"+CPIN: READY\r\n") == b"\r\nOK\r\n" + _boot_tail(rig.modem)
    assert not rig.modem.hung
    assert await client.command("AT") == "AT\r\r\nOK\r\n"


async def test_a_hang_of_some_commands_leaves_the_others_answering(rig):
    client = await rig.client()
    rig.modem.hang(clear_on="never", commands={"+CMGL"})
    await client.write(b"AT+CMGL=4\r")
    assert await client.command("AT+CSQ") == f"\r\n+CSQ: {rig.modem.profile.signal},99\r\n" \
        "\r\nOK\r\n"
    await client.write(b"AT+CFUN=1,1\r")
    await client.read_until(b"+CPIN: READY\r\n")
    assert rig.modem.hung  # "never" outlives a reset
    rig.modem.clear_hang()
    assert (await client.info("AT+CMGL=4"))[-1] == "OK"


async def test_a_reopen_hang_clears_when_the_port_is_opened_again(rig):
    client = await rig.client()
    rig.modem.hang(clear_on="reopen")
    await client.write(b"AT\r")
    client.close()
    again = rig.open()
    assert await again.command("AT") == "\r\nOK\r\n"  # echo still off: no reset happened
    assert rig.port.opens == 2


async def test_flooded_urcs_all_arrive_and_commands_still_work(rig):
    client = await rig.client()
    rig.modem.flood_urcs(500)
    answer = await client.command("AT")
    assert answer.count("^RSSI:17") == 500 and answer.endswith("\r\nOK\r\n")
