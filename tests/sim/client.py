"""A pyserial client for the simulator, used the way the appliance uses a real modem's tty.

The client runs its blocking pyserial calls in a worker thread (asyncio.to_thread) so the
simulator keeps running on the test's event loop. Timeouts here only guard against hangs.
"""

from __future__ import annotations

import asyncio
import re

import serial

FINAL = re.compile(rb"\r\n(OK|ERROR|\+CM[ES] ERROR: [^\r]*)\r\n")
GUARD = 10.0  # seconds; only to turn a hang into a failure


class Client:
    def __init__(self, path: str):
        self.serial = serial.Serial(path, timeout=0.05)
        self.buffer = bytearray()

    async def write(self, data: bytes) -> None:
        await asyncio.to_thread(self.serial.write, data)

    def _read_available(self) -> bytes:
        first = self.serial.read(1)  # returns at the first byte, or after the short timeout
        return first + self.serial.read(self.serial.in_waiting) if first else b""

    async def _fill(self) -> None:
        self.buffer += await asyncio.to_thread(self._read_available)

    async def read_until(self, pattern: bytes | re.Pattern[bytes]) -> bytes:
        """Everything up to and including the first match (bytes or regex)."""
        regex = pattern if isinstance(pattern, re.Pattern) else re.compile(re.escape(pattern))
        deadline = asyncio.get_running_loop().time() + GUARD
        while (match := regex.search(self.buffer)) is None:
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"no {regex.pattern!r} in {bytes(self.buffer)!r}")
            await self._fill()
        out = bytes(self.buffer[: match.end()])
        del self.buffer[: match.end()]
        return out

    async def command(self, line: str) -> str:
        """Send one command; the raw answer (echo included) up to its final result."""
        await self.write(line.encode() + b"\r")
        return (await self.read_until(FINAL)).decode("latin-1")

    async def info(self, line: str) -> list[str]:
        """The non-empty lines of an answer after the echo, final result included."""
        answer = await self.command(line)
        return [x for x in answer.split("\r\n") if x and not x.startswith("AT")]

    def close(self) -> None:
        self.serial.close()
