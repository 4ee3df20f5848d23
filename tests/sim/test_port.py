"""The pty layer: what a client sees when the stick is unplugged, replugged, or has many ports."""

import asyncio
import os

import pytest
import serial

from appliance.sim import SimulatedStick, make_profile
from appliance.sim.modem import SimulatedModem
from appliance.sim.stick import GarbageDevice
from tests.sim.client import Client


async def test_unplug_makes_the_clients_read_and_write_fail(rig):
    client = await rig.client()
    rig.port.unplug()
    with pytest.raises(serial.SerialException):
        client.serial.write(b"AT\r")
    with pytest.raises(serial.SerialException):
        client.serial.read(1)


async def test_unplug_removes_the_symlink_and_replug_makes_a_new_one(make_rig, tmp_path):
    rig = make_rig()
    link = tmp_path / "modem0"
    rig.port.replug(symlink=link)
    first_path = rig.port.path
    assert os.path.realpath(link) == first_path
    rig.modem.inject_sms("+8613800138000", "survives", stored_before_start=True)
    rig.port.unplug()
    assert not os.path.lexists(link)
    second_path = rig.port.replug()
    assert second_path != first_path and os.path.realpath(link) == second_path
    client = await rig.client()
    assert await client.info("AT+CGSN") == [rig.modem.profile.imei, "OK"]
    assert len(await client.info("AT+CMGL=4")) == 3


async def test_replug_boots_afresh_with_echo_on(rig):
    client = await rig.client()
    rig.port.unplug()
    client.close()
    rig.port.replug()
    fresh = rig.open()
    assert await fresh.command("AT") == "AT\r\r\nOK\r\n"


async def test_the_port_survives_the_client_closing_it(rig):
    for _ in range(3):
        client = rig.open()
        assert (await client.command("AT")).endswith("\r\nOK\r\n")
        client.close()
    assert rig.port.opens == 3


async def test_a_stick_runs_the_modem_on_one_port_only(tmp_path):
    modem = SimulatedModem(make_profile(1))
    stick = SimulatedStick(modem, port_count=3, at_port=2, symlink_prefix=tmp_path / "ttyUSB")
    stick.start()
    clients = [Client(path) for path in stick.paths]
    try:
        assert os.path.realpath(tmp_path / "ttyUSB2") == stick.paths[2]
        await clients[0].write(b"AT\r")
        assert b"OK" not in await clients[0].read_until(GarbageDevice.NOISE)
        assert (await clients[2].command("AT")).endswith("\r\nOK\r\n")
        silent = stick.devices[1]
        await clients[1].write(b"AT\r")
        for _ in range(400):  # guard only: wait until the silent port has read the bytes
            if silent.received == b"AT\r":
                break
            await asyncio.sleep(0.005)
        assert silent.received == b"AT\r"
        assert clients[1].serial.in_waiting == 0
    finally:
        for client in clients:
            client.close()
        stick.unplug()
        modem.close()
