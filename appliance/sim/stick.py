"""A multi-port USB stick: several ttys, only one of which carries the AT interpreter.

Knows: that real sticks enumerate 2-4 serial interfaces (diagnostics, NMEA, AT, PPP) and that
the others stay silent or answer binary noise, which is what port probing has to cope with.
Must not know: which port the appliance will pick (that is the point of probing).
"""

from __future__ import annotations

import os
from collections.abc import Callable

from .modem import SimulatedModem
from .pty import SimulatedPort


class SilentDevice:
    """A port that swallows everything (a PPP/modem-data port nobody is dialling)."""

    def __init__(self) -> None:
        self.received = bytearray()
        self._write: Callable[[bytes], None] | None = None

    def attach(self, write: Callable[[bytes], None]) -> None:
        self._write = write

    def detach(self) -> None:
        self._write = None

    def feed(self, data: bytes) -> None:
        self.received += data

    def on_port_opened(self) -> None:
        pass

    def power_on(self) -> None:
        pass


class GarbageDevice(SilentDevice):
    """A diagnostics (QCDM-like) port: every carriage return gets a burst of HDLC-ish bytes."""

    NOISE = b"\x7e\x00\x13\xc5\xff\x01\x80\x7e\x4b\x11\x1a\x00\xe3\x7e"

    def feed(self, data: bytes) -> None:
        super().feed(data)
        if self._write is not None:
            for _ in range(data.count(b"\r")):
                self._write(self.NOISE)


class SimulatedStick:
    """`port_count` ptys; the one at `at_port` runs `modem`, the others are `other` devices.

    `other`: "mixed" (the first non-AT port is a noisy diagnostics port, the rest are silent,
    like a Huawei E3372 in serial mode), "garbage" or "silent" for all of them.
    """

    def __init__(self, modem: SimulatedModem, *, port_count: int = 3, at_port: int = 2,
                 other: str = "mixed", symlink_prefix: str | os.PathLike[str] | None = None):
        if not 0 <= at_port < port_count:
            raise ValueError("at_port must name one of the ports")
        if other not in ("mixed", "garbage", "silent"):
            raise ValueError("other must be mixed, garbage or silent")
        first_other = 0 if at_port != 0 else 1
        self.modem = modem
        self.devices: list[SimulatedModem | SilentDevice] = []
        self.at_port = at_port
        self.ports: list[SimulatedPort] = []
        for number in range(port_count):
            noisy = other == "garbage" or (other == "mixed" and number == first_other)
            device = modem if number == at_port else (
                GarbageDevice() if noisy else SilentDevice())
            link = f"{os.fspath(symlink_prefix)}{number}" if symlink_prefix is not None else None
            self.devices.append(device)
            self.ports.append(SimulatedPort(device, link))

    def start(self) -> SimulatedStick:
        for port in self.ports:
            port.start()
        return self

    @property
    def paths(self) -> list[str]:
        return [port.path for port in self.ports]

    def unplug(self) -> None:
        for port in self.ports:
            port.unplug()

    close = unplug
