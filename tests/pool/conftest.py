"""The real ModemPool on simulated modems: pty symlinks in a temporary folder, watched as static
ports, with short poll intervals and timeouts so hangs are found in a fraction of a second.

Nothing here asserts on timing; WAIT only bounds a test that would otherwise hang.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from appliance.config import ModemsConfig
from appliance.modem.profile import ModemProfile, load_profiles
from appliance.pool.events import PoolEvent, RegistrationChanged, SimAttached, SimLost
from appliance.pool.pool import ModemPool
from appliance.pool.supervisor import ModemSupervisor, PoolState, SupervisorSettings
from appliance.sim import SimProfile, SimulatedModem, SimulatedPort, make_profile

WAIT = 20.0
SEED = "pool-tests"


def fast_settings(**overrides: object) -> SupervisorSettings:
    """Polls every 0.1 s, commands time out after 0.5 s, backoff from 0.1 s."""
    values: dict[str, object] = dict(
        poll_interval=0.1, command_timeout=0.5, send_timeout=5.0, hang_timeout=3.0,
        reset_wait=5.0, backoff_first=0.1, backoff_cap=0.5, traffic_lines=200)
    values.update(overrides)
    return SupervisorSettings(**values)  # type: ignore[arg-type]


async def wait_until(condition: Callable[[], object], what: str, timeout: float = WAIT) -> None:
    """Poll `condition` on the loop until it holds; fail naming `what` if it never does."""
    try:
        async with asyncio.timeout(timeout):
            while not condition():
                await asyncio.sleep(0.01)
    except TimeoutError:
        pytest.fail(f"timed out waiting for {what}")


@dataclass
class Listener:
    """A PoolListener recording what the dispatcher would be told."""

    events: list[tuple[str, str, str]] = field(default_factory=list)
    registrations: list[tuple[str, str]] = field(default_factory=list)

    def pool_event(self, event: PoolEvent) -> None:
        if isinstance(event, SimAttached):
            self.events.append(("ready", event.port, ""))
        elif isinstance(event, SimLost):
            self.events.append(("lost", event.port, event.reason))
        elif isinstance(event, RegistrationChanged):
            self.registrations.append((event.port, event.registration))


@dataclass
class PoolRig:
    folder: Path
    pool: ModemPool
    listener: Listener
    sims: list[SimulatedModem] = field(default_factory=list)
    ports: list[SimulatedPort] = field(default_factory=list)

    def plug(self, index: int = 0, *, name: str | None = None,
             tweak: Callable[[SimProfile], None] | None = None, **modem_args: object
             ) -> tuple[SimulatedModem, SimulatedPort]:
        """A new simulated modem whose pty appears as folder/<name> (default modem<index>)."""
        profile = make_profile(index, SEED)
        if tweak is not None:
            tweak(profile)
        modem_args.setdefault("reboot_time", 0.05)
        sim = SimulatedModem(profile, **modem_args)  # type: ignore[arg-type]
        port = SimulatedPort(sim, self.folder / (name or f"modem{index}")).start()
        self.sims.append(sim)
        self.ports.append(port)
        return sim, port

    def supervisor(self, name: str) -> ModemSupervisor | None:
        return self.pool.supervisors.get(str(self.folder / name))

    async def wait_state(self, name: str, state: PoolState) -> ModemSupervisor:
        await wait_until(
            lambda: (s := self.supervisor(name)) is not None and s.status.state is state,
            f"{name} to be {state}")
        sup = self.supervisor(name)
        assert sup is not None
        return sup


@pytest.fixture(scope="session")
def profiles() -> list[ModemProfile]:
    return load_profiles()


PoolRigFactory = Callable[..., contextlib.AbstractAsyncContextManager[PoolRig]]


@pytest.fixture
def make_pool(tmp_path: Path, profiles: list[ModemProfile]) -> PoolRigFactory:
    @contextlib.asynccontextmanager
    async def factory(*, settings: SupervisorSettings | None = None,
                      pattern: str = "modem*", autodetect: bool = False,
                      rescan: float = 0.05) -> AsyncIterator[PoolRig]:
        config = ModemsConfig(autodetect=autodetect, ports=[str(tmp_path / pattern)],
                              poll_interval=0.1, command_timeout=0.5)
        pool = ModemPool(config, profiles, settings=settings or fast_settings())
        pool.static.interval = rescan  # notice plugs within a tick, not half a second
        rig = PoolRig(tmp_path, pool, Listener())
        pool.listeners.append(rig.listener)
        try:
            yield rig
        finally:
            await pool.stop()
            for port in rig.ports:
                port.unplug()
            for sim in rig.sims:
                sim.close()

    return factory
