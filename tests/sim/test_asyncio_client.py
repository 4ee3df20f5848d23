"""The simulator through pyserial-asyncio-fast, the transport the appliance itself uses."""

import asyncio

import pytest
import serial
import serial_asyncio_fast

GUARD = 10.0


async def test_round_trip_and_unplug_through_serial_asyncio_fast(rig):
    reader, writer = await serial_asyncio_fast.open_serial_connection(url=rig.port.path)
    try:
        writer.write(b"AT+CSQ\r")
        answer = await asyncio.wait_for(reader.readuntil(b"OK\r\n"), GUARD)
        assert answer == f"AT+CSQ\r\r\n+CSQ: {rig.modem.profile.signal},99\r\n\r\nOK\r\n".encode()
        rig.port.unplug()
        # DESIGN: an unplug shows as SerialException on read/drain.
        with pytest.raises(serial.SerialException):
            await asyncio.wait_for(reader.readuntil(b"OK\r\n"), GUARD)
        writer.write(b"AT\r")
        with pytest.raises(serial.SerialException):
            await asyncio.wait_for(writer.drain(), GUARD)
    finally:
        writer.close()
