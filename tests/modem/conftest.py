"""Simulated modems on real pseudo-terminals, opened through the real AT channel and driver."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from appliance.at import TrafficLog
from appliance.modem.contract import Inbound
from appliance.modem.driver import Modem
from appliance.modem.profile import ModemProfile, load_profiles
from appliance.sim import SimulatedModem, SimulatedPort, make_profile

# Generous bounds against hangs only; nothing asserts on timing.
WAIT = 10.0


@dataclass
class Rig:
    sim: SimulatedModem
    port: SimulatedPort
    modem: Modem
    inbox: list[Inbound] = field(default_factory=list)
    fail_handler: bool = False

    async def handler(self, item: Inbound) -> None:
        if self.fail_handler:
            raise RuntimeError("database down")
        self.inbox.append(item)

    async def wait_inbox(self, count: int) -> None:
        async with asyncio.timeout(WAIT):
            while len(self.inbox) < count:
                await asyncio.sleep(0.01)


@pytest.fixture(scope="session")
def profiles() -> list[ModemProfile]:
    return load_profiles()


@pytest.fixture
def generic(profiles: list[ModemProfile]) -> ModemProfile:
    return next(p for p in profiles if p.is_generic)


RigFactory = Callable[..., contextlib.AbstractAsyncContextManager[Rig]]


@pytest.fixture
def make_rig(tmp_path: Path, generic: ModemProfile) -> RigFactory:
    @contextlib.asynccontextmanager
    async def factory(index: int = 0, *, pin: str = "", profile: ModemProfile | None = None,
                      send_timeout: float = 10.0, command_timeout: float = 3.0,
                      tweak: Callable[[object], None] | None = None,
                      initialize: bool = True,
                      traffic: TrafficLog | None = None) -> AsyncIterator[Rig]:
        sim_profile = make_profile(index, "modem-tests")
        if tweak is not None:
            tweak(sim_profile)
        sim = SimulatedModem(sim_profile)
        port = SimulatedPort(sim, tmp_path / f"modem{index}").start()
        rig: Rig | None = None
        try:
            async def handler(item: Inbound) -> None:
                assert rig is not None
                await rig.handler(item)

            modem = await Modem.open(port.path, profile or generic, pin=pin,
                                     on_inbound=handler, send_timeout=send_timeout,
                                     command_timeout=command_timeout, traffic=traffic)
            rig = Rig(sim, port, modem)
            if initialize:
                async with asyncio.timeout(WAIT * 3):
                    await modem.initialize()
            yield rig
        finally:
            if rig is not None:
                await rig.modem.close()
            port.unplug()
            sim.close()

    return factory
