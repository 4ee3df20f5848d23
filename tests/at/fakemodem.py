"""A tiny scripted modem on the master side of a real pseudo-terminal (no mocked serial module).

The channel under test opens the slave side through pyserial-asyncio-fast exactly as it would a
USB modem's tty; this fake reads what the channel writes and answers from a script.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable

Reply = bytes | None
Script = Callable[[str], Reply]

PROMPT = b"\r\n> "


class FakeModem:
    """Answers each "\\r"-terminated command via `script(command)`.

    A reply ending with "> " switches to PDU mode: bytes up to Ctrl-Z go to `on_pdu(pdu)`
    (whose reply is written), ESC abandons the PDU.
    """

    def __init__(
        self,
        master_fd: int,
        script: Script,
        *,
        echo: bool = False,
        on_pdu: Callable[[str], Reply] | None = None,
        echo_pdu: bool = False,
    ) -> None:
        self.fd = master_fd
        self.script = script
        self.echo = echo
        self.on_pdu = on_pdu
        self.echo_pdu = echo_pdu
        self.received = bytearray()  # every byte the channel wrote
        self.commands: list[str] = []
        self.pdus: list[str] = []
        self.escapes = 0
        self._buf = bytearray()
        self._pdu_mode = False
        self._closed = False
        os.set_blocking(master_fd, False)
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(master_fd, self._readable)
        self.got_command = asyncio.Event()

    def write(self, data: bytes) -> None:
        if not self._closed:
            os.write(self.fd, data)

    def unplug(self) -> None:
        """Close the master side: to the channel this is a USB modem pulled out."""
        if not self._closed:
            self._closed = True
            self._loop.remove_reader(self.fd)
            os.close(self.fd)

    def stop(self) -> None:
        if not self._closed:
            self._closed = True
            self._loop.remove_reader(self.fd)

    def _readable(self) -> None:
        try:
            data = os.read(self.fd, 4096)
        except OSError:
            self.stop()
            return
        self.received += data
        self._buf += data
        self._process()

    def _process(self) -> None:
        while self._buf:
            if self._pdu_mode:
                cut = next((i for i, b in enumerate(self._buf) if b in (0x1A, 0x1B)), -1)
                if cut < 0:
                    return
                pdu = self._buf[:cut].decode("latin-1")
                terminator = self._buf[cut]
                del self._buf[: cut + 1]
                self._pdu_mode = False
                if terminator == 0x1B:
                    self.escapes += 1
                    continue
                self.pdus.append(pdu)
                if self.echo_pdu:
                    self.write(b"> " + pdu.encode() + b"\x1a")
                reply = self.on_pdu(pdu) if self.on_pdu else b"\r\nOK\r\n"
                if reply:
                    self.write(reply)
                continue
            if self._buf[0] == 0x1B:  # ESC outside PDU mode: nothing to abandon
                self.escapes += 1
                del self._buf[0]
                continue
            cut = self._buf.find(b"\r")
            if cut < 0:
                return
            command = self._buf[:cut].decode("latin-1")
            del self._buf[: cut + 1]
            self.commands.append(command)
            self.got_command.set()
            if self.echo:
                self.write(command.encode() + b"\r")
            reply = self.script(command)
            if reply:
                self.write(reply)
                if reply.endswith(b"> "):
                    self._pdu_mode = True


def table(responses: dict[str, bytes], default: Reply = b"\r\nOK\r\n") -> Script:
    """A script answering from a transcript table (python-gsmmodem fakemodems.py style)."""
    return lambda command: responses.get(command, default)
