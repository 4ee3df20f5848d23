"""Fixtures: a simulated modem on a pty, and pyserial clients opened on it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest

from appliance.sim import SimProfile, SimulatedModem, SimulatedPort, make_profile
from tests.sim.client import Client


@dataclass
class Rig:
    modem: SimulatedModem
    port: SimulatedPort
    clients: list[Client] = field(default_factory=list)

    def open(self) -> Client:
        client = Client(self.port.path)
        self.clients.append(client)
        return client

    async def client(self, *, echo: bool = False) -> Client:
        client = self.open()
        if not echo:
            assert (await client.info("ATE0"))[-1] == "OK"
        return client


@pytest.fixture
async def make_rig() -> AsyncIterator[Callable[..., Rig]]:
    rigs: list[Rig] = []

    def make(profile: SimProfile | None = None, **kwargs: object) -> Rig:
        modem = SimulatedModem(profile or make_profile(0), **kwargs)  # type: ignore[arg-type]
        rig = Rig(modem, SimulatedPort(modem).start())
        rigs.append(rig)
        return rig

    yield make
    for rig in rigs:
        for client in rig.clients:
            client.close()
        rig.port.unplug()
        rig.modem.close()


@pytest.fixture
async def rig(make_rig: Callable[..., Rig]) -> Rig:
    return make_rig(reboot_time=0.05)
