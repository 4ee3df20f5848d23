"""Fixtures for channel tests: a real pseudo-terminal pair, the channel on its slave side."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from appliance.at import AtChannel, open_channel
from tests.at.fakemodem import FakeModem, Script


class PtyRig:
    """Owns a pty pair, the FakeModem on the master and the AtChannel on the slave."""

    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        self.path = os.ttyname(self.slave)
        self.modem: FakeModem | None = None
        self.channel: AtChannel | None = None

    async def connect(
        self, script: Script, *, modem_kwargs: dict[str, Any] | None = None, **channel_kwargs: Any
    ) -> tuple[AtChannel, FakeModem]:
        self.modem = FakeModem(self.master, script, **(modem_kwargs or {}))
        self.channel = await open_channel(self.path, **channel_kwargs)
        return self.channel, self.modem

    async def close(self) -> None:
        if self.channel is not None:
            await self.channel.close()
            await asyncio.wait_for(self.channel.wait_closed(), 5)
        if self.modem is not None and not self.modem._closed:
            self.modem.unplug()
        elif self.modem is None:
            os.close(self.master)
        os.close(self.slave)


@pytest.fixture
async def rig() -> AsyncIterator[PtyRig]:
    rig = PtyRig()
    try:
        yield rig
    finally:
        await rig.close()


async def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait (bounded, to avoid a hang) until `predicate()` holds."""

    async def poll() -> None:
        while not predicate():
            await asyncio.sleep(0.005)

    await asyncio.wait_for(poll(), timeout)
