"""A simulated device on a real pseudo-terminal, so clients open it like /dev/ttyUSB2.

Knows: Linux ptys (openpty, raw mode, packet mode), non-blocking reads and writes on the
master with the event loop, symlinks, and what unplugging looks like to the client (its fd on
the slave hangs up: read → EOF / SerialException, write → EIO).
Must not know: AT commands (it moves bytes to and from a `Device`, normally a SimulatedModem).

Reopen detection: the slave carries EXTPROC and the master is in packet mode (TIOCPKT), so
every tcsetattr() on the slave reaches us as a TIOCPKT_IOCTL status byte. pyserial always sets
the termios when it opens a port, so "opened" is seen; a close is not visible (we keep our own
slave fd open so the pty outlives the client), and a client changing baud rate mid-session
also counts as an open. Good enough for `hang(clear_on="reopen")`.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import termios
import tty
from collections.abc import Callable
from typing import Protocol

EXTPROC = 0o200000  # <asm-generic/termbits.h>; Python's termios does not export it
TIOCPKT_IOCTL = 0x40
MAX_PENDING_OUTPUT = 1 << 20  # bytes held while the client does not read; beyond, oldest go


class Device(Protocol):
    """What sits behind a port: bytes in through feed(), bytes out through the attached write."""

    def attach(self, write: Callable[[bytes], None]) -> None: ...
    def detach(self) -> None: ...
    def feed(self, data: bytes) -> None: ...
    def on_port_opened(self) -> None: ...
    def power_on(self) -> None: ...


class SimulatedPort:
    """One pty carrying one device. `path` is the slave tty name; `symlink` an optional alias."""

    def __init__(self, device: Device, symlink: str | os.PathLike[str] | None = None):
        self.device = device
        self.symlink = os.fspath(symlink) if symlink is not None else None
        self.path = ""
        self.opens = 0  # client opens seen (see module doc)
        self._master = -1
        self._slave = -1
        self._pending = bytearray()
        self._writer_armed = False
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def plugged(self) -> bool:
        return self._master >= 0

    def start(self) -> SimulatedPort:
        """Create the pty, wire the device, make the symlink. Needs a running event loop."""
        self._loop = asyncio.get_running_loop()
        master, slave = os.openpty()
        if os.ttyname(slave) == self.path:
            # Linux hands out the lowest free pts number, i.e. the one just closed; a replugged
            # device must show under a new name (the stale path is the point of the test).
            spare = master, slave
            master, slave = os.openpty()
            for fd in spare:
                os.close(fd)
        tty.setraw(slave)  # a USB modem's tty: no line editing, no CR/LF translation
        attrs = termios.tcgetattr(slave)
        attrs[3] |= EXTPROC  # so the client's tcsetattr (= its open) shows up on the master
        termios.tcsetattr(slave, termios.TCSANOW, attrs)
        fcntl.ioctl(master, termios.TIOCPKT, (1).to_bytes(4, "little"))
        os.set_blocking(master, False)
        self._master, self._slave = master, slave
        self.path = os.ttyname(slave)
        self._loop.add_reader(master, self._on_readable)
        if self.symlink:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.symlink)
            os.symlink(self.path, self.symlink)
        self.device.attach(self.write)
        return self

    def write(self, data: bytes) -> None:
        """Device output towards the client; queued (bounded) when the pty buffer is full."""
        if self._master < 0:
            return
        self._pending += data
        if len(self._pending) > MAX_PENDING_OUTPUT:
            # A real modem's UART buffer overflows too; keep the newest bytes.
            del self._pending[: len(self._pending) - MAX_PENDING_OUTPUT]
        self._flush()

    def _flush(self) -> None:
        while self._pending:
            try:
                written = os.write(self._master, self._pending)
            except BlockingIOError:
                break
            except OSError:
                self._pending.clear()  # nobody can read it any more
                return
            del self._pending[:written]
        if self._pending and not self._writer_armed and self._loop is not None:
            self._loop.add_writer(self._master, self._flush)
            self._writer_armed = True
        elif not self._pending and self._writer_armed and self._loop is not None:
            self._loop.remove_writer(self._master)
            self._writer_armed = False

    def _on_readable(self) -> None:
        try:
            packet = os.read(self._master, 65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            return  # EIO while no slave is open; we keep ours, so this is rare
        if not packet:
            return
        if packet[0] == 0:  # packet mode: a zero status byte, then data
            if len(packet) > 1:
                self.device.feed(packet[1:])
        elif packet[0] & TIOCPKT_IOCTL:
            self.opens += 1
            self.device.on_port_opened()

    def unplug(self) -> None:
        """The USB device vanishes: symlink gone, pty closed; the client's fd hangs up."""
        self.device.detach()
        if self.symlink:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.symlink)
        if self._master >= 0 and self._loop is not None:
            self._loop.remove_reader(self._master)
            if self._writer_armed:
                self._loop.remove_writer(self._master)
                self._writer_armed = False
        for fd in (self._master, self._slave):
            if fd >= 0:
                os.close(fd)
        self._master = self._slave = -1
        self._pending.clear()

    close = unplug

    def replug(self, symlink: str | os.PathLike[str] | None = None) -> str:
        """Plug the same device in again: a new pty (new tty name); returns the new path."""
        if self.plugged:
            self.unplug()
        if symlink is not None:
            self.symlink = os.fspath(symlink)
        self.start()
        self.device.power_on()  # a replugged stick boots afresh: echo on, PIN asked again
        return self.path
